using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka.Source;

namespace CdcPipeline.Tests.Kafka;

/// <summary>
/// librdkafka matches topic patterns as POSIX extended regular expressions: on the mock cluster a subscription to
/// <c>^rx-\d$</c> received nothing from topic <c>rx-7</c> in 20 s, while <c>^rx-[0-9]$</c>, <c>^rx-[[:digit:]]$</c> and
/// <c>^rx-\w$</c> received its record at once. A pattern that would silently subscribe to nothing stops start-up.
/// </summary>
public sealed class TopicPatternCheckTests : IDisposable
{
    private readonly PipelineYaml _yaml = new();

    public void Dispose() => _yaml.Dispose();

    private PipelineComponentContext Context(string subscription) => _yaml.Context($"""
        name: t
        source:
          kafka:
            bootstrapServers: "127.0.0.1:9"
            {subscription}
        sinks:
          - name: out
            file: {"{"} path: out.jsonl {"}"}
        """, "kafka", "source:kafka");

    [Theory]
    [InlineData(@"topicPattern: '^legacy\.public\.tb_\d+$'", "source.kafka.topicPattern", "[0-9]")]
    [InlineData(@"topicPattern: 'legacy\.public\.(?i)orders'", "source.kafka.topicPattern", "'(?'")]
    [InlineData(@"topics: [legacy.public.orders, '^legacy\.audit\.[\d]+']", "source.kafka.topics.1", "literal backslash")]
    public void A_pattern_librdkafka_would_match_differently_stops_start_up_naming_it(string subscription, string key, string advice)
    {
        var error = Assert.Throws<ConfigurationException>(() => new KafkaSourceFactory().Create(Context(subscription)));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.Contains(advice, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(@"^legacy\.public\..*")]
    [InlineData(@"^legacy\.public\.tb_[0-9]+$")]
    [InlineData(@"^legacy\.public\.tb_[[:digit:]]+\w*$")]
    [InlineData(@"^legacy\.(public|audit)\.[]a-z_-]+$")]
    [InlineData(@"^__debezium-heartbeat\.legacy$")]
    public void Patterns_in_librdkafkas_language_pass(string pattern)
    {
        Assert.Null(TopicPatternCheck.Problem(pattern));
    }
}
