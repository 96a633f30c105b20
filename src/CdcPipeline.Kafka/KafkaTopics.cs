using Confluent.Kafka;

namespace CdcPipeline.Kafka;

/// <summary>
/// What topics a cluster has, for the operator commands. Always from the cluster's full metadata: asking for
/// one topic by name lets the broker create it (<c>auto.create.topics.enable</c>, on by default), so a mistyped
/// name would leave an empty topic behind.
/// </summary>
public static class KafkaTopics
{
    /// <summary>The longest topic name Kafka takes.</summary>
    public const int MaxNameLength = 249;

    /// <summary>
    /// Why Kafka would refuse <paramref name="name"/> as a topic name (its Topic.validate: empty, '.' or '..', over 249 characters,
    /// a character outside <c>[a-zA-Z0-9._-]</c>), or null when it takes it. For start-up checks of configured names.
    /// </summary>
    public static string? NameProblem(string name)
    {
        if (name.Length == 0 || name is "." or "..")
        {
            return $"'{name}' is not a valid Kafka topic name (not empty, '.' or '..'); use ASCII letters, digits, '.', '_' and '-' ([a-zA-Z0-9._-])";
        }

        if (name.Length > MaxNameLength)
        {
            return $"'{name[..40]}…' has {name.Length} characters; Kafka topic names have at most {MaxNameLength}";
        }

        var bad = name.FirstOrDefault(c => !IsLegalNameCharacter(c));
        return bad == default
            ? null
            : $"'{name}' contains '{bad}': Kafka topic names allow only ASCII letters, digits, '.', '_' and '-' ([a-zA-Z0-9._-])";
    }

    /// <summary>A character Kafka allows in a topic name: <c>[a-zA-Z0-9._-]</c>.</summary>
    public static bool IsLegalNameCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';

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
