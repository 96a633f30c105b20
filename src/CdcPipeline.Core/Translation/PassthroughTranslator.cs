using System.Collections.Concurrent;
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

    /// <summary>CloudEvents sources per (schema, table): built once per table, not per change.</summary>
    private readonly ConcurrentDictionary<(string? Schema, string? Table), string> _sources = new();

    private static readonly Func<DomainEvent, string> DeferredId = e => EventIds.For(e.Change, RuleId);

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

        var cloudEventSource = _sources.GetOrAdd(
            (change.Source.Schema, change.Source.Table),
            static (_, state) => EventSources.For(state.Pipeline, state.Source),
            (Pipeline: _pipelineName, change.Source));
        output.Add(new DomainEvent(change, cloudEventSource, DeferredId)
        {
            Subject = change.Kind is ChangeKind.Change or ChangeKind.Tombstone ? EventSources.Subject(change.Key) : null,
            Time = EventSources.Time(change),
            RuleId = RuleId,
        });
    }
}
