using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation;

/// <summary>
/// The translator when no rules are configured: each row change passes through as a
/// <see cref="DomainEvent"/> of type <see cref="DomainEvent.RawChangeType"/> carrying the change, which
/// sinks write in the canonical change form. Heartbeats and transaction markers are bookkeeping and do
/// not pass unless asked for; tombstones and logical messages likewise.
/// </summary>
public sealed class PassthroughTranslator : IChangeTranslator
{
    public const string RuleId = "passthrough";

    private readonly string _pipelineName;
    private readonly HashSet<ChangeKind> _kinds;

    public PassthroughTranslator(string pipelineName, params ChangeKind[] kinds)
    {
        ArgumentException.ThrowIfNullOrEmpty(pipelineName);
        _pipelineName = pipelineName;
        _kinds = kinds.Length == 0 ? [ChangeKind.Change] : [.. kinds];
    }

    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        if (!_kinds.Contains(change.Kind))
        {
            return;
        }

        output.Add(new DomainEvent
        {
            Id = EventIds.For(change.Position, RuleId),
            Type = DomainEvent.RawChangeType,
            Source = EventSources.For(_pipelineName, change.Source),
            Subject = change.Kind is ChangeKind.Change or ChangeKind.Tombstone ? EventSources.Subject(change.Key) : null,
            Time = EventSources.Time(change),
            RuleId = RuleId,
            Position = change.Position,
            Change = change,
        });
    }
}
