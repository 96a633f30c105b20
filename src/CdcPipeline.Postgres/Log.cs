using Microsoft.Extensions.Logging;

namespace CdcPipeline.Postgres;

/// <summary>Source-generated log messages of the embedded capture. LSNs are structured fields; connection strings never appear.</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Created publication {Publication} for {Tables}")]
    public static partial void PublicationCreated(ILogger logger, string publication, string tables);

    [LoggerMessage(1001, LogLevel.Information, "Created replication slot {Slot} at consistent point {ConsistentLsn}")]
    public static partial void SlotCreated(ILogger logger, string slot, string consistentLsn);

    // Logged before START_REPLICATION: the server may still refuse it (another process holds the slot: event 1037).
    [LoggerMessage(1002, LogLevel.Information, "Starting replication from slot {Slot} (publication {Publication}, confirmed flush {ConfirmedFlushLsn})")]
    public static partial void StreamingStarted(ILogger logger, string slot, string publication, string? confirmedFlushLsn);

    // PostgreSQL (before 17) writes a slot's confirmed_flush_lsn to disk only when its restart_lsn or xmin moves too: after the
    // server's restart the slot may stand before what was confirmed, and the walsender leaves the progress to the client.
    [LoggerMessage(1125, LogLevel.Information,
        "Resuming slot {Slot} at {ResumeLsn}, the position confirmed as its state file {StatePath} records; the server's slot stands at " +
        "{SlotLsn} (PostgreSQL may not have written a confirmation to disk before it restarted): the changes in between were delivered and are not read again")]
    public static partial void ResumingAheadOfSlot(ILogger logger, string slot, string resumeLsn, string statePath, string slotLsn);

    // The server resumes from the slot's confirmed_flush_lsn, or from the state file's confirmed position when the slot stands
    // before it (event 1125). An expected cause
    // (the server restarting, a network cut) is logged in one line without the trace below debug level: ExpectedLog.
    [LoggerMessage(1003, LogLevel.Warning, "Replication connection for slot {Slot} lost (attempt {Attempt}); reconnecting in {DelayMs} ms, it resumes from {ResumeFrom}")]
    public static partial void Reconnecting(ILogger logger, Exception exception, string slot, int attempt, long delayMs, string resumeFrom);

    // The start's checks (catalog, publication, slot, state file) before streaming: retried as event 1003 is, within maxReconnectAttempts.
    [LoggerMessage(1043, LogLevel.Warning, "Connection lost while replication slot {Slot} was starting, before streaming (attempt {Attempt}); starting again in {DelayMs} ms, its start-up checks included")]
    public static partial void StartConnectionLost(ILogger logger, Exception exception, string slot, int attempt, long delayMs);

    // The initial snapshot's reads (or the replication connection holding its exported snapshot) lost: the rest is read in this
    // process, after the last row handed out, within maxReconnectAttempts as 1003 and 1043.
    [LoggerMessage(1044, LogLevel.Warning, "Connection lost during the initial snapshot of slot {Slot} (attempt {Attempt}); in {DelayMs} ms the rest ({Tables}) is read {How}, after the last row handed out")]
    public static partial void SnapshotConnectionLost(ILogger logger, Exception exception, string slot, int attempt, long delayMs, string tables, string how);

    [LoggerMessage(1045, LogLevel.Information,
        "Replication slot {Slot} (confirmed flush {ConfirmedFlushLsn}) was created by the attempt whose connection was lost before its answer came: " +
        "its exported snapshot went unread with that connection and no state file records the slot, so the start dropped it, to create it again")]
    public static partial void UnrecordedSlotDropped(ILogger logger, string slot, string confirmedFlushLsn);

    [LoggerMessage(1046, LogLevel.Warning,
        "Replication slot {Slot} (confirmed flush {ConfirmedFlushLsn}) was created by a start that ended before the state file recorded it " +
        "(killed, or its node lost; {StatePath} marks the creation begun at {Started:O} for {For}): its exported snapshot ended with that process, " +
        "so the start dropped the slot, to create it again")]
    public static partial void SlotOfEndedStartDropped(ILogger logger, string slot, string confirmedFlushLsn, string statePath, DateTime started, string @for);

    [LoggerMessage(1037, LogLevel.Warning, "Replication slot {Slot} is in use by another process: {Holder} streams from it (attempt {Attempt}); retrying in {DelayMs} ms. {Fix}")]
    public static partial void SlotInUse(ILogger logger, string slot, string holder, int attempt, long delayMs, string fix);

    [LoggerMessage(1041, LogLevel.Warning, "Replication slot {Slot} cannot connect: every WAL sender of the server is busy, {Senders} (attempt {Attempt}); retrying in {DelayMs} ms. {Fix}")]
    public static partial void WalSendersBusy(ILogger logger, string slot, string senders, int attempt, long delayMs, string fix);

    [LoggerMessage(1039, LogLevel.Warning, "State file of slot {Slot} ({StatePath}) is held by another process: {Holder} (attempt {Attempt}); retrying in {DelayMs} ms, without touching it. {Fix}")]
    public static partial void StateFileInUse(ILogger logger, string slot, string statePath, string holder, int attempt, long delayMs, string fix);

    // Said at start, before any change: otherwise the first update dead-letters (changed() refuses to guess) or, with
    // before.col, the rule quietly sees null as the old value.
    [LoggerMessage(1115, LogLevel.Warning,
        "Rule {Rule} ({Location}) reads the old row of {Table} ({Reads}), but the table's REPLICA IDENTITY is {Identity}: PostgreSQL sends " +
        "{Sent}. changed() then fails and the change goes to the dead letters; before.<column> reads null. Run: {Fix} " +
        "(or cdcpipeline db prepare --replica-identity-full {Table}); changes written after it carry the whole old row")]
    public static partial void RuleNeedsOldRow(ILogger logger, string rule, string location, string table, string reads, string identity, string sent, string fix);

    // Said at start, before any change: otherwise the first change the rule meets fails on the column and is dead-lettered.
    [LoggerMessage(1116, LogLevel.Warning,
        "The {Rule} ({Location}) names {Columns}, which {Table} does not have (its columns: {TableColumns}): each change it is read on fails " +
        "and goes to the dead letters. Fix the rule file (or, for a column a migration is about to add, add it first)")]
    public static partial void RuleNamesMissingColumns(ILogger logger, string rule, string location, string columns, string table, string tableColumns);

    // Said at start, before any change: pgoutput sends no generated column, so the first change the rule reads it on fails.
    [LoggerMessage(1118, LogLevel.Warning,
        "The {Rule} ({Location}) names {Columns} of {Table}, generated (GENERATED ALWAYS AS … STORED), which pgoutput does not " +
        "send: each change it is read on fails and goes to the dead letters. Compute the value in the rule from the columns it " +
        "is generated from")]
    public static partial void RuleNamesGeneratedColumns(ILogger logger, string rule, string location, string columns, string table);

    // 1117 (an expression that fails on every change given the columns' types) is Core's RuleLog: the Kafka source says it too.

    [LoggerMessage(1004, LogLevel.Debug, "Acknowledged slot {Slot} up to {FlushLsn}")]
    public static partial void Acknowledged(ILogger logger, string slot, string flushLsn);

    [LoggerMessage(1005, LogLevel.Warning,
        "Table {Table} has no primary key and REPLICA IDENTITY is not FULL: its updates and deletes carry no key and no before image " +
        "(and PostgreSQL rejects UPDATE/DELETE on it while it is published for them). Run: ALTER TABLE {Table} REPLICA IDENTITY FULL;")]
    public static partial void NoReplicaIdentity(ILogger logger, string table);

    // 1005 reads the partitioned table's own identity; the partitions' is what PostgreSQL checks and logs (db check's "key" finding)
    [LoggerMessage(62, LogLevel.Warning,
        "Partitioned table {Table} has partitions without a replica identity (no primary key and REPLICA IDENTITY DEFAULT, or NOTHING): {Partitions}. " +
        "ALTER TABLE … REPLICA IDENTITY on {Table} does not reach its partitions, and PostgreSQL checks the partition an UPDATE/DELETE touches: " +
        "their updates and deletes carry no key and no before image (and PostgreSQL rejects UPDATE/DELETE on them while the table is published for them). " +
        "Run: {Fix} (a partition attached later needs it too)")]
    public static partial void PartitionsWithoutReplicaIdentity(ILogger logger, string table, string partitions, string fix);

    // not 1007's ALTER PUBLICATION … ADD TABLE: PostgreSQL refuses an unlogged table in a publication
    [LoggerMessage(64, LogLevel.Warning,
        "Table {Table} is configured but UNLOGGED: PostgreSQL writes none of its changes to the WAL, so they cannot arrive, and no publication may hold it " +
        "(publication {Publication} does not). Remove it from source.postgres.tables; or, to capture it, run: ALTER TABLE {Table} SET LOGGED; " +
        "(it rewrites the whole table and writes it all to the WAL under an ACCESS EXCLUSIVE lock, so the application waits: a maintenance window)")]
    public static partial void TableUnlogged(ILogger logger, string table, string publication);

    [LoggerMessage(1007, LogLevel.Warning, "Table {Table} is configured but not in publication {Publication}: its changes will not arrive. Run: ALTER PUBLICATION {Publication} ADD TABLE {Table};")]
    public static partial void TableNotPublished(ILogger logger, string table, string publication);

    [LoggerMessage(1034, LogLevel.Warning,
        "Partitioned table {Table} is configured but publication {Publication} holds it only through its partitions (it lacks publish_via_partition_root): " +
        "PostgreSQL sends its changes under the partitions' names, which source.postgres.tables does not list, so they do not arrive. Run: {Fix};")]
    public static partial void TablePublishedViaPartitions(ILogger logger, string table, string publication, string fix);

    [LoggerMessage(1031, LogLevel.Error,
        "Table {Table} was taken out of publication {Publication} while streaming: its changes are not sent, and replication slot {Slot} moves past them " +
        "with the other tables' acknowledgements. Its changes written from {SinceLsn} (the last check that found it published) on, seen missing at {CheckedLsn}, " +
        "are lost to the stream even once it is added again (PostgreSQL decodes each change with the publication of its time). The other tables go on. " +
        "If it was not meant to leave: {Fix}")]
    public static partial void TableLeftPublication(ILogger logger, string table, string publication, string slot, string sinceLsn, string checkedLsn, string fix);

    [LoggerMessage(1032, LogLevel.Information, "Table {Table} is in publication {Publication} again (seen at {CheckedLsn}): its changes stream from there on; those written since {SinceLsn} did not arrive: {Fix}")]
    public static partial void TablePublishedAgain(ILogger logger, string table, string publication, string sinceLsn, string checkedLsn, string fix);

    [LoggerMessage(1033, LogLevel.Error,
        "Captured table {Configured} arrives as {Current} in replication slot {Slot}: it was renamed, and publication {Publication} lists tables by oid, " +
        "not by name. {Effect} {Now} {Fix}")]
    public static partial void CapturedTableRenamed(ILogger logger, string configured, string current, string slot, string publication, string effect, string now, string fix);

    [LoggerMessage(1035, LogLevel.Error,
        "Captured table {Table} no longer exists: it was dropped between {SinceLsn} ({Since}) and {CheckedLsn}. " +
        "Replication slot {Slot} has no more changes of it to send, and a table created again under that name is another one, not in publication " +
        "{Publication}: its changes do not arrive. The other tables go on. {Fix}")]
    public static partial void CapturedTableDropped(ILogger logger, string table, string sinceLsn, string since, string checkedLsn, string slot, string publication, string fix);

    [LoggerMessage(1036, LogLevel.Information,
        "Captured table {Configured} was renamed back from {Previous} and arrives under its configured name again in replication slot {Slot}: " +
        "its changes stream from here on. {Effect} {Fix}")]
    public static partial void CapturedTableRenamedBack(ILogger logger, string configured, string previous, string slot, string effect, string fix);

    [LoggerMessage(1040, LogLevel.Information,
        "Captured table {Configured} is published as another table now (oid {Oid}; the one followed so far, oid {PreviousOid}, is {Previous}): " +
        "seen at {SeenLsn}, its changes stream under {Configured} from there on. Those written before it was in publication {Publication} did not arrive: {Fix}")]
    public static partial void CapturedNameFollowsAnotherTable(ILogger logger, string configured, string oid, string previousOid, string previous, string seenLsn, string publication, string fix);

    [LoggerMessage(1006, LogLevel.Information, "Schema of {Table} changed: now {ColumnCount} columns ({Columns})")]
    public static partial void RelationChanged(ILogger logger, string table, int columnCount, string columns);

#pragma warning disable SYSLIB1015 // EstimatedRows: a number in the record (-1: unknown), as for 1011
    [LoggerMessage(1010, LogLevel.Information, "Snapshot of {Table} started: {ExpectedRows}, chunks of {ChunkSize}")]
    private static partial void SnapshotTableStartedLine(ILogger logger, string table, string expectedRows, int chunkSize, long EstimatedRows);
#pragma warning restore SYSLIB1015

    /// <summary>Event 1010: "about N rows", or "row count unknown (never analysed)" for a table PostgreSQL has not estimated (<paramref name="estimatedRows"/> -1).</summary>
    public static void SnapshotTableStarted(ILogger logger, string table, long estimatedRows, int chunkSize)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            SnapshotTableStartedLine(logger, table, estimatedRows < 0
                ? "row count unknown (never analysed)"
                : "about " + estimatedRows.ToString(System.Globalization.CultureInfo.InvariantCulture) + " rows",
                chunkSize, estimatedRows);
        }
    }

    // EstimatedRows stays a number in the record (-1: unknown), as it was before the text said so: a field, not words.
#pragma warning disable SYSLIB1015
    [LoggerMessage(1011, LogLevel.Information, "Snapshot of {Table}: {RowsDone} of {ExpectedRows} rows")]
    private static partial void SnapshotProgressLine(ILogger logger, string table, long rowsDone, string expectedRows, long EstimatedRows);
#pragma warning restore SYSLIB1015

    /// <summary>Event 1011, per chunk: "N of about M rows", or "N of an unknown number of rows" for a table PostgreSQL has not estimated (<paramref name="estimatedRows"/> -1, as event 1010 says).</summary>
    public static void SnapshotProgress(ILogger logger, string table, long rowsDone, long estimatedRows)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            SnapshotProgressLine(logger, table, rowsDone, estimatedRows < 0
                ? "an unknown number of"
                : "about " + Math.Max(rowsDone, estimatedRows).ToString(System.Globalization.CultureInfo.InvariantCulture),
                estimatedRows < 0 ? -1 : Math.Max(rowsDone, estimatedRows));
        }
    }

#pragma warning disable SYSLIB1015
    [LoggerMessage(1051, LogLevel.Information, "Snapshot of {Table} resumed ({Request}): {RowsDone} of {ExpectedRows} rows were acknowledged before, reading on after key {LastKey}")]
    private static partial void IncrementalSnapshotResumedLine(ILogger logger, string table, string request, long rowsDone, string expectedRows, string lastKey, long EstimatedRows);
#pragma warning restore SYSLIB1015

    /// <summary>Event 1051: a table's incremental snapshot read on from the state file's last acknowledged chunk, with its progress as 1011 gives it.</summary>
    public static void IncrementalSnapshotResumed(ILogger logger, string table, string request, long rowsDone, long estimatedRows, string?[]? lastKey)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            IncrementalSnapshotResumedLine(logger, table, request, rowsDone, estimatedRows < 0
                ? "an unknown number of"
                : "about " + Math.Max(rowsDone, estimatedRows).ToString(System.Globalization.CultureInfo.InvariantCulture),
                lastKey is null ? "(none: from the start)" : "(" + string.Join(", ", lastKey.Select(k => k ?? "null")) + ")",
                estimatedRows < 0 ? -1 : Math.Max(rowsDone, estimatedRows));
        }
    }

    [LoggerMessage(1012, LogLevel.Information, "Snapshot of {Table} done: {RowsDone} rows")]
    public static partial void SnapshotTableDone(ILogger logger, string table, long rowsDone);

    [LoggerMessage(1013, LogLevel.Information, "Resuming interrupted snapshot of slot {Slot} (consistent point {ConsistentLsn}): {Tables} still to read, as incremental chunks while streaming")]
    public static partial void SnapshotResuming(ILogger logger, string slot, string consistentLsn, string tables);

    [LoggerMessage(1038, LogLevel.Information, "State file of slot {Slot}: {StatePath} ({StateFileStatus}); it records snapshot progress and the position confirmed to the slot")]
    public static partial void StateFile(ILogger logger, string slot, string statePath, string stateFileStatus);

    [LoggerMessage(1018, LogLevel.Information, "Snapshot (initial_only) of slot {Slot} completed in an earlier run ({StatePath}): nothing to read. Delete that file to snapshot the tables again (its .lock and .lock.owner files beside it hold no state and may go with it)")]
    public static partial void InitialOnlyAlreadyCompleted(ILogger logger, string slot, string statePath);

    [LoggerMessage(1014, LogLevel.Information, "Incremental snapshot of {Table} requested ({Reason})")]
    public static partial void IncrementalSnapshotRequested(ILogger logger, string table, string reason);

    [LoggerMessage(1015, LogLevel.Warning, "Table {Table} has no primary key: its snapshot is read in one piece and restarts from its beginning if interrupted")]
    public static partial void SnapshotWithoutKey(ILogger logger, string table);

    [LoggerMessage(1016, LogLevel.Warning, "Ignoring signal '{SignalId}' of type '{SignalType}': {Reason}")]
    public static partial void SignalIgnored(ILogger logger, string signalId, string signalType, string reason);

    // Debezium's log signal: its data's "message", "{}" in it replaced by the position (Debezium puts its offset there).
    [LoggerMessage(1050, LogLevel.Information, "Signal '{SignalId}' (log) at {Lsn}: {SignalMessage}")]
    public static partial void SignalLogged(ILogger logger, string signalId, string lsn, string signalMessage);

    [LoggerMessage(1017, LogLevel.Warning, "Incremental snapshot chunk of {Table} failed; retrying")]
    public static partial void IncrementalChunkFailed(ILogger logger, Exception exception, string table);

    [LoggerMessage(1027, LogLevel.Warning, "Incremental snapshot of {Table} ({Request}) refused: {Reason}. Captured tables: {CapturedTables}. The other queued tables go on; correct the name or the capture and request it again")]
    public static partial void IncrementalSnapshotRefused(ILogger logger, string table, string request, string reason, string capturedTables);

    [LoggerMessage(1028, LogLevel.Warning, "Incremental snapshot of {Table} skipped: the table was dropped while its snapshot ran ({RowsDone} rows acknowledged before; {Detail}). The other queued tables go on")]
    public static partial void IncrementalSnapshotTableGone(ILogger logger, string table, long rowsDone, string detail);

    [LoggerMessage(1029, LogLevel.Warning, "Could not check the tables queued for an incremental snapshot against the publication; they wait and are checked again")]
    public static partial void IncrementalSnapshotCheckFailed(ILogger logger, Exception exception);

    [LoggerMessage(1020, LogLevel.Warning, "Heartbeat for slot {Slot} failed; retrying next interval")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception, string slot);

    [LoggerMessage(1021, LogLevel.Debug, "Streamed transaction {Xid} aborted (subtransaction {SubXid}): {Discarded} buffered changes discarded")]
    public static partial void StreamAborted(ILogger logger, uint xid, uint subXid, int discarded);

    [LoggerMessage(1022, LogLevel.Debug, "Skipping transaction at {CommitLsn} already delivered before the reconnect")]
    public static partial void SkippingRedelivered(ILogger logger, string commitLsn);

    [LoggerMessage(1023, LogLevel.Warning, "Streamed transaction {Xid} holds {Changes} changes, more than maxStreamedTransactionChanges ({Limit}): reconnecting slot {Slot} without streaming for the rest of this run, so that PostgreSQL spills large transactions itself and sends them at commit")]
    public static partial void StreamingFallback(ILogger logger, uint xid, int changes, int limit, string slot);

    [LoggerMessage(1024, LogLevel.Warning, "Replication slot {Slot} does not exist, but this pipeline read from it (confirmed up to {StoredLsn}, state file {StatePath}); snapshot: when_needed: creating it again and reading the tables again. Rows deleted since then, and states passed through, are not seen")]
    public static partial void SlotGoneResnapshotting(ILogger logger, string slot, string storedLsn, string statePath);

    [LoggerMessage(1030, LogLevel.Warning, "Publication {Publication} did not exist and was created now (createPublicationIfMissing), but replication slot {Slot} resumes before that: the changes written from {ResumeLsn} to {CreatedLsn} while it was missing cannot be streamed (PostgreSQL 18 and later skip them; earlier versions stop the capture at the first of them)")]
    public static partial void PublicationCreatedBehindSlot(ILogger logger, string publication, string slot, string resumeLsn, string createdLsn);

    [LoggerMessage(1025, LogLevel.Warning, "Could not record the confirmed position in the state file {StatePath}; retrying at the next heartbeat")]
    public static partial void StateSaveFailed(ILogger logger, Exception exception, string statePath);

    [LoggerMessage(1042, LogLevel.Debug, "State file of slot {Slot} ({StatePath}) already let go: save {Version} dropped (the last written was {Written}); the next owner reads from the last written state, so what it carried is delivered again, never lost")]
    public static partial void StateSaveDroppedAfterRelease(ILogger logger, string slot, string statePath, long version, long written);

    [LoggerMessage(60, LogLevel.Warning, "Replication slot '{Slot}' is wal_status unreserved: it retains {Retained} of WAL, more than max_slot_wal_keep_size ({Limit}) allows (safe_wal_size {SafeWalSize}, lag {Lag}), so the next checkpoint removes WAL it still needs and the slot is lost: the pipeline then stops until the slot is dropped and the tables are read again. Acknowledgements are {HeldBy}. Before the next checkpoint: {Fix}, or raise the limit: ALTER SYSTEM SET max_slot_wal_keep_size = '<more than the WAL it retains>'; SELECT pg_reload_conf();")]
    public static partial void SlotUnreserved(ILogger logger, string slot, string retained, string limit, string safeWalSize, string lag, string heldBy, string fix);

    [LoggerMessage(61, LogLevel.Warning, "Slot check for slot {Slot} (wal_status and lag, heartbeats off) failed; retrying next interval")]
    public static partial void SlotCheckFailed(ILogger logger, Exception exception, string slot);

    // 61 is said once while the same failure lasts: this ends it
    [LoggerMessage(63, LogLevel.Information, "Slot check for slot {Slot} works again, after {Failures} failed checks")]
    public static partial void SlotCheckWorksAgain(ILogger logger, string slot, int failures);
}
