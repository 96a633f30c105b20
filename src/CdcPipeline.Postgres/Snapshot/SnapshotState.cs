namespace CdcPipeline.Postgres.Snapshot;

/// <summary>
/// What survives a crash of a snapshot: per table the key of the last row of the last ACKNOWLEDGED chunk.
/// Kept in a small JSON file per slot (the legacy database is not ours to write state into).
/// </summary>
internal sealed class SnapshotState
{
    public required string Slot { get; set; }

    /// <summary>The slot's consistent point (LSN as text) of the initial snapshot; snapshot positions sit just before it.</summary>
    public required ulong ConsistentLsn { get; set; }

    /// <summary>
    /// The LSN this pipeline last confirmed to the slot (0: unknown), recorded at heartbeats and when reading stops: a
    /// lower bound of the real one. Named when the slot is found gone.
    /// </summary>
    public ulong ConfirmedLsn { get; set; }

    /// <summary>Every table of the initial snapshot is acknowledged.</summary>
    public bool InitialCompleted { get; set; }

    /// <summary>Next snapshot row ordinal (the position minor of initial-snapshot rows).</summary>
    public long NextOrdinal { get; set; }

    public List<TableProgress> Tables { get; set; } = [];

    /// <summary>
    /// The captured tables (<c>schema.table</c>) with the oid each name had at the last start; null in a file written before
    /// they were kept (filled at the next start). The next start tells by them a table renamed or dropped while stopped.
    /// </summary>
    public Dictionary<string, uint>? TableOids { get; set; }
}

internal sealed class TableProgress
{
    public required string Table { get; set; }

    /// <summary>Read by the incremental (watermark) algorithm while streaming, not by the initial snapshot.</summary>
    public bool Incremental { get; set; }

    public bool Done { get; set; }

    /// <summary>Key values (text form, primary-key order) of the last acknowledged row; null: from the start.</summary>
    public string?[]? LastKey { get; set; }

    public long RowsDone { get; set; }

    /// <summary>
    /// Incremental snapshots only: the largest key when the table's snapshot started. Chunks stop there, so a
    /// table that keeps growing (an append-only audit log) still finishes; rows inserted later arrive by the stream.
    /// </summary>
    public string?[]? MaxKey { get; set; }
}
