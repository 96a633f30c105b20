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
}
