using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>
/// A Kafka source must not read what its own pipeline writes to the same cluster: dead letters fed back into the source
/// fail to decode and are dead-lettered again, for ever; a sink's domain events read back as Debezium records fail the same way.
/// </summary>
public sealed class OwnOutputCheckTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cdc-own-output-");

    private sealed class RulesFromDirectory : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => Translators.Create(rulesDirectory, pipeline.Name);
    }

    /// <summary>Writes pipeline.yaml (line 1 is <c>name:</c>) with a rule file for public.tb_order declaring OrderPlaced.</summary>
    private string Write(string yaml)
    {
        var rules = Directory.CreateDirectory(Path.Combine(_dir.FullName, "rules"));
        File.WriteAllText(Path.Combine(rules.FullName, "orders.yaml"), "table: public.tb_order\nevents:\n  - type: OrderPlaced\n");
        var path = Path.Combine(_dir.FullName, "pipeline.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static ServiceProvider Services() => new ServiceCollection()
        .AddCdcCore()
        .AddCdcKafka()
        .AddSingleton<ITranslatorProvider, RulesFromDirectory>()
        .BuildServiceProvider();

    private ConfigurationException Refused(string yaml)
    {
        using var services = Services();
        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(Write(yaml), _ => null), services));
        TestContext.Current.TestOutputHelper?.WriteLine(error.Message);
        return error;
    }

    [Fact]
    public void A_dead_letter_topic_the_source_pattern_matches_stops_start_up_naming_both_settings_and_lines()
    {
        var error = Refused("""
            name: legacy-orders
            rules: rules
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topicPattern: '^legacy\..*'
            deadLetter:
              topic: legacy.dlq
            sinks:
              - name: screen
                console: {}
            """);

        Assert.StartsWith(Path.Combine(_dir.FullName, "pipeline.yaml") + ":8: deadLetter.topic: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"source.kafka.topicPattern '^legacy\..*', " + Path.Combine(_dir.FullName, "pipeline.yaml") + ":6", error.Message, StringComparison.Ordinal);
        Assert.Contains("'legacy.dlq'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dead_letter_topic_in_the_topic_list_stops_start_up()
    {
        var error = Refused("""
            name: legacy-orders
            rules: rules
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topics: [legacy.public.tb_order, legacy-orders.dlq]
            deadLetter:
              topic: legacy-orders.dlq
            sinks:
              - name: screen
                console: {}
            """);

        Assert.Contains("deadLetter.topic", error.Message, StringComparison.Ordinal);
        Assert.Contains("source.kafka.topics.1 'legacy-orders.dlq'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sink_template_whose_literal_prefix_the_pattern_matches_stops_start_up_naming_the_sink_and_the_pattern()
    {
        var error = Refused("""
            name: legacy-orders
            rules: rules
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topicPattern: '^legacy\..*'
            sinks:
              - name: screen
                console: {}
              - name: domain
                kafka: { bootstrapServers: "127.0.0.1:1", topic: "legacy.{type}" }
            """);

        Assert.StartsWith(Path.Combine(_dir.FullName, "pipeline.yaml") + ":11: sinks.1.kafka.topic: sink 'domain'", error.Message, StringComparison.Ordinal);
        Assert.Contains("starts with 'legacy.'", error.Message, StringComparison.Ordinal);
        Assert.Contains("source.kafka.topicPattern", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sink_template_that_renders_a_matching_name_for_a_declared_event_type_stops_start_up_naming_the_type()
    {
        // The prefix alone does not match (the pattern wants letters after it); the rule file's OrderPlaced does.
        var error = Refused("""
            name: legacy-orders
            rules: rules
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topics: [legacy.public.tb_order, '^legacy\.[A-Za-z]+$']
            sinks:
              - name: domain
                kafka: { bootstrapServers: "127.0.0.1:1", topic: "legacy.{type}" }
            """);

        Assert.Contains("sinks.0.kafka.topic", error.Message, StringComparison.Ordinal);
        Assert.Contains("'legacy.OrderPlaced' for {type} = OrderPlaced", error.Message, StringComparison.Ordinal);
        Assert.Contains("source.kafka.topics.1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sink_template_that_renders_a_listed_topic_from_its_table_stops_start_up()
    {
        var error = Refused("""
            name: legacy-orders
            rules: rules
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topics: [legacy.public.tb_order]
            sinks:
              - name: mirror
                kafka: { bootstrapServers: "127.0.0.1:1", topic: "legacy.{schema}.{table}" }
            """);

        Assert.Contains("'legacy.public.tb_order'", error.Message, StringComparison.Ordinal);
        Assert.Contains("source.kafka.topics.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Topics_the_source_does_not_read_or_on_another_cluster_build()
    {
        // Same pattern, but the dead letters and domain topics are outside it, or on another cluster (the same servers
        // in another order and case are the same cluster, so the third sink would be refused were its topic inside).
        var path = Write("""
            name: legacy-orders
            rules: rules
            source:
              kafka:
                bootstrapServers: "kafka-a:9092,kafka-b:9092"
                topicPattern: '^legacy\..*'
            deadLetter:
              topic: cdc.legacy-orders.dlq
            sinks:
              - name: domain
                kafka: { bootstrapServers: "KAFKA-B:9092, kafka-a:9092", topic: "domain.{type}" }
              - name: elsewhere
                kafka: { bootstrapServers: "other:9092", topic: "legacy.{type}" }
            """);
        using var services = Services();

        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);

        Assert.Equal(2, pipeline.Sinks.Count);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
