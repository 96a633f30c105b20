using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// A sink that commits the source's positions itself, in the same atomic write as its events (Kafka
/// exactly-once: the consumer group's offsets travel in the sink's transaction). Such a commit is an
/// acknowledgement the runner does not control, so the runner hands such a sink a batch only after every
/// other sink has finished with it (delivered it, or set aside what it never will: dead letter, ignore,
/// log). Were it delivered alongside the others, it could commit a position that a sink still retrying
/// has not got, and a crash would lose those events for that sink. If delivering to the others throws
/// (a stop, a cancellation), such a sink never sees the batch, so nothing of it is committed.
/// </summary>
public interface ISourceCommittingSink : ISink
{
    /// <summary>
    /// Whether this sink commits source positions (a Kafka sink only in exactly-once mode). Asked once,
    /// when the runner is built; the answer must not change afterwards.
    /// </summary>
    bool CommitsSourcePositions { get; }

    /// <summary>
    /// Delivers events that are only part of what their change produced for this sink: the runner, isolating a
    /// failed batch event by event, hands over one event of a change whose later events are still to come. Like
    /// <see cref="ISink.DeliverAsync"/>, but the position of the last event's change must not be committed: a
    /// crash or a stop before the change's remaining events are delivered would otherwise skip them for good,
    /// since the source resumes after a committed position. Positions of changes before it may be committed.
    /// </summary>
    ValueTask DeliverPartAsync(IReadOnlyList<DomainEvent> events, CancellationToken cancellationToken);
}
