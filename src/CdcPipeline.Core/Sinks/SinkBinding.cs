using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>A configured sink: the sink itself and the policy the pipeline applies to it.</summary>
public sealed record SinkBinding(ISink Sink, SinkPolicy Policy)
{
    public string Name => Sink.Name;

    /// <summary>
    /// Whether the pipeline hands <paramref name="domainEvent"/> to this sink: a command only to the sink it targets,
    /// any other event when the sink's event-type filter accepts it. The runner's fan-out and <c>dlq redrive</c> both ask this.
    /// </summary>
    public bool Wants(DomainEvent domainEvent) =>
        domainEvent.Kind == DomainEventKind.Command
            ? string.Equals(domainEvent.Target, Name, StringComparison.Ordinal)
            : Policy.Accepts(domainEvent.Type);
}
