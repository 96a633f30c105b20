using Confluent.Kafka;

namespace CdcPipeline.Kafka;

/// <summary>
/// What topics a cluster has, for the operator commands. Always from the cluster's full metadata: asking for
/// one topic by name lets the broker create it (<c>auto.create.topics.enable</c>, on by default), so a mistyped
/// name would leave an empty topic behind.
/// </summary>
public static class KafkaTopics
{
    /// <summary>Every topic the cluster reports without an error, in ordinal order.</summary>
    public static IReadOnlyList<string> Names(IAdminClient admin, TimeSpan timeout) =>
        admin.GetMetadata(timeout).Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).Order(StringComparer.Ordinal).ToList();

    /// <summary>The partitions of <paramref name="topic"/>, none when it does not exist.</summary>
    public static IReadOnlyList<int> Partitions(IAdminClient admin, string topic, TimeSpan timeout) =>
        admin.GetMetadata(timeout).Topics
            .Where(t => t.Topic == topic && !t.Error.IsError)
            .SelectMany(t => t.Partitions)
            .Select(p => p.PartitionId)
            .Order()
            .ToList();
}
