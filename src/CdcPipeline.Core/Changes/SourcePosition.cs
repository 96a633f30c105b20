namespace CdcPipeline.Core.Changes;

/// <summary>
/// Where a record sits in its source, totally ordered within one <see cref="Stream"/>:
/// a Kafka topic-partition (<see cref="Major"/> = offset), or a replication slot
/// (<see cref="Major"/> = commit LSN, <see cref="Minor"/> = index of the change within its transaction).
/// Positions of different streams are not comparable; acknowledgement is per stream.
/// </summary>
public readonly record struct SourcePosition(string Stream, long Major, long Minor = 0) : IComparable<SourcePosition>
{
    public static SourcePosition ForKafka(string topic, int partition, long offset)
    {
        // Records come in runs of one partition: its stream name is made once per run rather than once per record.
        var last = t_lastKafkaStream;
        if (last is null || last.Partition != partition || !string.Equals(last.Topic, topic, StringComparison.Ordinal))
        {
            last = t_lastKafkaStream = new KafkaStream(
                topic, partition, string.Concat(topic, "/", partition.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        return new(last.Stream, offset);
    }

    /// <summary>
    /// The topic and partition of a position <see cref="ForKafka"/> made (stream <c>topic/partition</c>); false for another
    /// source's stream (a slot, a relay), which has no partition after its last '/'.
    /// </summary>
    public bool TryGetKafkaPartition(out string topic, out int partition)
    {
        var slash = Stream.LastIndexOf('/');
        if (slash > 0 && int.TryParse(Stream.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out partition))
        {
            topic = Stream[..slash];
            return true;
        }

        (topic, partition) = (string.Empty, 0);
        return false;
    }

    [ThreadStatic]
    private static KafkaStream? t_lastKafkaStream;

    private sealed record KafkaStream(string Topic, int Partition, string Stream);

    public static SourcePosition ForLsn(string slot, ulong commitLsn, long indexInTransaction) =>
        new(slot, checked((long)commitLsn), indexInTransaction);

    public int CompareTo(SourcePosition other)
    {
        if (!string.Equals(Stream, other.Stream, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"positions of different streams are not ordered: '{Stream}' and '{other.Stream}'");
        }

        var c = Major.CompareTo(other.Major);
        return c != 0 ? c : Minor.CompareTo(other.Minor);
    }

    public static bool operator <(SourcePosition a, SourcePosition b) => a.CompareTo(b) < 0;
    public static bool operator >(SourcePosition a, SourcePosition b) => a.CompareTo(b) > 0;
    public static bool operator <=(SourcePosition a, SourcePosition b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SourcePosition a, SourcePosition b) => a.CompareTo(b) >= 0;

    /// <summary>Reads <see cref="ToString"/>'s text back (<c>stream@major:minor</c>; the stream may itself hold '@' or ':').</summary>
    public static bool TryParse(string? text, out SourcePosition position)
    {
        position = default;
        var at = text?.LastIndexOf('@') ?? -1;
        var colon = text?.LastIndexOf(':') ?? -1;
        if (at <= 0 || colon <= at
            || !long.TryParse(text.AsSpan(at + 1, colon - at - 1), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var major)
            || !long.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var minor))
        {
            return false;
        }

        position = new SourcePosition(text![..at], major, minor);
        return true;
    }

    /// <summary>Stable text used in deterministic event ids: must never change for a given position.</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Stream}@{Major}:{Minor}");
}
