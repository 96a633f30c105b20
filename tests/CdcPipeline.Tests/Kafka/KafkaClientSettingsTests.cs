using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;

namespace CdcPipeline.Tests.Kafka;

/// <summary>A librdkafka setting under <c>consumer:</c> / <c>producer:</c> that librdkafka refuses stops start-up at its line.</summary>
public sealed class KafkaClientSettingsTests : IDisposable
{
    private readonly PipelineYaml _yaml = new();

    [Theory]
    [InlineData("lingr.ms: '20'", "pipeline.yaml:10: sinks.0.kafka.producer.lingr.ms", "No such configuration property")]
    [InlineData("message.max.bytes: 'huge'", "pipeline.yaml:10: sinks.0.kafka.producer.message.max.bytes", "Invalid value")]
    public void A_producer_setting_librdkafka_refuses_names_its_file_line_and_key(string setting, string where, string reason)
    {
        var context = _yaml.Context($$"""
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
            """, "domain", "sinks:0:kafka");

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSinkFactory().Create(context));

        Assert.True(error.Message.Contains(where + ":", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(reason, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void A_consumer_setting_librdkafka_does_not_know_names_its_file_line_and_key()
    {
        var context = _yaml.Context("""
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
            """, "kafka", "source:kafka");

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSourceFactory().Create(context));

        Assert.Contains("pipeline.yaml:7: source.kafka.consumer.sesion.timeout.ms:", error.Message, StringComparison.Ordinal);
        Assert.Contains("No such configuration property", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _yaml.Dispose();
}
