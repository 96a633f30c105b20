namespace CdcPipeline.Kafka.Replay;

/// <summary>One partition's move: from the committed offset (null = none) to the new one.</summary>
public sealed record ReplayPlan(int Partition, long? From, long To);
