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
    /// (see <see cref="Origin"/>). The embedded path leaves it unset: its <see cref="Position"/> (commit LSN and
    /// index in the transaction) already is such a name.
    /// </summary>
    public bool NamedBySource { get; init; }

    /// <summary>
    /// What names this change whichever Kafka record carried it: server, database, table, <c>op</c>, the LSN of
    /// the change, its key and its row images. Kafka Connect delivers at least once — after a crash Debezium writes records again
    /// that Kafka already has, at new offsets — and a snapshot or a topic can be read again from elsewhere, so an
    /// offset does not name a change. The LSN alone does not either: the rows of one COPY (a multi-insert WAL
    /// record) share it, and so do the delete and the create of a primary-key change; the table, op, key and
    /// rows tell those apart. Null when <see cref="NamedBySource"/> is not set; then <see cref="Position"/> names the change.
    /// </summary>
    public string? Origin => NamedBySource ? _origin ??= ChangeOrigin.Of(this) : null;

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
    /// This change without its payload — row images, message, key-change rows and raw bytes — but with
    /// everything that says what and where it was (kind, operation, source, position, key, transaction,
    /// capture time). What a domain event made by a rule keeps: its data holds what the rule took from
    /// the rows, and an event waiting for delivery should not keep a whole row (a TOASTed memo, say) and
    /// its original bytes alive.
    /// </summary>
    public ChangeEvent Header() => new()
    {
        Kind = Kind,
        Operation = Operation,
        Source = Source,
        Position = Position,
        Key = Key,
        Transaction = Transaction,
        CapturedAt = CapturedAt,
        NamedBySource = NamedBySource,

        // Named now, while the rows it is named by are still here.
        _origin = Origin,
    };

    public override string ToString() => Json.CanonicalJson.Serialize(this);
}
