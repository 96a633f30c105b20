namespace CdcPipeline.Core.Changes;

/// <summary>
/// One record from a capture path, whichever path produced it (Debezium through Kafka, or the
/// embedded pgoutput reader): a row change, a tombstone, a heartbeat, a transaction boundary or a
/// logical message. Immutable.
/// </summary>
public sealed class ChangeEvent
{
    private string? _origin;

    public required ChangeKind Kind { get; init; }

    /// <summary>The <c>op</c> of a <see cref="ChangeKind.Change"/> or <see cref="ChangeKind.Message"/>; null otherwise.</summary>
    public ChangeOperation? Operation { get; init; }

    public required SourceInfo Source { get; init; }

    /// <summary>Where the record sits in its source: what the pipeline acknowledges.</summary>
    public required SourcePosition Position { get; init; }

    /// <summary>The row key (primary key or replica identity columns); for a tombstone, the deleted key (null for a table without one).</summary>
    public Row? Key { get; init; }

    /// <summary>The old image: complete only with REPLICA IDENTITY FULL, else the key columns (or null).</summary>
    public Row? Before { get; init; }

    public Row? After { get; init; }

    public TransactionInfo? Transaction { get; init; }

    public LogicalMessage? Message { get; init; }

    /// <summary>
    /// Set when an update changed the primary key: Debezium then emits a delete carrying the new key
    /// (<c>__debezium.newkey</c> header) and a create carrying the old one (<c>__debezium.oldkey</c>).
    /// </summary>
    public Row? NewKey { get; init; }

    public Row? OldKey { get; init; }

    /// <summary>
    /// Set by the Debezium decoders when the change's <c>source</c> block names it in the database's history
    /// (see <see cref="Origin"/>). The embedded path leaves it unset: the <see cref="Position"/> of a streamed change
    /// (commit LSN and index in the transaction) already is such a name; a snapshot row has <see cref="SnapshotRequest"/>.
    /// </summary>
    public bool NamedBySource { get; init; }

    /// <summary>
    /// Set by the embedded path on a snapshot row (<c>op: r</c>): the snapshot it was read for, named so that the same
    /// request reads to the same text after a restart (<c>signal 'ID' at LSN</c>, an API request's id, the initial snapshot
    /// of the slot's consistent point). Such a row's <see cref="Position"/> is where the chunk was delivered (a watermark, or
    /// the initial snapshot's ordinal), which a chunk read again after a stop does not keep; its <see cref="Origin"/> is made
    /// of this, the slot, the table, the key and the row instead (<see cref="ChangeOrigin.OfSnapshotRow"/>).
    /// </summary>
    public string? SnapshotRequest { get; init; }

    /// <summary>
    /// What names this change whichever Kafka record carried it: server, database, table, <c>op</c>, the LSN of
    /// the change, its key and its row images. Kafka Connect delivers at least once — after a crash Debezium writes records again
    /// that Kafka already has, at new offsets — and a snapshot or a topic can be read again from elsewhere, so an
    /// offset does not name a change. The LSN alone does not either: the rows of one COPY (a multi-insert WAL
    /// record) share it, and so do the delete and the create of a primary-key change; the table, op, key and
    /// rows tell those apart. An embedded snapshot row with a key is named by its <see cref="SnapshotRequest"/>, table, key
    /// and row (the same row read again for the same request keeps its name). Null otherwise; then <see cref="Position"/>
    /// names the change. Made on first read; a change read back from a dead letter gets the name recorded there (init).
    /// </summary>
    public string? Origin
    {
        get => _origin ??= NamedBySource ? ChangeOrigin.Of(this)
            : SnapshotRequest is { } request && Key is not null ? ChangeOrigin.OfSnapshotRow(this, request)
            : null;
        init => _origin = value;
    }

    /// <summary>When the capture path created the record (Debezium's envelope <c>ts_ms</c>).</summary>
    public UtcTimestamp? CapturedAt { get; init; }

    /// <summary>The original bytes (a Kafka value, say), kept for dead letters; null when not retained.</summary>
    public ReadOnlyMemory<byte>? Raw { get; init; }

    /// <summary>
    /// The original key bytes (a Kafka key), kept with <see cref="Raw"/>: a dead letter redriven without its key
    /// would be refused by a compacted topic and land on an arbitrary partition. Null when not retained or keyless.
    /// </summary>
    public ReadOnlyMemory<byte>? RawKey { get; init; }

    /// <summary>The original record's headers (Kafka), kept with <see cref="Raw"/> so a redriven dead letter carries them again.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]?>>? RawHeaders { get; init; }

    /// <summary>
    /// What a domain event made by a rule (or by the outbox) keeps of its change while it waits for delivery: kind, operation,
    /// position, transaction, capture time, and <paramref name="source"/> in place of <see cref="Source"/> — one
    /// <see cref="SourceInfo.WithoutRecordFields"/> shared by the changes of a table (see there). Not the rows,
    /// message, key or raw bytes, nor the change's name (<see cref="Origin"/>): the event's id was made from them
    /// and its data holds what the rule took from the rows; no sink or dead letter reads them from the event
    /// afterwards. Events wait for their acknowledgements in hundreds, long enough to outlive a gen0 collection,
    /// so every byte kept here is promoted (a TOASTed memo would be kilobytes).
    /// </summary>
    public ChangeEvent Header(SourceInfo source) => new()
    {
        Kind = Kind,
        Operation = Operation,
        Source = source,
        Position = Position,
        Transaction = Transaction,
        CapturedAt = CapturedAt,
    };

    public override string ToString() => Json.CanonicalJson.Serialize(this);
}
