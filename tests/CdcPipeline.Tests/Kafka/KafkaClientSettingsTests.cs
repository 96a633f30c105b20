using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>A librdkafka setting under <c>consumer:</c> / <c>producer:</c> that librdkafka refuses stops start-up at its line.</summary>
public sealed class KafkaClientSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-client-settings-").FullName;

    [Theory]
    [InlineData("lingr.ms: '20'", "pipeline.yaml:10: sinks.0.kafka.producer.lingr.ms", "No such configuration property")]
    [InlineData("message.max.bytes: 'huge'", "pipeline.yaml:10: sinks.0.kafka.producer.message.max.bytes", "Invalid value")]
    public void A_producer_setting_librdkafka_refuses_names_its_file_line_and_key(string setting, string where, string reason)
    {
        var configuration = Load($$"""
            name: t
            source:
              test: {}
            sinks:
              - name: domain
                kafka:
                  bootstrapServers: "127.0.0.1:9"
                  topic: "domain.{type}"
                  producer:
                    {{setting}}
            """);
        using var services = new ServiceCollection().AddCdcCore().AddCdcKafka().BuildServiceProvider();
        var context = new PipelineComponentContext("domain", configuration.Root.GetSection("sinks:0:kafka"), configuration.Options, configuration.Locations, configuration.BaseDirectory, services);

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSinkFactory().Create(context));

        Assert.True(error.Message.Contains(where + ":", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(reason, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void A_consumer_setting_librdkafka_does_not_know_names_its_file_line_and_key()
    {
        var configuration = Load("""
            name: t
            source:
              kafka:
                bootstrapServers: "127.0.0.1:9"
                topics: [legacy.public.orders]
                consumer:
                  sesion.timeout.ms: '45000'
            sinks:
              - name: out
                file: { path: out.jsonl }
            """);
        using var services = new ServiceCollection().AddCdcCore().AddCdcKafka().BuildServiceProvider();
        var context = new PipelineComponentContext("kafka", configuration.Root.GetSection("source:kafka"), configuration.Options, configuration.Locations, configuration.BaseDirectory, services);

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSourceFactory().Create(context));

        Assert.Contains("pipeline.yaml:7: source.kafka.consumer.sesion.timeout.ms:", error.Message, StringComparison.Ordinal);
        Assert.Contains("No such configuration property", error.Message, StringComparison.Ordinal);
    }

    private PipelineConfiguration Load(string yaml)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, yaml);
        return PipelineConfiguration.Load(path, _ => null);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
