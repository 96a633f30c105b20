using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Something that could never be processed, kept with its error and original payload so an operator
/// can inspect and redrive it. Nothing is dropped silently.
/// </summary>
public sealed record DeadLetter
{
    /// <summary>Where it failed: <c>decode</c>, <c>translate</c>, or a sink's name.</summary>
    public required string Stage { get; init; }
    public required string Error { get; init; }
    public string? ErrorType { get; init; }
    public SourcePosition? Position { get; init; }
    public string? EventId { get; init; }
    public string? EventType { get; init; }
    /// <summary>The original bytes (Kafka value, canonical change JSON, or the event body).</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }
    /// <summary>The original record's key (a Kafka key), when known: a redrive re-produces with it so partitioning holds.</summary>
    public ReadOnlyMemory<byte>? Key { get; init; }
    public DateTimeOffset FailedAt { get; init; }
    public int Attempts { get; init; }
}
