using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using Microsoft.Extensions.DependencyInjection;

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

    [Theory]
    [InlineData("source:kafka", "pipeline.yaml:4: source.kafka.bootstrapServers:", "consumer")]
    [InlineData("sinks:0:kafka", "pipeline.yaml:9: sinks.0.kafka.bootstrapServers:", "producer")]
    public void Bootstrap_servers_with_credentials_stop_start_up_without_repeating_them(string section, string where, string settings)
    {
        // librdkafka takes no user:password@ in bootstrap.servers: it looks the whole text up as a host name and prints it,
        // password and all, in each connection error it reports (logged every 30 s for as long as the pipeline runs).
        var context = _yaml.Context("""
            name: t
            source:
              kafka:
                bootstrapServers: "127.0.0.1:9,SASL_SSL://alice:S3cret-pw@broker:9092"
                topics: [legacy.public.orders]
            sinks:
              - name: domain
                kafka:
                  bootstrapServers: "SASL_SSL://alice:S3cret-pw@broker:9092"
                  topic: "domain.{type}"
            """, section == "source:kafka" ? "kafka" : "domain", section);

        var error = Assert.Throws<ConfigurationException>(() =>
            section == "source:kafka" ? new KafkaSourceFactory().Create(context) : new KafkaSinkFactory().Create(context));

        Assert.True(error.Message.Contains(where, StringComparison.Ordinal), error.Message);
        Assert.Contains($"sasl.username and sasl.password under {settings}:", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_dead_letter_queue_refuses_bootstrap_servers_with_credentials_before_it_connects()
    {
        // The pipeline's dead-letter queue is built first, from the source's cluster: its producer would start connecting
        // (and reporting the unresolvable "alice:S3cret-pw@broker") before the source's own check stops start-up.
        var path = _yaml.Write("""
            name: t
            deadLetter: { topic: cdc.dead-letters }
            source:
              kafka:
                bootstrapServers: "alice:S3cret-pw@broker:9092"
                topics: [legacy.public.orders]
            sinks:
              - name: out
                file: { path: out.jsonl }
            """);

        var error = Assert.Throws<ConfigurationException>(() =>
            new KafkaDeadLetterQueueFactory().Create(PipelineConfiguration.Load(path, _ => null), new ServiceCollection().BuildServiceProvider()));

        Assert.True(error.Message.Contains("pipeline.yaml:5: source.kafka.bootstrapServers: broker 1 of 1 holds credentials", StringComparison.Ordinal), error.Message);
        Assert.DoesNotContain("S3cret", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _yaml.Dispose();
}
