using System.Globalization;
using System.Runtime.ExceptionServices;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Postgres.Capture;
using CdcPipeline.Postgres.Setup;
using CdcPipeline.Postgres.Types;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CdcPipeline.Postgres.Snapshot;

/// <summary>
/// Re-reads tables in primary-key chunks WHILE the stream keeps flowing, without losing or reordering changes
/// for a key: the watermark algorithm of Netflix's DBLog, which Debezium's incremental snapshots also use.
/// <para>
/// For each chunk: write a LOW watermark into the WAL (a non-transactional logical message), SELECT the chunk
/// (read committed, now), write a HIGH watermark. The stream reader sees both watermarks in WAL order. Every
/// change committed between them touches rows the SELECT may or may not have seen; so the reader drops from the
/// chunk every key that a change between LOW and HIGH touched (the stream delivers that key's newer state itself),
/// and at HIGH emits the remaining rows. A chunk row that survives was not changed between LOW and HIGH, so its
/// value is at least as new as every change emitted before it and older than every change emitted after it:
/// per key, versions stay in commit order.
/// </para>
/// <para>
/// PostgreSQL writes a transaction's COMMIT record before it shows the transaction as ended to new snapshots, so a
/// change the stream delivered before LOW may still be invisible to the chunk's snapshot (a committing backend not
/// yet scheduled again, a commit waiting for a synchronous standby). The reader therefore notes the transactions it
/// delivered before LOW, and a chunk whose snapshot does not see one of them is not emitted but read again.
/// </para>
/// <para>
/// The same machinery resumes an interrupted INITIAL snapshot. The exported snapshot of the slot's consistent
/// point died with the crashed process, and reading the remaining chunks at a fresh snapshot before streaming
/// would emit rows newer than the changes the slot then replays from its consistent point (a key would go
/// v2, v1, v2). Reading the remaining chunks as incremental chunks after the replay has caught up to the
/// watermarks keeps per-key order, and nothing is lost: every row is either in a chunk or changed in the stream.
/// </para>
/// Progress (the last key of each ACKNOWLEDGED chunk) goes into the snapshot state file, so this also resumes.
/// <para>
/// What retrying cannot fix does not hold up the queue (as Debezium skips a table it has no schema for): a queued
/// table that does not exist or is not captured is refused before its first chunk, a table dropped while its
/// snapshot runs is finished as skipped, and a table the capture user may not read stops the capture (at its
/// chunk's HIGH watermark, in stream order) with the GRANT to run. Other chunk failures (a lost connection) retry.
/// </para>
/// </summary>
/// <param name="publication">The publication the capture streams: a table outside it is not captured.</param>
/// <param name="tableFilter">The configured tables (<c>source.postgres.tables</c>), or null for every table of the publication.</param>
/// <param name="signalTable">The signal table, which is never snapshotted.</param>
internal sealed class IncrementalSnapshotter(
    NpgsqlDataSource dataSource,
    PgTypeCatalog types,
    SnapshotStateStore store,
    SnapshotState state,
    int chunkSize,
    string publication,
    IReadOnlySet<string>? tableFilter,
    string? signalTable,
    ILogger logger)
{
    public const string WatermarkPrefix = "cdc-watermark";

    // The state's own lock (one for every writer and reader of the state), which also guards the fields below.
    private readonly Lock _lock = store.Sync;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Dictionary<TableProgress, (string?[]? LastKey, bool Done)> _cursors = [];

    // Queued tables found captured and existing (by reference: the same table may be queued twice); only these are read.
    private readonly HashSet<TableProgress> _checked = new(ReferenceEqualityComparer.Instance);
    private long _nextChunkId = DateTime.UtcNow.Ticks;
    private Chunk? _inflight;

    // The transactions the stream delivered (guarded by _lock): the newest xid, and the last RecentXidCount xids.
    private const int RecentXidCount = 4096;
    private readonly uint[] _recentXids = new uint[RecentXidCount];
    private int _recentNext;
    private uint _lastXid;
    private uint _newestXid;

    private sealed class Chunk(long id, TableProgress progress)
    {
        public long Id { get; } = id;
        public TableProgress Progress { get; } = progress;
        public SnapshotTable? Table { get; set; }
        public List<SnapshotRow>? Rows { get; set; }
        public HashSet<string> Touched { get; } = new(StringComparer.Ordinal);
        public bool WindowOpen { get; set; }
        public bool Truncated { get; set; }

        /// <summary>The snapshot the chunk was read in.</summary>
        public ChunkSnapshot? Snapshot { get; set; }

        /// <summary>At LOW: the newest xid and the recent xids of the transactions the stream delivered before it.</summary>
        public uint NewestXidAtLow { get; set; }

        public HashSet<uint>? RecentXidsAtLow { get; set; }

        /// <summary>
        /// What makes the chunk fail however often it is read (a value that cannot be converted, no SELECT privilege):
        /// the HIGH watermark throws it instead of releasing rows.
        /// </summary>
        public Exception? Failure { get; set; }
    }

    /// <summary>
    /// The rows a HIGH watermark releases, the name of the snapshot they were read for (<see cref="SnapshotState.RequestOf"/>),
    /// and what to persist once they are acknowledged.
    /// </summary>
    public sealed record ChunkResult(SnapshotTable Table, IReadOnlyList<SnapshotRow> Rows, string Request, Action OnAcknowledged);

    public bool HasPendingWork
    {
        get
        {
            lock (_lock)
            {
                return state.Tables.Any(t => t.Incremental && !t.Done);
            }
        }
    }

    /// <summary>The tables whose start (1010) or resumption (1051) this process has logged: once each, a retried chunk not again.</summary>
    private readonly HashSet<TableProgress> _announced = [];

    /// <summary>The tables queued by this process (<see cref="Enqueue"/>); the others come from the state file: resumed, even at 0 rows.</summary>
    private readonly HashSet<TableProgress> _requestedHere = [];

    private bool RequestedHere(TableProgress progress)
    {
        lock (_lock)
        {
            return _requestedHere.Contains(progress);
        }
    }

    /// <summary>
    /// Queues a table (again); its chunks start once the current chunk is done. <paramref name="requestId"/> names the request
    /// in its rows' event ids (<see cref="TableProgress.RequestId"/>): the same at every start, and another for another request.
    /// </summary>
    public void Enqueue(string table, string reason, string requestId)
    {
        SnapshotStateStore.Pending save;
        lock (_lock)
        {
            var progress = new TableProgress { Table = table, Incremental = true, Request = reason, RequestId = requestId };
            state.Tables.Add(progress);
            _requestedHere.Add(progress);
            save = store.Capture(state);
        }

        store.Write(save);
        Log.IncrementalSnapshotRequested(logger, table, reason);
        _wake.Release();
    }

    /// <summary>
    /// Reads <paramref name="table"/> on from <paramref name="handedOut"/>, not from its acknowledged key: an initial snapshot
    /// lost its connection after handing out the rows up to there, which are on their way.
    /// </summary>
    public void ContinueAfter(TableProgress table, string?[]? handedOut)
    {
        lock (_lock)
        {
            _cursors[table] = (handedOut, false);
        }
    }

    /// <summary>The producer: writes watermarks and selects chunks, one chunk in flight at a time.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var tables = new Dictionary<string, SnapshotTable>(StringComparer.Ordinal);
        while (!cancellationToken.IsCancellationRequested)
        {
            await _wake.WaitAsync(TimeSpan.FromSeconds(1), cancellationToken);
            await CheckQueuedTablesAsync(cancellationToken);
            Chunk chunk;
            string?[]? after;
            lock (_lock)
            {
                var next = state.Tables.FirstOrDefault(t => t.Incremental && !t.Done && _checked.Contains(t) && !(_cursors.TryGetValue(t, out var c) && c.Done));
                if (_inflight is not null || next is null)
                {
                    continue;
                }

                chunk = new Chunk(++_nextChunkId, next);
                after = _cursors.TryGetValue(next, out var cursor) ? cursor.LastKey : next.LastKey;
                _inflight = chunk;
            }

            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

                // Each chunk is read with the table's definition at that moment, as the stream's rows around it carry it
                // (pgoutput sends a RELATION message after an ALTER TABLE): a column added since the table was described
                // is in the chunk's rows, a dropped one is not selected. One small catalog query per chunk checks it.
                var signature = await SnapshotTable.ReadSignatureAsync(connection, chunk.Progress.Table, cancellationToken);
                if (!tables.TryGetValue(chunk.Progress.Table, out var table) || !string.Equals(table.Signature, signature, StringComparison.Ordinal))
                {
                    table = await SnapshotTable.DescribeAsync(connection, types, chunk.Progress.Table, cancellationToken);
                    tables[chunk.Progress.Table] = table;
                }

                chunk.Table = table;
                if (_announced.Add(chunk.Progress))
                {
                    if (after is null && chunk.Progress.RowsDone == 0 && RequestedHere(chunk.Progress))
                    {
                        // The operator who sent the signal sees it start and move (1011 per chunk) as an initial snapshot does.
                        Log.SnapshotTableStarted(logger, table.QualifiedName, table.EstimatedRows, chunkSize);
                        PostgresMetrics.ReportSnapshotRows(state.Slot, table.QualifiedName, 0, table.EstimatedRows);
                    }
                    else
                    {
                        // Begun by an earlier run (or an initial snapshot whose connection was lost): say whose, from where.
                        Log.IncrementalSnapshotResumed(logger, table.QualifiedName, chunk.Progress.Request ?? "the rest of the initial snapshot",
                            chunk.Progress.RowsDone, table.EstimatedRows, after);
                        PostgresMetrics.ReportSnapshotRows(state.Slot, table.QualifiedName, chunk.Progress.RowsDone, table.EstimatedRows);
                    }
                }

                await EmitWatermarkAsync(connection, "L", chunk.Id, cancellationToken);
                List<SnapshotRow>? rows = null;
                ChunkSnapshot? snapshot = null;
                Exception? permanent = null;
                try
                {
                    var upTo = chunk.Progress.MaxKey;
                    if (upTo is null && table.HasKey && after is null)
                    {
                        // The bound is taken when the table's snapshot starts (before its first chunk).
                        upTo = await table.ReadMaxKeyAsync(connection, cancellationToken);
                        lock (_lock)
                        {
                            chunk.Progress.MaxKey = upTo;
                        }
                    }

                    (rows, snapshot) = await ReadChunkInSnapshotAsync(connection, table, after, upTo, cancellationToken);
                }
                catch (ColumnValueException e)
                {
                    if (!string.Equals(await SnapshotTable.ReadSignatureAsync(connection, table.QualifiedName, cancellationToken), table.Signature, StringComparison.Ordinal))
                    {
                        // Not the value: the column's type changed between the check above and the SELECT. Read the chunk again.
                        throw new InvalidOperationException($"incremental snapshot of {table.QualifiedName}: the table was altered while a chunk was read; the chunk is read again with its new definition", e);
                    }

                    // The row holds the value: reading the chunk again cannot succeed. The failure goes to the reader with
                    // the HIGH watermark and stops the capture there, in stream order, as a streamed value would.
                    permanent = e;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                {
                    // Only a GRANT helps; the transaction rolled back, so the connection still writes the HIGH watermark.
                    permanent = NoSelectPrivilege(table.QualifiedName, connection.UserName, e);
                }

                lock (_lock)
                {
                    chunk.Rows = rows;
                    chunk.Snapshot = snapshot;
                    chunk.Failure = permanent;
                }

                await EmitWatermarkAsync(connection, "H", chunk.Id, cancellationToken);
                if (permanent is not null)
                {
                    return; // no further chunks: the capture stops at this chunk's HIGH watermark
                }
            }
            catch (PostgresException e) when (!cancellationToken.IsCancellationRequested && IsGone(e))
            {
                // Dropped (or its schema dropped) while its snapshot ran: no chunk of it can be read any more.
                tables.Remove(chunk.Progress.Table); // a table created again under the name is described afresh
                SnapshotStateStore.Pending save;
                lock (_lock)
                {
                    _cursors[chunk.Progress] = (_cursors.TryGetValue(chunk.Progress, out var c) ? c.LastKey : chunk.Progress.LastKey, true);
                    chunk.Progress.Done = true;
                    save = store.Capture(state);
                    _inflight = null;
                }

                store.Write(save);

                Log.IncrementalSnapshotTableGone(logger, chunk.Progress.Table, chunk.Progress.RowsDone, e.MessageText);
                _wake.Release();
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                Log.IncrementalChunkFailed(logger, e, chunk.Progress.Table);
                lock (_lock)
                {
                    _inflight = null;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                _wake.Release();
            }
        }
    }

    private static bool IsGone(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName;

    private static CaptureStoppedException NoSelectPrivilege(string table, string? user, PostgresException e)
    {
        var grantee = user is null ? "<capture user>" : ReplicationSetup.QuoteIdentifier(user);
        return new CaptureStoppedException(
            $"incremental snapshot of {table}: the capture user {grantee} may not read the table ({e.MessageText}, SQLSTATE {e.SqlState}); " +
            $"retrying cannot help: run GRANT SELECT ON {ReplicationSetup.QuoteTable(table)} TO {grantee}; then start again " +
            "(the snapshot resumes after its last acknowledged chunk)",
            e);
    }

    /// <summary>
    /// Refuses, before their first chunk, the queued tables that no chunk can ever be read of: one that does not
    /// exist, or is not captured (outside the publication or the configured tables, or the signal table). Checked
    /// against the database now, so a table just added to the publication is accepted. A refused table leaves the
    /// queue (and the state file) with a warning naming the captured tables; the rest of the queue goes on.
    /// </summary>
    private async Task CheckQueuedTablesAsync(CancellationToken cancellationToken)
    {
        List<TableProgress> queued;
        lock (_lock)
        {
            queued = state.Tables.Where(t => t.Incremental && !t.Done && !_checked.Contains(t)).ToList();
        }

        if (queued.Count == 0)
        {
            return;
        }

        try
        {
            var published = (await ReplicationSetup.GetPublicationTablesAsync(dataSource, publication, cancellationToken)).ToHashSet(StringComparer.Ordinal);
            var captured = published.Where(t => t != signalTable && (tableFilter is null || tableFilter.Contains(t))).Order(StringComparer.Ordinal).ToList();
            foreach (var progress in queued)
            {
                var name = progress.Table;
                string? reason = null;
                if (!captured.Contains(name, StringComparer.Ordinal))
                {
                    await using var cmd = dataSource.CreateCommand("SELECT pg_catalog.to_regclass($1) IS NOT NULL");
                    cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ReplicationSetup.QuoteTable(name) });
                    reason = !(bool)(await cmd.ExecuteScalarAsync(cancellationToken))! ? "the table does not exist"
                        : name == signalTable ? "it is the signal table"
                        : !published.Contains(name) ? $"the table is not in publication {publication}, so its changes are not captured (ALTER PUBLICATION {ReplicationSetup.QuoteIdentifier(publication)} ADD TABLE {ReplicationSetup.QuoteTable(name)}; adds it)"
                        : "the table is not in source.postgres.tables, so its changes are not captured";
                }

                SnapshotStateStore.Pending save;
                lock (_lock)
                {
                    if (reason is null)
                    {
                        _checked.Add(progress);
                        continue;
                    }

                    state.Tables.Remove(progress);
                    save = store.Capture(state);
                }

                store.Write(save);

                Log.IncrementalSnapshotRefused(logger, name, progress.Request ?? "requested", reason, captured.Count == 0 ? "none" : string.Join(", ", captured));
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The database is unreachable for now, say: the unchecked tables wait (unread), the check runs again next round.
            Log.IncrementalSnapshotCheckFailed(logger, e);
        }
    }

    /// <summary>
    /// Reads the chunk in a REPEATABLE READ transaction and returns the snapshot it was read in (<c>pg_current_snapshot()</c>,
    /// the transaction's first statement), against which the HIGH watermark checks the transactions delivered before LOW.
    /// </summary>
    private async Task<(List<SnapshotRow> Rows, ChunkSnapshot Snapshot)> ReadChunkInSnapshotAsync(NpgsqlConnection connection, SnapshotTable table, string?[]? after, string?[]? upTo, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        string snapshot;
        await using (var current = new NpgsqlCommand("SELECT pg_catalog.pg_current_snapshot()::text", connection, transaction))
        {
            snapshot = (string)(await current.ExecuteScalarAsync(cancellationToken))!;
        }

        var rows = await table.ReadChunkAsync(connection, after, chunkSize, cancellationToken, upTo);
        await transaction.CommitAsync(cancellationToken);
        return (rows, ChunkSnapshot.Parse(snapshot));
    }

    /// <summary>A chunk's snapshot as the stream's 32-bit xids compare with it: its xmax and its running xids.</summary>
    internal sealed record ChunkSnapshot(uint Xmax, uint[] Xip)
    {
        /// <summary>Parses <c>pg_snapshot</c> text, <c>xmin:xmax:xip,…</c> (64-bit, epoch-qualified ids).</summary>
        public static ChunkSnapshot Parse(string text)
        {
            var parts = text.Split(':');
            var xip = parts[2].Length == 0 ? [] : parts[2].Split(',').Select(x => (uint)ulong.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            return new ChunkSnapshot((uint)ulong.Parse(parts[1], CultureInfo.InvariantCulture), xip);
        }

        /// <summary>Whether a transaction delivered before LOW is one this snapshot does not see (still running, or not yet begun).</summary>
        public bool Misses(uint newestXid, HashSet<uint> recentXids) =>
            (newestXid != 0 && !Precedes(newestXid, Xmax)) || Xip.Any(recentXids.Contains);
    }

    /// <summary>PostgreSQL's TransactionIdPrecedes for normal xids: modulo 2^32.</summary>
    private static bool Precedes(uint a, uint b) => (int)(a - b) < 0;

    private static async Task EmitWatermarkAsync(NpgsqlConnection connection, string kind, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.pg_logical_emit_message(false, $1, $2)", connection);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = WatermarkPrefix });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = kind + ":" + id.ToString(CultureInfo.InvariantCulture) });
        await cmd.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>
    /// The reader handed out a committed change of transaction <paramref name="xid"/>: noted for the chunks' snapshots,
    /// and inside an open window its keys (<paramref name="oldKey"/>: a primary-key change's old key) leave the chunk.
    /// </summary>
    public void OnChange(string qualifiedTable, Row? key, Row? oldKey, uint xid)
    {
        lock (_lock)
        {
            if (xid != _lastXid)
            {
                _lastXid = xid;
                _recentXids[_recentNext] = xid;
                _recentNext = (_recentNext + 1) % RecentXidCount;
                if (_newestXid == 0 || Precedes(_newestXid, xid))
                {
                    _newestXid = xid;
                }
            }

            if (_inflight is { WindowOpen: true } chunk && string.Equals(chunk.Progress.Table, qualifiedTable, StringComparison.Ordinal))
            {
                if (key is not null)
                {
                    chunk.Touched.Add(KeyText(key));
                }

                if (oldKey is not null)
                {
                    chunk.Touched.Add(KeyText(oldKey));
                }
            }
        }
    }

    /// <summary>A TRUNCATE inside an open window: every row the chunk read may be gone, so none of them is emitted.</summary>
    public void OnTruncate(string qualifiedTable)
    {
        lock (_lock)
        {
            if (_inflight is { WindowOpen: true } chunk && string.Equals(chunk.Progress.Table, qualifiedTable, StringComparison.Ordinal))
            {
                chunk.Truncated = true;
            }
        }
    }

    /// <summary>
    /// The reader saw a watermark; at a HIGH watermark it gets the chunk's surviving rows, or the chunk's
    /// <see cref="ColumnValueException"/> (a value that cannot be converted), which stops the capture.
    /// </summary>
    public ChunkResult? OnWatermark(string content)
    {
        var colon = content.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !long.TryParse(content.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return null;
        }

        lock (_lock)
        {
            if (_inflight is not { } chunk || chunk.Id != id)
            {
                return null; // a watermark of a chunk from before a restart: its rows were never buffered here
            }

            if (content[0] == 'L')
            {
                chunk.WindowOpen = true;
                chunk.NewestXidAtLow = _newestXid;
                chunk.RecentXidsAtLow = [.. _recentXids];
                return null;
            }

            if (chunk.Failure is { } failure)
            {
                // Left in flight: nothing of the table is released or recorded as done, so a restart reads this chunk again.
                ExceptionDispatchInfo.Throw(failure);
            }

            if (chunk.Snapshot is { } snapshot && (chunk.RecentXidsAtLow is not { } recent || snapshot.Misses(chunk.NewestXidAtLow, recent)))
            {
                // A change delivered before LOW (or a LOW this reader did not see) may be newer than the chunk's rows:
                // nothing is released, the cursor stays, and the producer reads the chunk again (within a second).
                _inflight = null;
                return null;
            }

            var rows = chunk.Rows ?? [];
            var surviving = chunk.Truncated ? [] : rows.Where(r => r.Key is null || !chunk.Touched.Contains(KeyText(r.Key))).ToList();
            var last = rows.Count < chunkSize || chunk.Table is { HasKey: false };
            var lastKey = rows.Count > 0 ? rows[^1].KeyText : null;
            var progress = chunk.Progress;
            _cursors[progress] = (lastKey ?? (_cursors.TryGetValue(progress, out var c) ? c.LastKey : progress.LastKey), last);
            _inflight = null;
            _wake.Release();
            var count = surviving.Count;
            var estimatedRows = chunk.Table!.EstimatedRows;
            return new ChunkResult(chunk.Table!, surviving, state.RequestOf(progress), () =>
            {
                SnapshotStateStore.Pending save;
                lock (_lock)
                {
                    if (lastKey is not null)
                    {
                        progress.LastKey = lastKey;
                    }

                    progress.RowsDone += count;
                    progress.Done |= last; // a table found dropped in the meantime stays finished
                    save = store.Capture(state);
                }

                store.Write(save);

                if (last)
                {
                    Log.SnapshotTableDone(logger, progress.Table, progress.RowsDone);
                    PostgresMetrics.ReportSnapshotRows(state.Slot, progress.Table, progress.RowsDone, estimatedRows);
                }
                else
                {
                    Log.SnapshotProgress(logger, progress.Table, progress.RowsDone, estimatedRows);
                    PostgresMetrics.ReportSnapshotRows(state.Slot, progress.Table, progress.RowsDone, estimatedRows);
                }
            });
        }
    }

    /// <summary>Column-order independent text of a key, equal for the same key from a snapshot row and from the stream.</summary>
    public static string KeyText(Row key) =>
        string.Join('\u001f', key.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + CanonicalJsonValue(kv.Value)));

    private static string CanonicalJsonValue(object? value) => CanonicalJson.Serialize(Row.From(("v", value)));
}
