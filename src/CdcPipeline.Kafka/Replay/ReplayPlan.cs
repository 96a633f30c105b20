namespace CdcPipeline.Kafka.Replay;

/// <summary>One partition's move: from the committed offset (null = none) to the new one.</summary>
/// <param name="End">The partition's end (high watermark): the lag is the records from an offset to it.</param>
/// <param name="Note">Why <paramref name="To"/> is not what was asked for (an offset outside what the partition holds,
/// a time after its last record), or null.</param>
public sealed record ReplayPlan(int Partition, long? From, long To, long End, string? Note = null)
{
    /// <summary>Records the group has still to read before the reset (null without a committed offset).</summary>
    public long? LagBefore => From is { } from ? Math.Max(0, End - from) : null;

    /// <summary>Records the group has to read after the reset.</summary>
    public long LagAfter => Math.Max(0, End - To);
}
