namespace CdcPipeline.Kafka.Replay;

/// <summary>What a replay needs from the cluster (an abstraction because librdkafka's mock cluster lacks several of these APIs).</summary>
public interface IConsumerGroupAdmin
{
    /// <summary>Members currently in the group (DescribeConsumerGroups); a replay refuses while there are any.</summary>
    Task<IReadOnlyList<string>> ActiveMembersAsync(string group, CancellationToken cancellationToken);

    /// <summary>The partitions of <paramref name="topic"/>; none when it does not exist (asking must not create it).</summary>
    Task<IReadOnlyList<int>> PartitionsAsync(string topic, CancellationToken cancellationToken);

    /// <summary>Every topic on the cluster, to expand a subscription pattern.</summary>
    Task<IReadOnlyList<string>> TopicsAsync(CancellationToken cancellationToken);

    /// <summary>The group's committed offset per partition (ListConsumerGroupOffsets); null = none committed.</summary>
    Task<IReadOnlyDictionary<int, long?>> CommittedAsync(string group, string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken);

    /// <summary>Start (low watermark) and end (high watermark) of each partition.</summary>
    Task<IReadOnlyDictionary<int, (long Low, long High)>> WatermarksAsync(string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken);

    /// <summary>Earliest offset whose timestamp is at or after <paramref name="time"/> per partition (OffsetsForTimes); the end offset when none is.</summary>
    Task<IReadOnlyDictionary<int, long>> OffsetsForTimeAsync(string topic, IReadOnlyList<int> partitions, DateTimeOffset time, CancellationToken cancellationToken);

    /// <summary>
    /// Sets the group's committed offset of every partition in <paramref name="offsets"/>, of every topic, in one
    /// AlterConsumerGroupOffsets request (one OffsetCommit, as kafka-consumer-groups --reset-offsets sends). Kafka
    /// applies it per partition and answers per partition: one result for each, with its error when it was not set.
    /// Throws (a <see cref="Confluent.Kafka.KafkaException"/>) when the request as a whole failed: then no partition is known to be set.
    /// </summary>
    Task<IReadOnlyList<GroupOffset>> AlterAsync(string group, IReadOnlyList<GroupOffset> offsets, CancellationToken cancellationToken);
}
