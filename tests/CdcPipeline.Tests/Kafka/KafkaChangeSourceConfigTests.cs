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
}
