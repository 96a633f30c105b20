namespace CdcPipeline.Kafka.Replay;

/// <summary>A consumer group's committed offset on one partition: asked for in an AlterConsumerGroupOffsets request,
/// and in its answer with whether Kafka set it.</summary>
/// <param name="Error">Why Kafka did not set it (with what to do, when known); null when it did.</param>
public sealed record GroupOffset(string Topic, int Partition, long Offset, string? Error = null);
