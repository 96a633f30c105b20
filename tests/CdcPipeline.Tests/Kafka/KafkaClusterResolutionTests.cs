using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Postgres.Configuration;
using CdcPipeline.Sinks.Batch;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>
/// One rule for which cluster a Kafka client talks to: <c>bootstrap.servers</c> (or its alias <c>metadata.broker.list</c>)
/// under <c>consumer:</c> / <c>producer:</c> wins over <c>bootstrapServers</c>, as every setting there does. The source's
/// consumer, its dead letters, and exactly-once's pairing of source and sink all follow it.
/// </summary>
public sealed class KafkaClusterResolutionTests : IDisposable
{
    private readonly PipelineYaml _yaml = new();

    private sealed class NoRules : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => Translators.Create(rulesDirectory, pipeline.Name);
    }

    private static ServiceProvider Services() => new ServiceCollection()
        .AddCdcCore()
        .AddCdcKafka()
        .AddSingleton<ITranslatorProvider, NoRules>()
        .BuildServiceProvider();

    [Fact]
    public void A_dead_letter_topic_without_a_cluster_is_refused_before_any_sink_is_built()
    {
        // A batch sink takes (and creates) its spool as it is built: a refused start must not have done that.
        var path = _yaml.Write("""
            name: t
            deadLetter: { topic: cdc.dead-letters }
            source:
              postgres: { connectionString: "Host=127.0.0.1;Port=1;Database=legacy", publication: cdc_pub, slot: cdc_slot }
            sinks:
              - name: files
                batch: { spool: out/spool, target: { directory: out/outgoing } }
            """);
        using var services = new ServiceCollection().AddCdcCore().AddCdcKafka().AddCdcPostgres().AddCdcBatch().AddSingleton<ITranslatorProvider, NoRules>().BuildServiceProvider();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Contains("deadLetter.topic: a dead-letter topic needs a Kafka cluster", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Path.GetDirectoryName(path)!, "out")), "the batch sink's spool was created for a refused start");
    }

    [Theory]
    [InlineData("bootstrap.servers")]
    [InlineData("metadata.broker.list")]
    public void Dead_letters_go_to_the_cluster_the_source_consumer_reads(string key)
    {
        var path = _yaml.Write($$"""
            name: t
            deadLetter: { topic: cdc.dead-letters }
            source:
              kafka:
                bootstrapServers: "written:9092"
                topics: [legacy.public.orders]
                consumer:
                  {{key}}: "read:9092"
                  security.protocol: PLAINTEXT
            sinks:
              - name: out
                file: { path: out.jsonl }
            """);
        var configuration = PipelineConfiguration.Load(path, _ => null);
        var consumer = KafkaSourceFactory.BuildConsumerConfig(
            ConfigBinding.Bind<KafkaSourceOptions>(configuration.Root.GetSection("source:kafka"), configuration.Locations), "t");

        var deadLetters = KafkaDeadLetterQueueFactory.ClusterFor(configuration.Root)!;

        Assert.Equal("read:9092", consumer.BootstrapServers);
        Assert.Equal(consumer.BootstrapServers, deadLetters.BootstrapServers);
    }

    [Theory]
    [InlineData("bootstrapServers: \"a:9092\"\n    consumer: { bootstrap.servers: \"b:9092\" }", "bootstrapServers: \"b:9092\"")]
    [InlineData("bootstrapServers: \"a:9092\"\n    consumer: { metadata.broker.list: \"b:9092\" }", "bootstrapServers: \"b:9092\"")]
    [InlineData("bootstrapServers: \"b:9092\"", "bootstrapServers: \"a:9092\"\n      producer: { bootstrap.servers: \"b:9092\" }")]
    [InlineData("bootstrapServers: \"b:9092\"", "bootstrapServers: \"a:9092\"\n      producer: { metadata.broker.list: \"b:9092\" }")]
    public async Task An_exactly_once_source_and_a_sink_on_its_cluster_pair_whichever_setting_names_the_servers(string source, string sink)
    {
        using var services = Services();
        var path = _yaml.Write($$"""
            name: t
            source:
              kafka:
                {{source}}
                topics: [legacy.public.orders]
                exactlyOnce: true
            sinks:
              - name: domain
                kafka:
                  {{sink}}
                  topic: "domain.{type}"
            """);

        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);

        Assert.True(((KafkaSink)pipeline.Sinks[0].Sink).Transactional, "the Kafka sink on the source's cluster is not transactional");
    }

    [Theory]
    [InlineData("""
        consumer: { bootstrap.servers: "read:9092" }
        """, "bootstrapServers: \"written:9092\"", "sink 'domain' on written:9092")]
    [InlineData("", "bootstrapServers: \"elsewhere:9092\"", "sink 'domain' on elsewhere:9092")]
    [InlineData("", "bootstrapServers: \"written:9092\"\n      producer: { bootstrap.servers: \"elsewhere:9092\" }", "sink 'domain' on elsewhere:9092")]
    public void Exactly_once_without_a_kafka_sink_on_the_consumers_cluster_stops_start_up(string consumer, string sink, string named)
    {
        using var services = Services();
        var path = _yaml.Write($$"""
            name: t
            source:
              kafka:
                bootstrapServers: "written:9092"
                topics: [legacy.public.orders]
                exactlyOnce: true
                {{consumer}}
            sinks:
              - name: domain
                kafka:
                  {{sink}}
                  topic: "domain.{type}"
            """);

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        TestContext.Current.TestOutputHelper?.WriteLine(error.Message);
        Assert.True(error.Message.Contains("pipeline.yaml:6: source.kafka.exactlyOnce: ", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(named, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void Exactly_once_without_any_kafka_sink_stops_start_up()
    {
        using var services = Services();
        var path = _yaml.Write("""
            name: t
            source:
              kafka:
                bootstrapServers: "written:9092"
                topics: [legacy.public.orders]
                exactlyOnce: true
            sinks:
              - name: out
                file: { path: out.jsonl }
            """);

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.True(error.Message.Contains("pipeline.yaml:6: source.kafka.exactlyOnce: ", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains("no kafka sink", StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void Two_different_servers_in_one_client_map_stop_start_up()
    {
        var context = _yaml.Context("""
            name: t
            source:
              kafka:
                bootstrapServers: "a:9092"
                topics: [legacy.public.orders]
                consumer:
                  bootstrap.servers: "b:9092"
                  metadata.broker.list: "c:9092"
            sinks:
              - name: out
                file: { path: out.jsonl }
            """, "kafka", "source:kafka");

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSourceFactory().Create(context));

        Assert.True(error.Message.Contains("source.kafka.consumer.metadata.broker.list: ", StringComparison.Ordinal), error.Message);
    }

    public void Dispose() => _yaml.Dispose();
}
