namespace CdcPipeline.Kafka.Source;

/// <summary>What the source knows about one partition it owns. Guarded by the source's lock.</summary>
internal sealed class PartitionState
{
    public PartitionState(long epoch)
    {
        Epoch = epoch;
    }

    /// <summary>Changes with every assignment, so a record fetched under an earlier ownership is never handed out.</summary>
    public long Epoch { get; }

    /// <summary>
    /// Offset of the first record handed to the pipeline under this ownership; -1 before it. An acknowledgement below it
    /// (or beyond <see cref="HandedOut"/>) is for a record handed out under an earlier ownership of the partition.
    /// </summary>
    public long FirstHandedOut { get; set; } = -1;

    /// <summary>Offset of the last record handed to the pipeline; -1 before the first.</summary>
    public long HandedOut { get; set; } = -1;

    /// <summary>Offset of the last record the pipeline acknowledged (every sink has it); -1 before the first.</summary>
    public long Acknowledged { get; set; } = -1;

    /// <summary>Offset of the last record whose successor this source committed; -1 before the first commit.</summary>
    public long Committed { get; set; } = -1;

    /// <summary>Exactly-once: offset of the last record whose successor a transaction committed; -1 before the first.</summary>
    public long TransactionCommitted { get; set; } = -1;

    /// <summary>Being revoked: nothing more is handed out; acknowledgements are still taken until it is let go.</summary>
    public bool Revoking { get; set; }

    public bool Drained => Acknowledged >= HandedOut;
}
