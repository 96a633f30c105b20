using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace CdcPipeline.Tests.Hosting;

/// <summary>
/// The metrics <c>run</c> exports name their service as an OpenTelemetry user expects: <c>cdcpipeline</c>, the pipeline's name
/// as its instance (Prometheus' target_info, an OTLP collector's resource), not the SDK's <c>unknown_service:…</c>.
/// </summary>
public sealed class RunHostResourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-runresource-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Run_host_metrics_name_the_service_cdcpipeline_and_the_pipeline_as_its_instance()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: orders-to-webhook
            source:
              test: {}
            sinks:
              - name: screen
                console: {}
            observability:
              port: 9464
            """);
        using var host = RunCommand.CreateHostBuilder(PipelineConfiguration.Load(path), new RunCommand.LogSettings(Json: true, LogLevel.Information)).Build();

        var attributes = host.Services.GetRequiredService<MeterProvider>().GetResource().Attributes.ToDictionary(a => a.Key, a => a.Value);

        Assert.Equal("cdcpipeline", attributes["service.name"]);
        Assert.Equal("orders-to-webhook", attributes["service.instance.id"]);
    }
}
