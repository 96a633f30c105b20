namespace CdcPipeline.Kafka.Replay;

/// <summary>A replay that must not happen now (the group is active, the partition does not exist).</summary>
public sealed class ReplayRefusedException(string message) : Exception(message);
