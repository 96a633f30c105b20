using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace CdcPipeline.Tests.Hosting;

/// <summary>Sets real OTEL_ variables, which every host built meanwhile in this process would see: runs alone.</summary>
[CollectionDefinition(nameof(RunHostResourceTests), DisableParallelization = true)]
public sealed class RunHostResourceCollection;

/// <summary>
/// The metrics <c>run</c> exports name their service as an OpenTelemetry user expects: <c>cdcpipeline</c>, the pipeline's name
/// as its instance (Prometheus' target_info, an OTLP collector's resource), not the SDK's <c>unknown_service:…</c>; and, as
/// in any OpenTelemetry program, the operator's OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over those defaults.
/// </summary>
[Collection(nameof(RunHostResourceTests))]
public sealed class RunHostResourceTests : IDisposable
{
    private const string Prometheus = "observability:\n  port: 9464\n";

    // Port 9 (discard) on loopback refuses at once: the exporter's last push as the host is disposed fails fast.
    private const string Otlp = "observability:\n  otlp:\n    endpoint: http://127.0.0.1:9\n    interval: '01:00:00'\n";

    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-runresource-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(Prometheus)]
    [InlineData(Otlp)]
    public void Run_host_metrics_name_the_service_cdcpipeline_and_the_pipeline_as_its_instance(string observability)
    {
        using var environment = new EnvironmentScope(("OTEL_SERVICE_NAME", null), ("OTEL_RESOURCE_ATTRIBUTES", null));

        var attributes = ResourceOfRunHost(observability);

        Assert.Equal("cdcpipeline", attributes["service.name"]);
        Assert.Equal("orders-to-webhook", attributes["service.instance.id"]);
        Assert.False(attributes.ContainsKey("deployment.environment"));
    }

    [Theory]
    [InlineData(Prometheus)]
    [InlineData(Otlp)]
    public void OTEL_RESOURCE_ATTRIBUTES_names_the_service_and_instance_over_the_defaults_and_adds_its_other_attributes(string observability)
    {
        using var environment = new EnvironmentScope(
            ("OTEL_SERVICE_NAME", null),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=orders-cdc,deployment.environment=prod,service.instance.id=orders-cdc-eu1"));

        var attributes = ResourceOfRunHost(observability);

        Assert.Equal("orders-cdc", attributes["service.name"]);
        Assert.Equal("orders-cdc-eu1", attributes["service.instance.id"]);
        Assert.Equal("prod", attributes["deployment.environment"]);
    }

    [Theory]
    [InlineData(Prometheus)]
    [InlineData(Otlp)]
    public void OTEL_SERVICE_NAME_names_the_service_over_OTEL_RESOURCE_ATTRIBUTES_and_the_pipeline_stays_its_instance(string observability)
    {
        // As the specification has it: OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES.
        using var environment = new EnvironmentScope(
            ("OTEL_SERVICE_NAME", "orders-cdc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,deployment.environment=prod"));

        var attributes = ResourceOfRunHost(observability);

        Assert.Equal("orders-cdc", attributes["service.name"]);
        Assert.Equal("orders-to-webhook", attributes["service.instance.id"]);
        Assert.Equal("prod", attributes["deployment.environment"]);
    }

    /// <summary>The resource of the metrics of the host <c>run</c> builds: the one /metrics' target_info and OTLP pushes carry.</summary>
    private Dictionary<string, object> ResourceOfRunHost(string observability)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: orders-to-webhook
            source:
              test: {}
            sinks:
              - name: screen
                console: {}

            """ + observability);
        using var host = RunCommand.CreateHostBuilder(PipelineConfiguration.Load(path), new RunCommand.LogSettings(Json: true, LogLevel.Information)).Build();
        return host.Services.GetRequiredService<MeterProvider>().GetResource().Attributes.ToDictionary(a => a.Key, a => a.Value);
    }

    /// <summary>Sets environment variables (null: unset) and restores what they were.</summary>
    private sealed class EnvironmentScope : IDisposable
    {
        private readonly (string Name, string? Value)[] _previous;

        public EnvironmentScope(params (string Name, string? Value)[] variables)
        {
            _previous = [.. variables.Select(v => (v.Name, Environment.GetEnvironmentVariable(v.Name)))];
            foreach (var (name, value) in variables)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }

        public void Dispose()
        {
            foreach (var (name, value) in _previous)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }
}
