namespace CdcPipeline.Postgres;

/// <summary>
/// ARCHITECTURE's <c>source.postgres</c> block, plus the knobs the embedded capture needs.
/// Only <see cref="ConnectionString"/>, <see cref="Publication"/> and <see cref="Slot"/> are required.
/// </summary>
public sealed record PostgresSourceOptions
{
    /// <summary>Npgsql connection string of the legacy database. Holds the password: never logged.</summary>
    public required string ConnectionString { get; init; }

    public required string Publication { get; init; }

    public required string Slot { get; init; }

    /// <summary>
    /// Tables to capture (<c>schema.table</c>). Used to create a missing publication and to filter
    /// events; empty means "every table in the publication" (a missing publication is then created FOR ALL TABLES).
    /// </summary>
    public IReadOnlyList<string> Tables { get; init; } = [];

    /// <summary>
    /// The pipeline's rule files: at start, a rule that reads the old row (<c>before.col</c>, <c>changed("col")</c>) of a captured
    /// table without REPLICA IDENTITY FULL is logged (event 1115), since PostgreSQL does not send what it reads.
    /// </summary>
    public IReadOnlyList<Core.Translation.Rules.TableRules> RuleFiles { get; init; } = [];

    public SnapshotMode Snapshot { get; init; } = SnapshotMode.Initial;

    /// <summary>Debezium's <c>source.name</c> (logical server name); defaults to the slot name.</summary>
    public string? Name { get; init; }

    public bool CreatePublicationIfMissing { get; init; } = true;

    public bool CreateSlotIfMissing { get; init; } = true;

    /// <summary>
    /// Where snapshot progress is kept (one small JSON file per slot) so an interrupted snapshot resumes
    /// from its last acknowledged chunk. Null: <c>.run/state</c> under the current directory.
    /// </summary>
    public string? StateDirectory { get; init; }

    /// <summary>
    /// The other conventional place of this slot's state file, checked at start when there is none in
    /// <see cref="StateDirectory"/>: <c>.run/state</c> beside the configuration file when StateDirectory is the default
    /// (under the working directory), or the configured relative stateDirectory taken under the working directory when it
    /// resolved beside the configuration file. A state file there refuses the start (a run from another working directory
    /// would otherwise lose what it records). Null: not checked.
    /// </summary>
    public string? OtherStateDirectory { get; init; }

    /// <summary>Where <c>stateDirectory</c> is (or would be) configured, as errors name it (<c>file:line</c>); null when unknown.</summary>
    public string? StateDirectorySetting { get; init; }

    /// <summary>Rows per snapshot chunk (keyset pagination on the primary key).</summary>
    public int SnapshotChunkSize { get; init; } = 10_000;

    /// <summary>
    /// How often a heartbeat (<c>pg_logical_emit_message(false, 'cdc-heartbeat', …)</c>) is written, so the slot
    /// advances even when only unpublished tables change. <see cref="TimeSpan.Zero"/> disables it.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// With heartbeats off (<see cref="HeartbeatInterval"/> zero), how often the slot's row of pg_replication_slots is read
    /// on the ordinary connection for the lag metric and the unreserved-slot warning (event 60), which heartbeats otherwise
    /// read. One minute: an unreserved slot is lost at the next checkpoint (checkpoint_timeout, 5 minutes by default), so the
    /// warning comes well before that for one one-row query a minute. <see cref="TimeSpan.Zero"/> disables it (then only a
    /// (re)connection reads the slot). Unused while heartbeats are on.
    /// </summary>
    public TimeSpan SlotCheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Emit <c>pg_logical_emit_message</c> messages (other than our own heartbeats/watermarks) as <c>m</c> events.</summary>
    public bool IncludeMessages { get; init; } = true;

    /// <summary>
    /// Ask PostgreSQL to stream transactions larger than its <c>logical_decoding_work_mem</c> while they are still
    /// in progress (protocol v2). A streamed transaction may still abort, so the capture holds its changes in
    /// memory until its STREAM COMMIT: memory grows with the largest such transaction. Off: PostgreSQL spills
    /// large transactions to its own disk (<c>pg_replslot</c>) and sends them whole at commit, and the capture
    /// hands those out change by change, in constant memory — at the price of the whole transaction being
    /// decoded before its first change arrives.
    /// </summary>
    public bool Streaming { get; init; } = true;

    /// <summary>
    /// The most changes of one streamed, still uncommitted transaction held in memory (0: no limit). Beyond it the
    /// source reconnects without streaming for the rest of its run, so that PostgreSQL spills that transaction to
    /// its own disk and sends it at commit; nothing is lost or repeated (the slot had not confirmed any of it).
    /// </summary>
    public int MaxStreamedTransactionChanges { get; init; } = 50_000;

    /// <summary>
    /// Debezium-style signal table (<c>schema.table</c> with columns id, type, data). An inserted row of type
    /// <c>execute-snapshot</c> with <c>{"data-collections":["public.t"]}</c> starts an incremental re-snapshot.
    /// The table must be in the publication. Null: no signal table.
    /// </summary>
    public string? SignalTable { get; init; }

    /// <summary>
    /// Tables (<c>schema.table</c>) whose unchanged TOASTed values are re-selected by key instead of being
    /// marked unavailable. The re-selected value is the row's value at read time, which may be NEWER than
    /// the change being emitted (a later transaction may have changed it already): consumers get a value
    /// that the column held at some point at or after the change, not necessarily the one it held then.
    /// </summary>
    public IReadOnlyList<string> ReselectToastTables { get; init; } = [];

    /// <summary>
    /// Debezium's <c>money.fraction.digits</c>: the decimal places of the database's currency. PostgreSQL stores MONEY
    /// as an integer count of the currency's minor unit and places the decimal point by its <c>lc_monetary</c>
    /// (2 for dollars and euros, 0 for yen or won); the capture reads the stored integer and applies this scale, so a
    /// yen database (<c>lc_monetary = ja_JP</c>) needs 0. Values are decimals with exactly this scale.
    /// </summary>
    public int MoneyFractionDigits { get; init; } = 2;

    /// <summary>First delay before reconnecting after the replication connection broke; doubles up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Give up after this many failed reconnects in a row (0: never give up).</summary>
    public int MaxReconnectAttempts { get; init; }

    internal string ServerName => Name ?? Slot;
}
