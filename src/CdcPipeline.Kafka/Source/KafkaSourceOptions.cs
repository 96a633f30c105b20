using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Kafka.Source;

/// <summary><c>source.kafka:</c> — Debezium topics in.</summary>
public sealed class KafkaSourceOptions
{
    [Required(ErrorMessage = "a kafka source needs bootstrapServers (host:port[,host:port…])")]
    public string BootstrapServers { get; set; } = "";

    /// <summary>Consumer group; defaults to the pipeline name.</summary>
    public string? GroupId { get; set; }

    /// <summary>
    /// The consumer group the source's consumer actually joins: librdkafka's <c>group.id</c> under <see cref="Consumer"/> when
    /// given there (the consumer settings win over ours, so it is the group the source commits to), else <see cref="GroupId"/>,
    /// else the pipeline's name. <c>replay</c> must reset this group, not a name the source never uses.
    /// </summary>
    public string JoinedGroupId(string pipelineName) =>
        KafkaClientSettings.Find(Consumer, "group.id") is { } consumerGroup && !string.IsNullOrWhiteSpace(consumerGroup) ? consumerGroup
        : string.IsNullOrWhiteSpace(GroupId) ? pipelineName
        : GroupId;

    public List<string>? Topics { get; set; }

    /// <summary>
    /// A regular expression over topic names; librdkafka treats a subscription starting with <c>^</c> as a pattern and matches it as a
    /// POSIX extended regular expression (<c>[0-9]</c>, not <c>\d</c>; see <see cref="TopicPatternCheck"/>).
    /// </summary>
    public string? TopicPattern { get; set; }

    /// <summary>
    /// Where a partition without a committed offset inside its log starts (a new group; an offset retention deleted):
    /// earliest, latest, or error (the source stops, naming the partition). A reset after an out-of-range offset is logged (event 4015);
    /// with latest, a partition without a committed offset is logged once as starting at the end (event 4016).
    /// </summary>
    [RegularExpression("^(?i:earliest|latest|error)$", ErrorMessage = "must be earliest, latest or error")]
    public string AutoOffsetReset { get; set; } = "earliest";

    [RegularExpression("^(?i:json|avro)$", ErrorMessage = "must be json or avro")]
    public string Format { get; set; } = "json";

    public string? SchemaRegistryUrl { get; set; }

    /// <summary>Schema Registry client settings (<c>basic.auth.user.info</c>, <c>ssl.ca.location</c>, …), with or without the <c>schema.registry.</c> prefix; see <see cref="SchemaRegistry.SchemaRegistrySettings"/>.</summary>
    public Dictionary<string, string>? SchemaRegistry { get; set; }

    /// <summary>
    /// librdkafka consumer settings, passed through untouched (TLS, SASL, …); they win over ours. <c>bootstrap.servers</c> here wins over
    /// <see cref="BootstrapServers"/> for the dead letters and exactly-once too (<see cref="KafkaClientSettings.ServersOf(string?, IReadOnlyDictionary{string, string}?, string)"/>).
    /// </summary>
    public Dictionary<string, string>? Consumer { get; set; }

    /// <summary>
    /// Records handed from the poll thread to the pipeline ahead of it; when full (for longer than
    /// <see cref="PauseAfter"/>), partitions are paused (the consumer keeps polling). Small on purpose:
    /// librdkafka already prefetches in native memory (<c>queued.max.messages.kbytes</c>), while a record
    /// waiting here is a managed copy that survives garbage collections into the older generations. With
    /// 2 000 of them, a pipeline with a sink that keeps up ran at a third of its speed with 64
    /// (bench/README.md, "Kafka").
    /// </summary>
    [Range(1, 1_000_000)]
    public int BufferCapacity { get; set; } = KafkaChangeSource.DefaultBufferCapacity;

    /// <summary>
    /// How long a full buffer may wait for the pipeline before the partitions are paused. Pausing drops
    /// librdkafka's prefetched records (fetched again on resume), so a pipeline merely a batch behind
    /// should not cause it; zero pauses at once.
    /// </summary>
    public TimeSpan PauseAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a revoked partition waits for the pipeline to acknowledge what it already handed out; what is still on its way
    /// then is delivered all the same, and the new owner reads it again (duplicates with the same event ids). Not with
    /// <see cref="ExactlyOnce"/>: a transaction may still be on its way, so there only <c>max.poll.interval.ms</c> bounds the wait.
    /// </summary>
    public TimeSpan RevokeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Kafka → Kafka exactly-once: the domain Kafka sink on the same cluster commits this group's offsets in its transactions.
    /// librdkafka's auto-commit is then off (whatever <see cref="Consumer"/> says); the source commits each acknowledgement itself.
    /// </summary>
    public bool ExactlyOnce { get; set; }

    /// <summary>The Debezium connector behind the topics (for <c>connector render</c>, and topics when none are listed).</summary>
    public DebeziumConnectorOptions? Debezium { get; set; }

    /// <summary>The subscription: the topic list, else the pattern (anchored with <c>^</c>), else the connector's topics.</summary>
    public IReadOnlyList<string> Subscription()
    {
        if (Topics is { Count: > 0 })
        {
            return Topics;
        }

        if (!string.IsNullOrEmpty(TopicPattern))
        {
            return [TopicPattern.StartsWith('^') ? TopicPattern : "^" + TopicPattern];
        }

        return Debezium?.Topics() ?? [];
    }
}
