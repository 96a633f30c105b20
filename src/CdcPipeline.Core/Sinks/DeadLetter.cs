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
    /// <summary>The original record's headers (Kafka), when known: a redrive sends them with it again.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]?>>? Headers { get; init; }
    /// <summary>
    /// For a payload that is a change's canonical JSON (a <c>translate</c> letter of the embedded path): the types of its
    /// column values (<see cref="Json.CanonicalValueTypes.Of"/>), so a redrive hands the rules the values the decoder gave
    /// them (a timestamp, not its text); null when every value reads back as its JSON (or the payload is a source record).
    /// </summary>
    public string? ValueTypes { get; init; }

    /// <summary>
    /// For a payload that is a change's canonical JSON: the change's name (<see cref="ChangeEvent.Origin"/>) when it has one,
    /// which the canonical JSON does not hold (an embedded snapshot row's request): a redrive names the change by it, as
    /// <c>run</c> did, so its events get the ids <c>run</c> gave (or would have given) them. Null: named by its position.
    /// </summary>
    public string? Origin { get; init; }
    public DateTimeOffset FailedAt { get; init; }
    public int Attempts { get; init; }

    /// <summary>
    /// True when <see cref="Payload"/> and <see cref="Key"/> are the source record itself, so a redrive may put it
    /// back where it came from; false when they are a domain event (a sink's letter, or a command for a sink that
    /// is not configured), which would poison a change topic.
    /// </summary>
    public bool HoldsSourceRecord => HoldsSourceRecordFor(Stage, EventId);

    /// <summary>
    /// Decode and translate letters hold the record the source read; every letter about a domain event carries
    /// that event's id (a sink's letter has a sink's name as stage, and a command for an unknown sink is a
    /// <c>translate</c> letter with an event id). The same rule reads a letter back from its stage and event id.
    /// </summary>
    public static bool HoldsSourceRecordFor(string? stage, string? eventId) =>
        eventId is null && stage is "decode" or "translate";
}
