using System.Diagnostics;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.Sink;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>
/// Topic names Kafka would refuse (over 249 characters, characters outside <c>[a-zA-Z0-9._-]</c>, '.' or '..') stop start-up
/// with their file, line and key: otherwise the dead-letter topic fails only at the first dead letter (stopping run then), and
/// a listed source topic is subscribed to and never read. And the dead-letter producer gives up after deadLetter.deliveryTimeout.
/// </summary>
public sealed class TopicNameCheckTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cdc-topic-names-");

    private sealed class RulesFromDirectory : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => Translators.Create(rulesDirectory, pipeline.Name);
    }

    private string Write(string yaml)
    {
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
        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Validate(PipelineConfiguration.Load(Write(yaml), _ => null), services));
        TestContext.Current.TestOutputHelper?.WriteLine(error.Message);
        return error;
    }

    private static string Pipeline(string topics = "[legacy.public.tb_order]", string deadLetterTopic = "cdc.dead-letters", string sinkTopic = "domain.{type}") => $"""
        name: legacy-orders
        source:
          kafka:
            bootstrapServers: "127.0.0.1:1"
            format: json
            topics: {topics}
        sinks:
          - name: domain
            kafka:
              bootstrapServers: "127.0.0.1:1"
              topic: "{sinkTopic}"
        deadLetter:
          topic: "{deadLetterTopic}"
        """;

    [Theory]
    [InlineData("cdc dead letters", "' '")]
    [InlineData("cdc/dead-letters", "'/'")]
    [InlineData("..", "'..'")]
    public void A_dead_letter_topic_Kafka_would_refuse_stops_start_up_naming_file_line_and_key(string topic, string what)
    {
        var error = Refused(Pipeline(deadLetterTopic: topic));

        Assert.Equal("deadLetter:topic", error.Key);
        Assert.StartsWith(Path.Combine(_dir.FullName, "pipeline.yaml") + ":13: deadLetter.topic: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.Contains("[a-zA-Z0-9._-]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dead_letter_topic_over_249_characters_stops_start_up()
    {
        var error = Refused(Pipeline(deadLetterTopic: new string('d', 250)));

        Assert.Equal("deadLetter:topic", error.Key);
        Assert.Contains("250 characters", error.Message, StringComparison.Ordinal);
        Assert.Contains("at most 249", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_listed_source_topic_Kafka_would_refuse_stops_start_up_naming_its_entry()
    {
        var error = Refused(Pipeline(topics: "[legacy.public.tb_order, \"legacy public.tb_order\"]"));

        Assert.Equal("source:kafka:topics:1", error.Key);
        Assert.Contains("pipeline.yaml:6: source.kafka.topics.1: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("' '", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_listed_pattern_is_a_regular_expression_not_a_name()
    {
        using var services = Services();
        _ = PipelineBuilder.Validate(PipelineConfiguration.Load(Write(Pipeline(topics: "['^legacy\\.public\\..*']")), _ => null), services);
    }

    [Fact]
    public void A_topic_template_whose_text_alone_is_over_249_characters_stops_start_up()
    {
        var error = Refused(Pipeline(sinkTopic: new string('d', 250) + ".{type}"));

        Assert.Equal("sinks:0:kafka:topic", error.Key);
        Assert.Contains("at most 249", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dead_letter_producer_gives_up_after_deadLetter_deliveryTimeout_when_its_cluster_cannot_be_reached()
    {
        var configuration = PipelineConfiguration.Load(Write(Pipeline() + "\n  deliveryTimeout: \"00:00:02\"\n"), _ => null);
        using var services = Services();
        await using var queue = (KafkaDeadLetterQueue)new KafkaDeadLetterQueueFactory().Create(configuration, services);

        var clock = Stopwatch.StartNew();
        // Nothing listens on 127.0.0.1:1: librdkafka's default message.timeout.ms would wait 300 s before failing the letter.
        await Assert.ThrowsAnyAsync<Exception>(async () => await queue
            .WriteAsync(new DeadLetter { Stage = "translate", Error = "test", Payload = "{}"u8.ToArray() }, TestContext.Current.CancellationToken)
            .AsTask()
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void The_dead_letter_delivery_timeout_defaults_to_a_Kafka_sinks_and_is_bounded()
    {
        Assert.Equal(new KafkaSinkOptions().DeliveryTimeout, PipelineConfiguration.Load(Write(Pipeline()), _ => null).Options.DeadLetter.DeliveryTimeout);

        var error = Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(Write(Pipeline() + "\n  deliveryTimeout: \"00:00:00\"\n"), _ => null));
        Assert.Equal("deadLetter:deliveryTimeout", error.Key);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
