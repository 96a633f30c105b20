using CdcPipeline.Kafka.ExactlyOnce;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Kafka;

/// <summary>The librdkafka settings the Kafka source adds to what it is configured with, and that the user's win.</summary>
public sealed class KafkaChangeSourceConfigTests
{
    [Fact]
    public async Task The_fetch_queue_backoff_defaults_to_a_tenth_of_librdkafkas_second()
    {
        var options = new KafkaSourceOptions { BootstrapServers = "kafka:9092", Topics = ["legacy.public.tb_ord_mst"] };
        await using var source = new KafkaChangeSource(KafkaSourceFactory.BuildConsumerConfig(options, "orders"), options.Topics!, new JsonRecordDecoder(), new RecordingDeadLetterQueue());

        Assert.Equal(KafkaChangeSource.DefaultFetchQueueBackoffMs, source.EffectiveConfig.FetchQueueBackoffMs);
        Assert.Equal("100", source.EffectiveConfig.Get("fetch.queue.backoff.ms"));
        Assert.False(source.EffectiveConfig.EnableAutoOffsetStore);
    }

    [Fact]
    public async Task A_fetch_queue_backoff_set_under_source_kafka_consumer_wins()
    {
        var options = new KafkaSourceOptions
        {
            BootstrapServers = "kafka:9092",
            Topics = ["legacy.public.tb_ord_mst"],
            Consumer = new Dictionary<string, string> { ["fetch.queue.backoff.ms"] = "1000" },
        };
        await using var source = new KafkaChangeSource(KafkaSourceFactory.BuildConsumerConfig(options, "orders"), options.Topics!, new JsonRecordDecoder(), new RecordingDeadLetterQueue());

        Assert.Equal(1000, source.EffectiveConfig.FetchQueueBackoffMs);
    }

    [Fact]
    public async Task In_exactly_once_mode_the_consumer_never_auto_commits_whatever_the_configuration_says()
    {
        var options = new KafkaSourceOptions
        {
            BootstrapServers = "kafka:9092",
            Topics = ["legacy.public.tb_ord_mst"],
            ExactlyOnce = true,
            Consumer = new Dictionary<string, string> { ["enable.auto.commit"] = "true" },
        };
        var config = KafkaSourceFactory.BuildConsumerConfig(options, "orders");
        await using var exactlyOnce = new KafkaChangeSource(config, options.Topics!, new JsonRecordDecoder(), new RecordingDeadLetterQueue(), exactlyOnceCoordinator: new KafkaTransactionCoordinator());
        await using var atLeastOnce = new KafkaChangeSource(config, options.Topics!, new JsonRecordDecoder(), new RecordingDeadLetterQueue());

        // A stale stored offset committed asynchronously could land after a transaction's commit and move the group back.
        Assert.False(exactlyOnce.EffectiveConfig.EnableAutoCommit);
        Assert.True(atLeastOnce.EffectiveConfig.EnableAutoCommit);
    }
}
