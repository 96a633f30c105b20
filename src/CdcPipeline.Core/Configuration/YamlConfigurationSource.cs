using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Core.Configuration;

/// <summary>The pipeline's YAML file as a configuration source (so environment variables can override it).</summary>
public sealed class YamlConfigurationSource : IConfigurationSource
{
    public YamlConfigurationSource(string path, ConfigurationLocations locations, Func<string, string?>? environment = null)
    {
        Path = path;
        Locations = locations;
        Environment = environment ?? System.Environment.GetEnvironmentVariable;
    }

    public string Path { get; }

    public ConfigurationLocations Locations { get; }

    public Func<string, string?> Environment { get; }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new YamlConfigurationProvider(this);
}
