using System.Diagnostics.CodeAnalysis;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation;

/// <summary>
/// A domain event (CloudEvents 1.0 attributes plus routing), or — when no rules are set — a raw change
/// passing through (<see cref="IsRawChange"/>), which sinks write in the canonical change form.
/// </summary>
public sealed class DomainEvent
{
    /// <summary>The CloudEvents <c>type</c> used for raw changes passing through without rules.</summary>
    public const string RawChangeType = "cdc.change";

    private readonly Func<DomainEvent, string>? _deferredId;
    private string? _id;

    public DomainEvent()
    {
    }

    /// <summary>
    /// An event whose id is computed on first read. Pass-through uses it: most sinks write a raw change in
    /// its canonical form, which carries no id, and the name-based UUID (SHA-1) is a large share of the
    /// per-change cost. The id is deterministic, so computing it later (or twice, racing) changes nothing.
    /// </summary>
    [SetsRequiredMembers]
#pragma warning disable CS8618 // Id is not left null: its getter computes it from _deferredId
    internal DomainEvent(ChangeEvent change, string source, Func<DomainEvent, string> deferredId)
#pragma warning restore CS8618
    {
        _deferredId = deferredId;
        Type = RawChangeType;
        Source = source;
        Position = change.Position;
        Change = change;
    }

    /// <summary>Deterministic: derived from the source position and the rule (see <see cref="EventIds"/>).</summary>
    public required string Id
    {
        get => _id ??= _deferredId?.Invoke(this) ?? throw new InvalidOperationException("the event was created without an id");
        init => _id = value;
    }

    public required string Type { get; init; }

    /// <summary>CloudEvents <c>source</c>: a URI-reference naming the producing pipeline and table.</summary>
    public required string Source { get; init; }

    /// <summary>CloudEvents <c>subject</c>: the aggregate key; also the ordering and partitioning key.</summary>
    public string? Subject { get; init; }

    /// <summary>The aggregate type (<c>Order</c>), used by routing (outbox semantics, topic templates).</summary>
    public string? AggregateType { get; init; }

    public DateTimeOffset? Time { get; init; }

    public DomainEventKind Kind { get; init; } = DomainEventKind.Event;

    /// <summary>For a command: the one sink it goes to.</summary>
    public string? Target { get; init; }

    /// <summary>The payload: a map of field name to canonical value (see <see cref="Row"/>), or any value the canonical writer knows.</summary>
    public object? Data { get; init; }

    /// <summary>The rule (or translator) that produced the event.</summary>
    public string? RuleId { get; init; }

    public required SourcePosition Position { get; init; }

    /// <summary>
    /// The change the event came from. For an event a rule or the outbox made, only its <see cref="ChangeEvent.Header"/>
    /// (kind, operation, position, its table's source; the data holds what the rule or the outbox took from the rows); for a
    /// change passing through, all of it.
    /// </summary>
    public required ChangeEvent Change { get; init; }

    /// <summary>Extra CloudEvents extension attributes / headers (outbox headers, say).</summary>
    public IReadOnlyDictionary<string, string>? Extensions { get; init; }

    public bool IsRawChange => ReferenceEquals(Type, RawChangeType) || Type == RawChangeType;
}
