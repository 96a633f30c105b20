namespace CdcPipeline.Kafka.Replay;

/// <summary>One partition's move: from the committed offset (null = none) to the new one.</summary>
/// <param name="Note">Why <paramref name="To"/> is not what was asked for (an offset outside what the partition holds,
/// a time after its last record), or null.</param>
public sealed record ReplayPlan(int Partition, long? From, long To, string? Note = null);
