using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace CdcPipeline.Tests.Commands;

/// <summary>How <c>observability.otlp</c> sets the OTLP exporter: the endpoint is a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is.</summary>
public sealed class RunCommandOtlpTests
{
    [Theory]
    [InlineData(null, "http://collector:4318", OtlpExportProtocol.HttpProtobuf, "http://collector:4318/v1/metrics")]
    [InlineData(null, "http://collector:4318/", OtlpExportProtocol.HttpProtobuf, "http://collector:4318/v1/metrics")]
    [InlineData("http/protobuf", "https://gateway/otlp", OtlpExportProtocol.HttpProtobuf, "https://gateway/otlp/v1/metrics")]
    [InlineData("http/protobuf", "http://collector:4318/v1/metrics", OtlpExportProtocol.HttpProtobuf, "http://collector:4318/v1/metrics")]
    [InlineData("grpc", "http://collector:4317", OtlpExportProtocol.Grpc, "http://collector:4317/")]
    public void Endpoint_and_protocol_are_set_as_the_collector_expects(string? protocol, string endpoint, OtlpExportProtocol expectedProtocol, string expectedEndpoint)
    {
        var exporter = new OtlpExporterOptions();
        var reader = new MetricReaderOptions();
        RunCommand.ConfigureOtlp(new OtlpOptions { Protocol = protocol, Endpoint = endpoint, Interval = TimeSpan.FromSeconds(10) }, exporter, reader);

        Assert.Equal(expectedProtocol, exporter.Protocol);
        Assert.Equal(new Uri(expectedEndpoint), exporter.Endpoint);
        Assert.Equal(10_000, reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds);
    }
}
