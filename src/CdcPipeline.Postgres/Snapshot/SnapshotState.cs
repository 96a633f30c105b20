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
    /// The name of the snapshot <paramref name="table"/>'s rows are read for (<see cref="Core.Changes.ChangeEvent.SnapshotRequest"/>):
    /// its <see cref="TableProgress.RequestId"/>; a file written without it, its <see cref="TableProgress.Request"/>; the
    /// initial snapshot (and its rest, read as incremental chunks), <see cref="InitialRequest"/>. Methods, not properties: the
    /// state file holds what they are made of.
    /// </summary>
    public string RequestOf(TableProgress table) => table.RequestId ?? table.Request ?? InitialRequest();

    /// <summary>The initial snapshot's name: its slot's consistent point, new when the slot is made again.</summary>
    public string InitialRequest() => "initial snapshot at " + new NpgsqlTypes.NpgsqlLogSequenceNumber(ConsistentLsn);

    /// <summary>
    /// The captured tables (<c>schema.table</c>) with the oid each name had at the last start; null in a file written before
    /// they were kept (filled at the next start). The next start tells by them a table renamed or dropped while stopped.
    /// </summary>
    public Dictionary<string, uint>? TableOids { get; set; }

    /// <summary>
    /// Saved just before the start sends CREATE_REPLICATION_SLOT for a slot whose exported snapshot it reads, and gone once the
    /// new slot is recorded (the file replaced): a start that finds it finds a slot of that name unrecorded, made by a process
    /// that ended in between (killed, a node lost), its exported snapshot ended with it. Null in files written without it.
    /// </summary>
    public SlotCreationMark? CreatingSlot { get; set; }
}

/// <summary>A slot's creation begun and not yet recorded (see <see cref="SnapshotState.CreatingSlot"/>).</summary>
internal sealed class SlotCreationMark
{
    public required string Slot { get; set; }

    /// <summary>When CREATE_REPLICATION_SLOT was about to be sent (UTC).</summary>
    public required DateTime StartedUtc { get; set; }

    /// <summary>What the slot was made for, in words, for whoever reads the file or the log.</summary>
    public required string For { get; set; }

    /// <summary>
    /// The rest of the file is the state of the slot read before, found gone (<c>snapshot: when_needed</c> reads the tables again):
    /// kept, so that a start finding the mark still knows this pipeline read from a slot of that name. False: the file records
    /// nothing but the mark (a first start), and reads as no state file.
    /// </summary>
    public bool KeepsEarlierState { get; set; }
}

internal sealed class TableProgress
{
    public required string Table { get; set; }

    /// <summary>Read by the incremental (watermark) algorithm while streaming, not by the initial snapshot.</summary>
    public bool Incremental { get; set; }

    public bool Done { get; set; }

    /// <summary>
    /// Incremental snapshots only: who asked for it, as the log names it (<c>signal 'ID'</c>, <c>requested</c>); null in files
    /// written without it. A refusal at the next start still names the signal to correct.
    /// </summary>
    public string? Request { get; set; }

    /// <summary>
    /// Incremental snapshots only: the request's name in its rows' event ids (<see cref="Core.Changes.ChangeEvent.SnapshotRequest"/>),
    /// the same at every start that reads it on: <c>signal 'ID' at LSN</c> (the signal row's commit), <c>request GUID</c> for one
    /// made through the API. Null for the rest of the initial snapshot (named by the slot's consistent point), and in files
    /// written without it (named by <see cref="Request"/>).
    /// </summary>
    public string? RequestId { get; set; }

    /// <summary>Key values (text form, primary-key order) of the last acknowledged row; null: from the start.</summary>
    public string?[]? LastKey { get; set; }

    public long RowsDone { get; set; }

    /// <summary>
    /// Incremental snapshots only: the largest key when the table's snapshot started. Chunks stop there, so a
    /// table that keeps growing (an append-only audit log) still finishes; rows inserted later arrive by the stream.
    /// </summary>
    public string?[]? MaxKey { get; set; }
}
