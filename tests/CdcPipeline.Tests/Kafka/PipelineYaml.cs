using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>A <c>pipeline.yaml</c> in a directory of its own, and the context a factory gets for one of its sections.</summary>
internal sealed class PipelineYaml : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-pipeline-yaml-").FullName;
    private readonly ServiceProvider _services = new ServiceCollection().AddCdcCore().AddCdcKafka().BuildServiceProvider();

    /// <summary>Writes <paramref name="yaml"/> as <c>pipeline.yaml</c> and gives the context of <paramref name="section"/> (e.g. <c>sinks:0:kafka</c>).</summary>
    public PipelineComponentContext Context(string yaml, string name, string section)
    {
        var configuration = PipelineConfiguration.Load(Write(yaml), _ => null);
        return new PipelineComponentContext(name, configuration.Root.GetSection(section), configuration.Options, configuration.Locations, configuration.BaseDirectory, _services);
    }

    /// <summary>Writes <paramref name="yaml"/> as <c>pipeline.yaml</c>; its path.</summary>
    public string Write(string yaml)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    public void Dispose()
    {
        _services.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
