using System.Data;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.Postgres.Capture;
using CdcPipeline.Postgres.Readiness;
using CdcPipeline.Postgres.Setup;
using CdcPipeline.Postgres.Snapshot;
using CdcPipeline.Postgres.Types;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace CdcPipeline.Postgres;

/// <summary>
/// The embedded capture path: reads a logical replication slot with Npgsql's pgoutput client (protocol v2,
/// streaming of large in-progress transactions) and yields the same canonical change events the Debezium
/// decoding yields for the same SQL. Positions are <c>(slot, commit LSN, index in transaction)</c>; the slot's
/// confirmed LSN advances only when every event of a transaction is acknowledged. Optionally snapshots the
/// tables first (consistent with the slot, chunked, resumable) and re-snapshots tables on demand while streaming.
/// Create it with <see cref="PostgresSourceOptions"/>; read once with <see cref="ReadAsync"/>; dispose to stop.
/// </summary>
public sealed class PgOutputChangeSource : IChangeSource, ISourceConnection, ISourceHealth, ISourceLag, ISourceFailingSinks
{
    public const string HeartbeatPrefix = "cdc-heartbeat";
    public const string Connector = "postgresql";

    private readonly PostgresSourceOptions _options;
    private readonly ILogger _logger;
    private readonly NpgsqlDataSource _dataSource;
    private readonly PgTypeCatalog _types;
    private readonly AckTracker _ack = new();
    private readonly SnapshotStateStore _store;
    private readonly Dictionary<uint, RelationInfo> _relations = [];
    private readonly HashSet<string> _warnedNoKey = new(StringComparer.Ordinal);
    private readonly HashSet<string>? _tableFilter;
    private readonly HashSet<string> _reselectToast;
    private readonly string? _signalTable;
    private readonly string _database;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly SemaphoreSlim _feedbackLock = new(1, 1);

    // Held while the reader waits on the replication stream. Npgsql's DisposeAsync of a streaming connection
    // enumerates the stream itself to end it, and an enumeration running beside it completes the stream twice,
    // which crashes the process: so DisposeAsync disposes the connection only between two reads.
    private readonly SemaphoreSlim _readGate = new(1, 1);

    // Set once a streamed transaction outgrew MaxStreamedTransactionChanges: from then on PostgreSQL spills.
    private volatile bool _streamingOff;
    private volatile LogicalReplicationConnection? _replication;
    private volatile bool _connected;
    // The slot's confirmed_flush_lsn as last read before START_REPLICATION (0: not read yet), for saying where a reconnect resumes.
    private ulong _slotConfirmedSeen;
    private IncrementalSnapshotter? _incremental;
    private readonly List<string> _requestedBeforeStreaming = [];
    private SnapshotState? _state;
    private Task? _heartbeatTask;
    private Task? _incrementalTask;
    // The last change handed out: its commit LSN and its ordinal in the transaction (long.MaxValue once the
    // transaction's COMMIT was processed). What PostgreSQL re-sends after a reconnect up to here is skipped.
    private long _lastEmittedMajor = -1;
    private long _lastEmittedOrdinal = long.MaxValue;
    // The captured tables as the start named them, and those of them not published with the WAL position from which they
    // were missing (the position read before the last check that still found them published). Used by the heartbeat loop only.
    private IReadOnlyList<string> _captured = [];
    private readonly Dictionary<string, ulong> _unpublishedSince = new(StringComparer.Ordinal);
    // Of those, the ones whose table the last check found dropped (event 1035), not just out of the publication: what the probes say.
    private readonly HashSet<string> _droppedTables = new(StringComparer.Ordinal);
    private ulong _publicationCheckedLsn;
    private volatile string[] _unpublishedNow = [];
    private volatile string? _degraded;

    // The slot's wal_status unreserved as the last slot query saw it (at a stream start and every heartbeat, or every
    // slotCheckInterval with heartbeats off): what the probes
    // say (null while reserved or extended), and 1 once warned (event 60), so that it is said once until the slot recovers.
    private volatile string? _slotDegraded;
    private int _slotUnreservedWarned;
    private Func<IReadOnlyList<FailingSink>>? _failingSinks;

    // The captured tables by the oid their names had at start: pgoutput follows a table by oid, so a Relation message for one
    // of them under another name is a rename (e.g. a rename-swap migration). Those reported as renamed, by oid, with the name
    // reported; written by the read loop's Relation messages and the heartbeat's check, whichever sees the rename first (under
    // _unpublishedSync, as _unpublishedSince). A configured name found published under another oid (a table re-created and
    // added back, the new table of a rename-swap added) follows that oid from then on: the map is replaced, never changed in
    // place once streaming, so the read loop reads it without the lock.
    private volatile Dictionary<uint, string> _capturedByOid = [];
    private readonly Dictionary<uint, string> _renamedTo = [];
    // Of those, the ones the heartbeat check found renamed (in the catalog, ahead of the stream), with the WAL position read after
    // it looked: a Relation message under the configured name from before there is the stream catching up, not a rename back.
    // Also set when the heartbeat check finds a reported rename undone (renamed back): Relation messages from before are stale.
    private readonly Dictionary<uint, ulong> _renameSeenAt = [];
    // Configured names whose table was renamed onto another configured name (DROP TABLE b; ALTER TABLE a RENAME TO b): that name
    // follows the table's oid now (its changes arrive, published, under it), so the one renamed away has no oid left in
    // _capturedByOid to say it by; here, with the name it was renamed to, until its name is published again. Under _unpublishedSync.
    private readonly Dictionary<string, string> _renamedOnto = new(StringComparer.Ordinal);
    // The configured names that follow another oid than at start, with the WAL position from which they do: a Relation message
    // from before there under that name (of the table followed until then) is the stream catching up, not yet another table.
    private readonly Dictionary<string, ulong> _followedSince = new(StringComparer.Ordinal);
    private readonly object _unpublishedSync = new();
    // Set once a query of the start's checks was answered: from then on a lost connection is retried, not a failed start.
    private bool _startReachedServer;
    // The warnings of the start's checks said in this process (see SayAtStart); the reading thread's only.
    private readonly HashSet<string> _saidAtStart = new(StringComparer.Ordinal);
    private int _reading;
    private int _disposed;
    // The state file is let go (_store.Release) when both the read has ended and DisposeAsync has saved the confirmed
    // position, whichever comes last: after the read ends the pipeline still delivers and acknowledges what it buffered, and
    // those acknowledgements save snapshot progress; a start disposed mid-way still ends its read's saves. Guarded by _ownership.
    private readonly Lock _ownership = new();
    private bool _readActive;
    private bool _disposeSaved;

    public PgOutputChangeSource(PostgresSourceOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.SnapshotChunkSize <= 0)
        {
            throw new ArgumentException($"source.postgres.snapshotChunkSize must be positive (was {options.SnapshotChunkSize})", nameof(options));
        }

        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<PgOutputChangeSource>();
        _dataSource = new NpgsqlDataSourceBuilder(PgSession.Apply(options.ConnectionString, "cdcpipeline")).Build();
        _types = new PgTypeCatalog(_dataSource, options.MoneyFractionDigits);
        // Absolute from here on: the log and every error name the file itself, whatever the working directory was.
        _store = new SnapshotStateStore(Path.GetFullPath(options.StateDirectory ?? Path.Combine(".run", "state")), options.Slot, _logger);
        _tableFilter = options.Tables.Count == 0 ? null : options.Tables.Select(ReplicationSetup.NormalizeTableName).ToHashSet(StringComparer.Ordinal);
        _reselectToast = options.ReselectToastTables.Select(ReplicationSetup.NormalizeTableName).ToHashSet(StringComparer.Ordinal);
        _signalTable = options.SignalTable is null ? null : ReplicationSetup.NormalizeTableName(options.SignalTable);
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        _database = builder.Database ?? builder.Username ?? "postgres";
    }

    /// <summary>The highest LSN this source has confirmed to the slot (0 before the first).</summary>
    public ulong ConfirmedLsn => _ack.FlushedLsn;

    /// <summary>Streaming from the slot (not during the initial snapshot, nor while reconnecting).</summary>
    public bool IsConnected => _connected;

    /// <summary>
    /// The slot's lag in WAL bytes as last measured (<c>cdc_postgres_slot_lag_bytes</c>): as streaming starts or reconnects and
    /// at each heartbeat, for the progress line and <c>cdc.source.lag</c>; null before streaming first starts.
    /// </summary>
    public SourceLag? Lag => PostgresMetrics.LastLag(_options.Slot) is { } bytes ? new SourceLag(bytes, "bytes") : null;

    /// <summary>
    /// Test seam: runs between the last slot check and START_REPLICATION, so a test can invalidate the slot in that gap.
    /// </summary>
    internal Func<CancellationToken, Task>? BeforeStartReplication { get; init; }

    /// <summary>
    /// Test seam: runs in the start-up checks right after the slot was looked up, so a test can cut the connections they use there.
    /// </summary>
    internal Func<CancellationToken, Task>? AfterSlotLookup { get; init; }

    /// <summary>
    /// Test seam: runs after the start-up checks, before the initial snapshot reads the tables, so a test can drop one in that gap.
    /// </summary>
    internal Func<CancellationToken, Task>? BeforeInitialSnapshot { get; init; }

    /// <summary>
    /// Test seam: runs between CREATE_REPLICATION_SLOT's answer and the state file's save, so a test can end the start there
    /// (as a process killed in that gap) by throwing.
    /// </summary>
    internal Func<CancellationToken, Task>? AfterSlotCreated { get; init; }

    /// <summary>
    /// Captured tables (<c>schema.table</c>) not in the publication at the last check (at start, then at every heartbeat; one
    /// dropped, event 1035, among them), or whose table was found renamed (event 1033), while streaming or, by the oids the state
    /// file kept, at start after a drop or rename while stopped: their changes do not arrive under that name.
    /// Empty while every captured table is published under its configured name.
    /// </summary>
    public IReadOnlyCollection<string> UnpublishedTables => _unpublishedNow;

    /// <summary>
    /// While <see cref="UnpublishedTables"/> is not empty, what the probes say: how many, each with why (renamed to what, dropped,
    /// or not in the publication), and where the log says what to do; then, while the slot is <c>wal_status unreserved</c> (the
    /// next checkpoint invalidates it), that, separated by "; ". Null while neither is so.
    /// </summary>
    public string? Degraded => (_degraded, _slotDegraded) switch
    {
        (null, var slot) => slot,
        (var tables, null) => tables,
        (var tables, var slot) => tables + "; " + slot,
    };

    /// <summary>The runner's failing sinks, named in the warning for a slot about to be lost (event 60).</summary>
    public void ObserveFailingSinks(Func<IReadOnlyList<FailingSink>> failingSinks) => _failingSinks = failingSinks;

    /// <summary>Where snapshot progress is kept.</summary>
    public string SnapshotStatePath => _store.Path;

    public async IAsyncEnumerable<ChangeEvent> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _reading, 1) == 1)
        {
            throw new InvalidOperationException("a PgOutputChangeSource is read once; create a new one to read again");
        }

        lock (_ownership)
        {
            _readActive = true;
        }

        using var readEnded = new ReadEnded(this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        var token = linked.Token;

        // Nothing of the state file is read or written before this process owns it (let go once this read has ended and
        // the source is disposed: acknowledgements of what was read still save progress after the read).
        await OwnStateFileAsync(token);
        var stateFileFound = File.Exists(_store.Path);
        Log.StateFile(_logger, _options.Slot, _store.Path, stateFileFound ? "found" : "none yet");

        // read once: the missing-table check names a rename made while stopped by its oids, the while-stopped check below them all
        var stored = _store.Load();
        if (stored is not null && stored.Slot != _options.Slot)
        {
            stored = null;
        }

        // A start that ended (killed, a node lost) between CREATE_REPLICATION_SLOT and recording the slot left this mark: a slot
        // of that name now is that one, its exported snapshot gone with that process (dropped in CheckStartAsync). The file reads
        // as what it kept beside the mark: the state of a slot found gone (when_needed), or nothing (a first start).
        var creating = stored?.CreatingSlot;
        if (creating is not null)
        {
            stored!.CreatingSlot = null;
            stored = creating.KeepsEarlierState ? stored : null;
        }

        if (!stateFileFound || (creating is not null && stored is null))
        {
            ThrowIfStateFileElsewhere();
        }

        // The start's checks run on ordinary connections: one lost among them (the server restarting, a terminated backend) is
        // retried as a lost replication connection is, within maxReconnectAttempts. A server the start never reached (wrong host
        // or port, down from the outset) and a configuration error stop it at once, saying so. The slot's creation is part of
        // the start: lost with its connection, it is retried too, the checks included (see slotUnrecorded).
        List<string> tables;
        Dictionary<string, uint> capturedOids;
        ReplicationSlotInfo? slot;
        LogicalReplicationConnection? connection = null;
        PgOutputReplicationSlot? created = null;
        var publicationCreated = false;
        // A CREATE_REPLICATION_SLOT whose answer was lost with its connection may have left the slot behind (PostgreSQL persists
        // it before it answers), its exported snapshot gone unread and no state file recording it: the next attempt drops it.
        var slotUnrecorded = false;
        var startAttempt = 0;
        while (true)
        {
            try
            {
                (tables, capturedOids, slot, publicationCreated) = await CheckStartAsync(stored, publicationCreated, slotUnrecorded, creating, token);
                slotUnrecorded = false;
                creating = null;
                // initial_only with a state file reads (or has read) its tables without a slot: its temporary one died with its run
                if (slot is null && !(_options.Snapshot == SnapshotMode.InitialOnly && _state is not null))
                {
                    if (!_options.CreateSlotIfMissing)
                    {
                        throw new CaptureStoppedException(
                            $"replication slot '{_options.Slot}' does not exist and creating it is not allowed (createSlotIfMissing: false); " +
                            $"create it with: SELECT pg_create_logical_replication_slot('{_options.Slot}', 'pgoutput');");
                    }

                    connection = await OpenReplicationForSlotAsync(token);
                    // initial_only never streams: a temporary slot (gone with this connection) gives the exported snapshot
                    // without leaving a slot behind that would hold WAL on the legacy server forever.
                    var temporary = _options.Snapshot == SnapshotMode.InitialOnly;
                    var exports = _options.Snapshot != SnapshotMode.Never;
                    if (exports && !temporary)
                    {
                        // Only its exported snapshot makes such a slot worth more than one made elsewhere; a process ending before
                        // the state file records it takes that along, so the next start must know the slot for one to drop.
                        // (A slot without a snapshot, streamed from its consistent point, is what the next start makes of it anyway;
                        // a temporary one ends with its process.)
                        MarkSlotCreation(stored);
                    }

                    slotUnrecorded = true;
                    created = await CreateSlotAsync(connection, temporary,
                        exports ? LogicalSlotSnapshotInitMode.Export : LogicalSlotSnapshotInitMode.NoExport, token);
                    Log.SlotCreated(_logger, _options.Slot, created.ConsistentPoint.ToString());
                    if (AfterSlotCreated is { } afterSlotCreated)
                    {
                        await afterSlotCreated(token);
                    }

                    _state = new SnapshotState
                    {
                        Slot = _options.Slot,
                        ConsistentLsn = (ulong)created.ConsistentPoint,
                        Tables = _options.Snapshot == SnapshotMode.Never ? [] : tables.Select(t => new TableProgress { Table = t }).ToList(),
                        InitialCompleted = _options.Snapshot == SnapshotMode.Never,
                    };
                    _store.Save(_state);
                    slotUnrecorded = false;
                }

                break;
            }
            catch (Exception e) when (_startReachedServer && IsLost(e, token))
            {
                if (connection is not null)
                {
                    await DisposeQuietlyAsync(connection);
                    connection = null;
                }

                startAttempt++;
                if (OutOfAttempts(startAttempt))
                {
                    throw GaveUpReconnectingError(e);
                }

                var delay = ReconnectDelay(startAttempt);
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    Log.StartConnectionLost(_logger, e, _options.Slot, startAttempt, (long)delay.TotalMilliseconds);
                }
                else
                {
                    ExpectedLog.StartConnectionLost(_logger, _options.Slot, startAttempt, Why(e), (long)delay.TotalMilliseconds, e.GetType().FullName);
                }

                await Task.Delay(delay, token);
            }
            catch when (connection is not null)
            {
                await DisposeQuietlyAsync(connection);
                throw;
            }
        }

        List<(TableProgress Table, string?[]? HandedOut)>? continueAfter = null;
        try
        {
            if (_options.Snapshot == SnapshotMode.InitialOnly && _state is { InitialCompleted: true })
            {
                // As Debezium's initial_only: a snapshot the offsets show as completed is not taken again. Its
                // temporary slot is gone, so without this every later run would hand out every row once more.
                Log.InitialOnlyAlreadyCompleted(_logger, _options.Slot, _store.Path);
                yield break;
            }

            if (slot is not null && _options.Snapshot == SnapshotMode.InitialOnly && _state is null)
            {
                // A slot of this name (made elsewhere, or the temporary one of a run that ended a moment ago) has no exported
                // snapshot to give: initial_only reads the tables at a fresh snapshot, as when it resumes, and leaves the slot be.
                _state = new SnapshotState
                {
                    Slot = _options.Slot,
                    ConsistentLsn = (ulong)NpgsqlLogSequenceNumber.Parse(slot.ConfirmedFlushLsn ?? slot.RestartLsn ?? "0/1"),
                    Tables = tables.Select(t => new TableProgress { Table = t }).ToList(),
                };
                _store.Save(_state);
            }

            if ((created is not null && _options.Snapshot != SnapshotMode.Never)
                || (_options.Snapshot == SnapshotMode.InitialOnly && _state is { InitialCompleted: false }))
            {
                // The exported snapshot shows the database exactly at the slot's consistent point; it lives until
                // the next command on the replication connection that created the slot, so the table reads happen on a second
                // one. initial_only resuming read through a temporary slot that died with the interrupted run: the rest is read
                // at a fresh snapshot (nothing streams afterwards, so there is no per-key ordering to keep).
                var snapshotName = created?.SnapshotName;
                var read = new InitialSnapshotCursor(_state!);
                while (true)
                {
                    await foreach (var change in ReadInitialSnapshotAsync(snapshotName, read, token))
                    {
                        yield return change;
                    }

                    if (read.Lost is not { } lost)
                    {
                        break;
                    }

                    // Lost with a connection (the reads', or the replication connection holding the exported snapshot): the
                    // rest goes on in this process as the next start would take it up, after the last row handed out.
                    startAttempt = read.HandedOut ? 1 : startAttempt + 1;
                    if (OutOfAttempts(startAttempt))
                    {
                        throw GaveUpReconnectingError(lost);
                    }

                    if (_options.Snapshot == SnapshotMode.InitialOnly)
                    {
                        await SnapshotConnectionLostAsync(lost, startAttempt, read.Unread(), "at a fresh snapshot (initial_only: nothing streams after it)", token);
                        snapshotName = null;
                        read.Lost = null;
                        continue;
                    }

                    if (connection is not null)
                    {
                        await DisposeQuietlyAsync(connection); // its exported snapshot is of no use now; streaming opens its own
                        connection = null;
                    }

                    continueAfter = ContinueAsIncremental(read);
                    await SnapshotConnectionLostAsync(lost, startAttempt, continueAfter.Select(c => c.Table.Table).ToList(),
                        "as incremental chunks while streaming (as a next start would)", token);
                    break;
                }
            }
            else if (slot is not null && _options.Snapshot != SnapshotMode.Never && (_state is null || !_state.InitialCompleted))
            {
                if (_state is null)
                {
                    // The slot exists but was never snapshotted through by us: there is no exported snapshot to be had,
                    // so the tables are read as incremental chunks while streaming (initial_only: above).
                    _state = new SnapshotState
                    {
                        Slot = _options.Slot,
                        ConsistentLsn = (ulong)NpgsqlLogSequenceNumber.Parse(slot.ConfirmedFlushLsn ?? slot.RestartLsn ?? "0/1"),
                        Tables = tables.Select(t => new TableProgress { Table = t, Incremental = true }).ToList(),
                        InitialCompleted = true,
                    };
                    _store.Save(_state);
                }
                else
                {
                    var remaining = _state.Tables.Where(t => !t.Incremental && !t.Done).ToList();
                    Log.SnapshotResuming(_logger, _options.Slot, new NpgsqlLogSequenceNumber(_state.ConsistentLsn).ToString(), string.Join(", ", remaining.Select(t => t.Table)));
                    foreach (var t in remaining)
                    {
                        t.Incremental = true;
                    }

                    _state.InitialCompleted = true;
                    _store.Save(_state);
                }
            }

            if (_options.Snapshot == SnapshotMode.InitialOnly)
            {
                yield break;
            }

            if (_state is null)
            {
                // streaming a slot made elsewhere: on record, so that its disappearance is noticed later
                _state = new SnapshotState
                {
                    Slot = _options.Slot,
                    ConsistentLsn = slot?.ConfirmedFlushLsn is { } confirmed ? (ulong)NpgsqlLogSequenceNumber.Parse(confirmed) : 0,
                    InitialCompleted = true,
                };
                _store.Save(_state);
            }
            lock (_store.Sync)
            {
                // the next start tells a table renamed or dropped while stopped from one still there by these
                _state.TableOids = capturedOids;
            }

            _store.Save(_state);
            var incremental = new IncrementalSnapshotter(_dataSource, _types, _store, _state, _options.SnapshotChunkSize, _options.Publication, _tableFilter, _signalTable, _logger);
            foreach (var (table, handedOut) in continueAfter ?? [])
            {
                incremental.ContinueAfter(table, handedOut);
            }

            lock (_requestedBeforeStreaming)
            {
                _incremental = incremental;
                foreach (var requested in _requestedBeforeStreaming)
                {
                    incremental.Enqueue(requested, "requested", NewRequestId());
                }

                _requestedBeforeStreaming.Clear();
            }

            _incrementalTask = Task.Run(() => RunQuietlyAsync(_incremental.RunAsync, token), CancellationToken.None);
            _heartbeatTask = Task.Run(() => RunQuietlyAsync(HeartbeatLoopAsync, token), CancellationToken.None);

            var replicationSlot = new PgOutputReplicationSlot(_options.Slot);
            // failed attempts in a row, those of the start's checks included: a change handed out ends the row
            var attempt = startAttempt;
            while (true)
            {
                token.ThrowIfCancellationRequested();
                Exception? failure = null;
                var fallback = false;
                IAsyncEnumerator<ChangeEvent>? stream = null;
                try
                {
                    connection ??= await OpenReplicationAsync(token);
                    stream = StreamOnceAsync(connection, replicationSlot, token).GetAsyncEnumerator(token);
                }
                catch (Exception e) when (IsTransient(e, token))
                {
                    failure = ServerClosedStream(e);
                }

                if (stream is not null)
                {
                    try
                    {
                        while (true)
                        {
                            ChangeEvent current;
                            await _readGate.WaitAsync(token);
                            try
                            {
                                if (!await stream.MoveNextAsync())
                                {
                                    failure = new EndOfStreamException("the server ended the replication stream");
                                    break;
                                }

                                current = stream.Current;
                            }
                            catch (StreamedTransactionTooLargeException e)
                            {
                                // Nothing of it was handed out or confirmed: PostgreSQL sends it again, whole, at commit.
                                Log.StreamingFallback(_logger, e.Xid, e.Changes, _options.MaxStreamedTransactionChanges, _options.Slot);
                                _streamingOff = true;
                                fallback = true;
                                break;
                            }
                            catch (Exception e) when (IsTransient(e, token))
                            {
                                failure = ServerClosedStream(e);
                                break;
                            }
                            finally
                            {
                                _readGate.Release();
                            }

                            attempt = 0;
                            yield return current;
                        }
                    }
                    finally
                    {
                        await DisposeQuietlyAsync(stream);
                    }
                }

                _replication = null;
                _connected = false;
                if (connection is not null)
                {
                    await DisposeQuietlyAsync(connection);
                    connection = null;
                }

                if (fallback)
                {
                    continue; // at once, without counting a failure
                }

                attempt++;
                // 55006 "replication slot … is active for PID n": another process streams from it (the same configuration
                // started twice, an old pod during a deploy). Expected, and retried like a lost connection, but said plainly.
                var holder = failure is PostgresException { SqlState: PostgresErrorCodes.ObjectInUse } inUse
                    ? await DescribeSlotHolderAsync(inUse, token)
                    : null;
                // 53300 "number of requested standby connections exceeds max_wal_senders": every WAL sender is taken
                var senders = failure is PostgresException busy && IsWalSendersBusy(busy)
                    ? await DescribeWalSendersAsync(token)
                    : null;
                if (OutOfAttempts(attempt))
                {
                    if (senders is not null)
                    {
                        throw WalSendersBusyStop(senders, failure);
                    }

                    if (holder is not null)
                    {
                        throw new CaptureStoppedException(
                            $"replication slot '{_options.Slot}' is in use by another process: {holder} streams from it; gave up after " +
                            $"{_options.MaxReconnectAttempts} attempts (source.postgres.maxReconnectAttempts). {SlotInUseFix}",
                            failure);
                    }

                    throw GaveUpReconnectingError(failure);
                }

                var delay = ReconnectDelay(attempt);
                if (holder is not null)
                {
                    Log.SlotInUse(_logger, _options.Slot, holder, attempt, (long)delay.TotalMilliseconds, SlotInUseFix);
                }
                else if (senders is not null)
                {
                    Log.WalSendersBusy(_logger, _options.Slot, senders, attempt, (long)delay.TotalMilliseconds, WalSendersBusyFix);
                }
                else
                {
                    LogReconnecting(failure!, attempt, delay);
                }

                await Task.Delay(delay, token);
            }
        }
        finally
        {
            // The heartbeat and incremental-snapshot loops run on this read's token. It is disposed with the read
            // (which may end by an error, or by the consumer stopping): cancelled first, so the loops end too and
            // DisposeAsync, which awaits them, returns — a disposed linked token no longer sees _lifetime cancelled.
            await linked.CancelAsync();
            _replication = null;
            _connected = false;
            // they write the state file too: ended before its lock is let go (a failure of theirs surfaces in DisposeAsync)
            await EndedQuietlyAsync(_heartbeatTask);
            await EndedQuietlyAsync(_incrementalTask);
            SaveConfirmedPosition();
            if (connection is not null)
            {
                await DisposeQuietlyAsync(connection);
            }
        }
    }

    /// <summary>
    /// The start's checks, before anything is streamed or created but the publication: the server's settings, the captured
    /// tables and their oids, the publication, the slot, the state file against both. Each attempt starts from what the state
    /// file says (what an earlier attempt found out is found out again); <paramref name="publicationCreated"/> says whether an
    /// earlier attempt created the publication (its answer may have been lost with its connection), and the result whether
    /// one of them did; <paramref name="slotUnrecorded"/> that an earlier attempt lost its connection while it created the
    /// slot, so a slot found is that one, unrecorded and its exported snapshot unread: it is dropped, to be created again;
    /// <paramref name="creating"/>, the state file's mark of a creation by a start that ended before recording it, likewise.
    /// Throws <see cref="CaptureStoppedException"/> for what a retry does not change; sets <see cref="_startReachedServer"/>
    /// once the server answered its first query.
    /// </summary>
    private async Task<(List<string> Tables, Dictionary<string, uint> CapturedOids, ReplicationSlotInfo? Slot, bool PublicationCreated)> CheckStartAsync(
        SnapshotState? stored, bool publicationCreated, bool slotUnrecorded, SlotCreationMark? creating, CancellationToken token)
    {
        lock (_unpublishedSync)
        {
            _unpublishedSince.Clear();
            _renamedTo.Clear();
            _renameSeenAt.Clear();
            _renamedOnto.Clear();
            _droppedTables.Clear();
        }

        await ThrowIfWalLevelNotLogicalAsync(token);
        _startReachedServer = true;
        await ThrowIfConfiguredTablesMissingAsync(stored, token);
        publicationCreated |= await ReplicationSetup.EnsurePublicationAsync(_dataSource, _options.Publication, _options.Tables.Select(ReplicationSetup.NormalizeTableName).ToList(), _options.CreatePublicationIfMissing, token);
        var tables = _options.Tables.Count > 0
            ? _options.Tables.Select(ReplicationSetup.NormalizeTableName).ToList()
            : (await ReplicationSetup.GetPublicationTablesAsync(_dataSource, _options.Publication, token)).Where(t => t != _signalTable).ToList();
        _captured = tables;
        _capturedByOid = await CapturedOidsAsync(tables, token);
        var capturedOids = _capturedByOid.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
        _publicationCheckedLsn = await CurrentWalLsnAsync(token);
        var slot = await ReplicationSetup.GetSlotAsync(_dataSource, _options.Slot, token);
        if (slot is not null && (slotUnrecorded || creating is not null))
        {
            // PostgreSQL persists the slot before it answers; the state file was not written, the snapshot not read. Kept, it
            // would start streaming at its consistent point with no snapshot behind it (or, with a state file of the slot it
            // replaces, as that one). A slot still active may be held by that attempt's walsender, still in CREATE_REPLICATION_SLOT
            // as it has not seen its client go (a network cut, a node lost, is noticed at wal_sender_timeout): ended, as it serves
            // no one. A holder that streams is not it (nothing streamed from a slot never recorded): left alone, the start stops.
            if (await ReplicationSetup.DropUnrecordedSlotAsync(_dataSource, _options.Slot, token) is { } holder)
            {
                throw SlotStreamedElsewhereStop(holder, creating);
            }

            var position = slot.ConfirmedFlushLsn ?? slot.RestartLsn ?? "-";
            if (slotUnrecorded)
            {
                Log.UnrecordedSlotDropped(_logger, _options.Slot, position);
            }
            else
            {
                Log.SlotOfEndedStartDropped(_logger, _options.Slot, position, _store.Path, creating!.StartedUtc, creating.For);
            }

            slot = null;
        }

        if (AfterSlotLookup is { } afterSlotLookup)
        {
            await afterSlotLookup(token);
        }

        var changedWhileStopped = await ReportChangedWhileStoppedAsync(capturedOids, stored, slot is not null, token);
        if (_options.Tables.Count > 0)
        {
            var published = (await ReplicationSetup.GetPublicationTablesAsync(_dataSource, _options.Publication, token)).ToHashSet(StringComparer.Ordinal);
            // a table renamed or dropped while stopped was said just now, with what that means for the one now under its name
            var unpublished = tables.Where(t => !published.Contains(t) && !changedWhileStopped.Contains(t)).ToList();
            // a partitioned table of a publication without publish_via_partition_root: listed (and sent) as its partitions
            var viaPartitions = (await ReplicationSetup.FindPublishedViaPartitionsAsync(_dataSource, _options.Publication, unpublished, token)).ToHashSet(StringComparer.Ordinal);
            // an unlogged table cannot be added to a publication: its warning says what can be done instead
            var unlogged = (await ReplicationSetup.FindUnloggedTablesAsync(_dataSource, unpublished, token)).ToHashSet(StringComparer.Ordinal);
            foreach (var missing in unpublished)
            {
                if (viaPartitions.Contains(missing))
                {
                    if (SayAtStart(1034, missing))
                    {
                        Log.TablePublishedViaPartitions(_logger, ReplicationSetup.QuoteTable(missing), ReplicationSetup.QuoteIdentifier(_options.Publication),
                            ReplicationSetup.PublishViaPartitionRootSql(_options.Publication));
                    }
                }
                else if (unlogged.Contains(missing))
                {
                    if (SayAtStart(64, missing))
                    {
                        Log.TableUnlogged(_logger, ReplicationSetup.QuoteTable(missing), ReplicationSetup.QuoteIdentifier(_options.Publication));
                    }
                }
                else if (SayAtStart(1007, missing))
                {
                    Log.TableNotPublished(_logger, ReplicationSetup.QuoteTable(missing), ReplicationSetup.QuoteIdentifier(_options.Publication));
                }

                _unpublishedSince[missing] = _publicationCheckedLsn;
            }
        }

        PublishUnpublished();

        foreach (var table in await ReplicationSetup.FindTablesWithoutReplicaIdentityAsync(_dataSource, tables, token))
        {
            WarnNoKeyOnce(table);
        }

        // one read of the partitions' replica identities for both start checks that need it (62, and 1115's old rows)
        IReadOnlyDictionary<string, IReadOnlyList<ReplicationSetup.PartitionIdentity>> partitioned;
        await using (var connection = await _dataSource.OpenConnectionAsync(token))
        {
            partitioned = await ReplicationSetup.GetPartitionIdentitiesAsync(connection, tables, token);
        }

        WarnPartitionsWithoutKey(partitioned);

        await WarnRulesAgainstTablesAsync(tables, partitioned, token);

        await ThrowIfNotOursAsync(slot, token);
        ThrowIfLost(slot);
        // initial_only does not stream from the slot: what it cannot pass does not concern it
        if (publicationCreated && slot is not null && _options.Snapshot != SnapshotMode.InitialOnly && SayAtStart(1030, slot.ConfirmedFlushLsn, slot.RestartLsn))
        {
            await WarnPublicationCreatedBehindSlotAsync(slot, token);
        }

        _state = stored;

        if (slot is null && _state is not null && _options.Snapshot != SnapshotMode.InitialOnly)
        {
            // The state file shows this pipeline read the slot; a new one would start at the current WAL position and
            // the changes in between would be lost without a word. As Debezium: refuse, unless when_needed re-snapshots.
            if (_options.Snapshot != SnapshotMode.WhenNeeded)
            {
                throw new CaptureStoppedException(SlotGoneMessage(_state.ConfirmedLsn, "but this pipeline has read from it"));
            }

            if (SayAtStart(1024))
            {
                Log.SlotGoneResnapshotting(_logger, _options.Slot, StoredPosition(_state.ConfirmedLsn), _store.Path);
            }

            _state = null;
        }

        await ThrowIfStateAheadOfServerAsync(token);
        if (slot is null && _options.Snapshot != SnapshotMode.Never)
        {
            await ThrowIfTablesUnreadableAsync(tables, token);
        }

        return (tables, capturedOids, slot, publicationCreated);
    }

    public async ValueTask AcknowledgeAsync(SourcePosition position, CancellationToken cancellationToken)
    {
        if (!string.Equals(position.Stream, _options.Slot, StringComparison.Ordinal))
        {
            return;
        }

        if (_ack.Acknowledge(position) is { } flush)
        {
            await SendFeedbackAsync(flush, cancellationToken);
        }
    }

    /// <summary>Starts an incremental re-snapshot of <paramref name="table"/> (<c>schema.table</c>) while streaming continues.</summary>
    public void RequestSnapshot(string table)
    {
        var name = ReplicationSetup.NormalizeTableName(table);
        lock (_requestedBeforeStreaming)
        {
            if (_incremental is null)
            {
                // Not streaming yet: the request waits and starts with streaming.
                _requestedBeforeStreaming.Add(name);
                return;
            }
        }

        _incremental.Enqueue(name, "requested", NewRequestId());
    }

    /// <summary>An API request's name in its rows' event ids: nothing else tells two requests apart.</summary>
    private static string NewRequestId() => "request " + Guid.NewGuid().ToString("N");

    /// <summary>Writes one heartbeat now (the heartbeat timer does this every <see cref="PostgresSourceOptions.HeartbeatInterval"/>).</summary>
    public async Task EmitHeartbeatAsync(CancellationToken cancellationToken)
    {
        // The lag is measured first, so it is on record by the time the heartbeat it precedes can be read and
        // acknowledged, and it does not count the heartbeat's own message.
        await CheckSlotAsync(cancellationToken);
        await using (var cmd = _dataSource.CreateCommand("SELECT pg_catalog.pg_logical_emit_message(false, $1, $2)"))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = HeartbeatPrefix });
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture) });
            await cmd.ExecuteScalarAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The slot query (one row of pg_replication_slots, on the ordinary connection's pool): the lag for the metric and the
    /// wal_status for the unreserved-slot warning (event 60). Run at every heartbeat, or, with heartbeats off, every
    /// <see cref="PostgresSourceOptions.SlotCheckInterval"/>; nothing per change.
    /// </summary>
    private async Task CheckSlotAsync(CancellationToken cancellationToken)
    {
        if (await ReplicationSetup.GetSlotAsync(_dataSource, _options.Slot, cancellationToken) is { } slot)
        {
            if (slot.LagBytes is { } lag)
            {
                PostgresMetrics.ReportLag(_options.Slot, lag);
            }

            ObserveRetention(slot);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _lifetime.CancelAsync();
        foreach (var task in new[] { _heartbeatTask, _incrementalTask })
        {
            if (task is not null)
            {
                await task;
            }
        }

        // A read in flight ends promptly now that the token is cancelled; wait for it (see _readGate).
        if (await _readGate.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            try
            {
                if (_replication is { } replication)
                {
                    await DisposeQuietlyAsync(replication);
                }
            }
            finally
            {
                _readGate.Release();
            }
        }

        SaveConfirmedPosition();
        lock (_ownership)
        {
            _disposeSaved = true;
            if (!_readActive)
            {
                _store.Release();
            }
        }

        await _dataSource.DisposeAsync();
        _lifetime.Dispose();
    }

    /// <summary>Disposed last in the read (after its own saves): lets the state file go when the source is disposed already.</summary>
    private sealed class ReadEnded(PgOutputChangeSource source) : IDisposable
    {
        public void Dispose()
        {
            lock (source._ownership)
            {
                source._readActive = false;
                if (source._disposeSaved)
                {
                    source._store.Release();
                }
            }
        }
    }

    /// <summary>
    /// Saves the mark of a slot's creation (see <see cref="SnapshotState.CreatingSlot"/>) before CREATE_REPLICATION_SLOT is sent,
    /// beside <paramref name="earlier"/>, the state of the slot found gone that when_needed replaces (null at a first start):
    /// kept as it was, so that a start finding the mark still refuses or re-snapshots as that state asks.
    /// </summary>
    private void MarkSlotCreation(SnapshotState? earlier)
    {
        var file = earlier ?? new SnapshotState { Slot = _options.Slot, ConsistentLsn = 0 };
        file.CreatingSlot = new SlotCreationMark
        {
            Slot = _options.Slot,
            StartedUtc = DateTime.UtcNow,
            For = earlier is null
                ? "the initial snapshot (no slot recorded before)"
                : "reading the tables again (snapshot: when_needed), the slot this file recorded being gone",
            KeepsEarlierState = earlier is not null,
        };
        try
        {
            _store.Save(file);
        }
        finally
        {
            file.CreatingSlot = null;
        }
    }

    /// <summary>
    /// Creates the slot. A server whose slots are all in use (max_replication_slots) answers 53400 "all replication slots are
    /// in use", which retrying cannot change: it stops the start saying which setting it is and where the slots went.
    /// </summary>
    private async Task<PgOutputReplicationSlot> CreateSlotAsync(LogicalReplicationConnection connection, bool temporary, LogicalSlotSnapshotInitMode mode, CancellationToken cancellationToken)
    {
        try
        {
            return await connection.CreatePgOutputReplicationSlot(_options.Slot, temporarySlot: temporary, mode, cancellationToken: cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ConfigurationLimitExceeded)
        {
            throw new CaptureStoppedException(
                $"replication slot '{_options.Slot}' cannot be created: {e.MessageText} (SQLSTATE {e.SqlState}, max_replication_slots). " +
                "Drop an abandoned slot (cdcpipeline slot list shows each slot, its activity and the WAL it retains; cdcpipeline slot drop NAME), " +
                "or raise max_replication_slots (ALTER SYSTEM SET max_replication_slots = …; then restart PostgreSQL); cdcpipeline db check shows both.",
                e);
        }
    }

    /// <summary>
    /// The <c>application_name</c> the capture's replication connection uses (what <c>pg_stat_replication</c> shows for it):
    /// the one the user's connection string gives, else <c>cdcpipeline-</c> and the slot's name.
    /// </summary>
    public static string ReplicationApplicationName(string connectionString, string slot)
    {
        var given = new NpgsqlConnectionStringBuilder(connectionString).ApplicationName;
        return string.IsNullOrEmpty(given) ? "cdcpipeline-" + slot : given;
    }

    /// <summary>
    /// The replication connection that creates the slot at the start. A server whose WAL senders are all taken
    /// (max_wal_senders) refuses it with 53300; that is waited for as a reconnect is (event 1041), within
    /// maxReconnectAttempts, then the start stops saying who holds the senders and what to do.
    /// </summary>
    private async Task<LogicalReplicationConnection> OpenReplicationForSlotAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await OpenReplicationAsync(cancellationToken);
            }
            catch (PostgresException e) when (IsWalSendersBusy(e))
            {
                var senders = await DescribeWalSendersAsync(cancellationToken);
                if (OutOfAttempts(attempt))
                {
                    throw WalSendersBusyStop(senders, e);
                }

                var delay = ReconnectDelay(attempt);
                Log.WalSendersBusy(_logger, _options.Slot, senders, attempt, (long)delay.TotalMilliseconds, WalSendersBusyFix);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    private async Task<LogicalReplicationConnection> OpenReplicationAsync(CancellationToken cancellationToken)
    {
        var connection = new LogicalReplicationConnection(PgSession.Apply(_options.ConnectionString, ReplicationApplicationName(_options.ConnectionString, _options.Slot)));
        try
        {
            await connection.Open(cancellationToken);
            return connection;
        }
        catch
        {
            await DisposeQuietlyAsync(connection);
            throw;
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken cancellationToken)
    {
        if (_options.HeartbeatInterval <= TimeSpan.Zero)
        {
            await SlotCheckLoopAsync(cancellationToken);
            return;
        }

        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await EmitHeartbeatAsync(cancellationToken);
                SaveConfirmedPosition();
                await CheckPublishedTablesAsync(cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // a lost connection (the server restarting) is expected: one line; anything else keeps its trace
                if (IsTransient(e, cancellationToken) && !_logger.IsEnabled(LogLevel.Debug))
                {
                    ExpectedLog.HeartbeatFailed(_logger, _options.Slot, Why(e), e.GetType().FullName);
                }
                else
                {
                    Log.HeartbeatFailed(_logger, e, _options.Slot);
                }
            }
        }
    }

    /// <summary>
    /// With heartbeats off, the slot query alone on its own timer (<see cref="PostgresSourceOptions.SlotCheckInterval"/>), so a
    /// slot that max_slot_wal_keep_size makes unreserved while the pipeline runs is still said (event 60) and shown by the
    /// probes, not only at the next (re)connection. A failed query is one warning (event 61) and is tried again next interval.
    /// </summary>
    private async Task SlotCheckLoopAsync(CancellationToken cancellationToken)
    {
        if (_options.SlotCheckInterval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(_options.SlotCheckInterval);
        string? failing = null; // the failure said last, said again only when another comes; cleared (and said so) by a success
        var failures = 0;
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await CheckSlotAsync(cancellationToken);
                if (failing is not null)
                {
                    Log.SlotCheckWorksAgain(_logger, _options.Slot, failures);
                    (failing, failures) = (null, 0);
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                failures++;
                var what = e is PostgresException pg ? pg.SqlState + " " + pg.MessageText : e.GetType().FullName + " " + Why(e);
                if (string.Equals(what, failing, StringComparison.Ordinal))
                {
                    continue;
                }

                failing = what;
                if (e is PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } denied && !_logger.IsEnabled(LogLevel.Debug))
                {
                    // a privilege taken from the role (a hardening REVOKE): the environment's answer, which lasts until it is granted again
                    var role = new NpgsqlConnectionStringBuilder(_options.ConnectionString).Username ?? "the capture role";
                    ExpectedLog.SlotCheckFailed(_logger, _options.Slot,
                        $"{denied.MessageText} (SQLSTATE 42501): role {role} may no longer read what the slot query reads (pg_replication_slots, " +
                        $"pg_current_wal_lsn(), pg_settings; PUBLIC may by default): grant it again, e.g. GRANT SELECT ON pg_catalog.pg_replication_slots TO " +
                        $"{ReplicationSetup.QuoteIdentifier(role)}; for the view the error names. The capture goes on, but the lag metric and the unreserved-slot " +
                        "warning (event 60) wait for it, and the next reconnection stops at the same query (it cannot tell a dropped or lost slot); " +
                        "said once while it lasts", e.GetType().FullName);
                }
                else if (IsTransient(e, cancellationToken) && !_logger.IsEnabled(LogLevel.Debug))
                {
                    ExpectedLog.SlotCheckFailed(_logger, _options.Slot, Why(e), e.GetType().FullName);
                }
                else
                {
                    Log.SlotCheckFailed(_logger, e, _options.Slot);
                }
            }
        }
    }

    /// <summary>
    /// max_slot_wal_keep_size makes a slot that keeps more WAL than it allows <c>wal_status unreserved</c>; the next checkpoint
    /// removes that WAL and the slot is lost, and the capture stops until it is dropped and the tables are read again. A running
    /// pipeline gets there when a sink holds acknowledgements back (retrying for ever) and showed only a growing lag. Read from
    /// the slot query the lag is measured with (stream start, every heartbeat or, with heartbeats off, every slotCheckInterval;
    /// nothing per change): said once as a warning
    /// (event 60) naming the slot, its WAL, the limit, safe_wal_size, the failing sinks and what to do, and in the probes' body
    /// while it lasts (degraded: the pipeline still runs); said again if the slot, reserved again, becomes unreserved once more.
    /// </summary>
    private void ObserveRetention(ReplicationSlotInfo slot)
    {
        if (slot.WalStatus is "reserved" or "extended")
        {
            _slotDegraded = null;
            Interlocked.Exchange(ref _slotUnreservedWarned, 0);
            return;
        }

        if (!slot.Unreserved)
        {
            return; // lost: the stream's stop says it; unknown (a status PostgreSQL adds later): nothing to say
        }

        var retained = ByteSize.Format(slot.RetainedBytes);
        var limit = ByteSize.Format(slot.MaxSlotWalKeepSizeBytes);
        _slotDegraded = $"replication slot {_options.Slot} wal_status unreserved: it retains {retained} of WAL, more than max_slot_wal_keep_size ({limit}) allows; " +
                        "the next checkpoint invalidates it (the log's event 60 says what to do)";
        if (Interlocked.Exchange(ref _slotUnreservedWarned, 1) == 1)
        {
            return;
        }

        var failing = _failingSinks?.Invoke() ?? [];
        var heldBy = failing.Count == 0
            ? "waiting on deliveries still in progress (no sink is failing now)"
            : "held back by " + string.Join(", ", failing.Select(f => string.Create(CultureInfo.InvariantCulture, $"sink {f.Sink} (failing for {f.For.TotalSeconds:F0} s)")));
        Log.SlotUnreserved(_logger, _options.Slot, retained, limit, ByteSize.Format(slot.SafeWalSize), ByteSize.Format(slot.LagBytes), heldBy,
            (failing.Count == 0 ? "let the sinks catch up" : "fix " + string.Join(", ", failing.Select(f => $"sink {f.Sink}"))) + " so the pipeline confirms what it read");
    }

    /// <summary>
    /// A captured table taken out of the publication while streaming (<c>ALTER PUBLICATION … DROP TABLE</c>, a <c>SET TABLE</c>
    /// without it) is not an error of the stream: pgoutput just stops sending its changes and the slot moves past them with the
    /// other tables' acknowledgements. PostgreSQL decodes each change with the publication of its time, so adding the table
    /// again does not bring those changes back, and stopping would not keep them either: the other tables go on, and this
    /// check, at every heartbeat on the heartbeat's connection (nothing per change), says it once, as an error, with what to do.
    /// A captured name missing from the publication is told apart by the oid the start mapped (pg_publication_rel follows oids,
    /// and DROP TABLE removes the table's row with it): that oid gone is a dropped table (event 1035); published under another
    /// name, a rename (event 1033, said once whether this check or the table's Relation message sees it first); else taken out.
    /// </summary>
    private async Task CheckPublishedTablesAsync(CancellationToken cancellationToken)
    {
        if (_captured.Count == 0)
        {
            return;
        }

        // read first: a table the query below still finds published was still published after this position
        var checkedLsn = await CurrentWalLsnAsync(cancellationToken);
        var published = (await ReplicationSetup.GetPublicationTablesAsync(_dataSource, _options.Publication, cancellationToken)).ToHashSet(StringComparer.Ordinal);
        HashSet<string> renamedOnto;
        lock (_unpublishedSync)
        {
            renamedOnto = [.. _renamedOnto.Keys];
        }

        // a name renamed onto another captured name has no oid of its own to look up: said already, counted until published again
        var missing = _captured.Where(t => !published.Contains(t) && !renamedOnto.Contains(t)).ToList();
        // where a configured name is published: the oid it has now, which tells a rename back (the oid followed) from another
        // table under that name (re-created and added back, or the new table of a rename-swap added)
        var publishedOids = await CapturedOidsAsync(_captured.Where(published.Contains).ToList(), cancellationToken);
        var takenOut = new List<string>();
        var dropped = new List<(string Table, bool Recreated)>();
        var renamed = new List<(uint Oid, string Configured, string Current, bool Replaced)>();
        ulong seenAt = 0;
        if (missing.Count > 0)
        {
            var oidOf = _capturedByOid.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
            var oids = missing.Select(t => oidOf.TryGetValue(t, out var oid) ? oid : 0u).ToArray();
            // per name: whether it resolves now, and the current name of the table the start found under it (null: dropped)
            await using var cmd = _dataSource.CreateCommand(
                "SELECT u.n::int, pg_catalog.to_regclass(u.t) IS NOT NULL, " +
                CurrentNameOfOid + " " +
                "FROM unnest($1::text[], $2::oid[]) WITH ORDINALITY AS u(t, o, n)");
            cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = missing.Select(ReplicationSetup.QuoteTable).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter<uint[]> { TypedValue = oids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Oid });
            await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var i = reader.GetInt32(0) - 1;
                    var table = missing[i];
                    var resolves = reader.GetBoolean(1);
                    var current = reader.IsDBNull(2) ? null : reader.GetString(2);
                    if (current is null && (oids[i] != 0 || !resolves))
                    {
                        dropped.Add((table, resolves));
                    }
                    else if (current is null || current == table)
                    {
                        takenOut.Add(table);
                    }
                    else if (published.Contains(current))
                    {
                        renamed.Add((oids[i], table, current, resolves));
                    }
                    else if (resolves)
                    {
                        // renamed and not published under either name: the table under the configured name is not in the publication
                        takenOut.Add(table);
                    }
                }
            }
        }

        bool anyRenamed;
        lock (_unpublishedSync)
        {
            anyRenamed = _renamedTo.Count > 0;
        }

        var followed = _capturedByOid;
        if (renamed.Count > 0 || anyRenamed || publishedOids.Keys.Any(oid => !followed.ContainsKey(oid)))
        {
            // the catalog is ahead of the stream: Relation messages from before this position may still name the old name
            seenAt = await CurrentWalLsnAsync(cancellationToken);
        }

        List<string> left;
        List<KeyValuePair<string, ulong>> back;
        var renamedBack = new List<(string Configured, string From)>();
        var another = new List<(string Configured, uint Oid, uint PreviousOid, string? PreviousName)>();
        lock (_unpublishedSync)
        {
            // a rename already reported (here or by its Relation message) is no news
            renamed.RemoveAll(r => _renamedTo.TryGetValue(r.Oid, out var reported) && reported == r.Current);
            foreach (var (oid, table) in publishedOids)
            {
                if (_capturedByOid.TryGetValue(oid, out var configured) && configured == table)
                {
                    // published under its configured name again: a rename reported is undone (no write needed to notice)
                    if (_renamedTo.Remove(oid, out var from))
                    {
                        renamedBack.Add((table, from));
                        _renameSeenAt[oid] = seenAt;
                    }
                }
                else
                {
                    var (previousOid, previousName) = FollowOidLocked(table, oid, seenAt);
                    another.Add((table, oid, previousOid, previousName));
                }
            }

            left = takenOut.Concat(dropped.Select(d => d.Table)).Where(t => !_unpublishedSince.ContainsKey(t)).ToList();
            back = _unpublishedSince.Where(kv => !missing.Contains(kv.Key)).ToList();
            foreach (var table in left)
            {
                _unpublishedSince[table] = _publicationCheckedLsn;
            }

            foreach (var (table, _) in back)
            {
                _unpublishedSince.Remove(table);
                _droppedTables.Remove(table);
            }

            // the probes say what this check found: a table taken out and dropped since is dropped now
            foreach (var table in takenOut)
            {
                _droppedTables.Remove(table);
            }

            foreach (var (table, _) in dropped)
            {
                _droppedTables.Add(table);
            }

            foreach (var r in renamed.Where(r => _capturedByOid.TryGetValue(r.Oid, out var now) && now == r.Configured))
            {
                // (renamed onto another captured name, the table is followed by that name now: FollowOidLocked kept it in _renamedOnto)
                _renamedTo[r.Oid] = r.Current;
                _renameSeenAt[r.Oid] = seenAt;
            }
        }

        // the state first, then the log: whoever reads the log line finds the gauge and UnpublishedTables saying the same
        var since = _publicationCheckedLsn;
        _publicationCheckedLsn = checkedLsn;
        PublishUnpublished();
        var publication = ReplicationSetup.QuoteIdentifier(_options.Publication);
        var leftOut = left.Where(t => !dropped.Exists(d => d.Table == t)).ToList();
        // publish_via_partition_root turned off: the partitioned table is still in the publication, its changes come as its partitions'
        var viaPartitions = (await ReplicationSetup.FindPublishedViaPartitionsAsync(_dataSource, _options.Publication, leftOut, cancellationToken)).ToHashSet(StringComparer.Ordinal);
        foreach (var table in leftOut)
        {
            Log.TableLeftPublication(_logger, table, _options.Publication, _options.Slot,
                new NpgsqlLogSequenceNumber(since).ToString(), new NpgsqlLogSequenceNumber(checkedLsn).ToString(),
                viaPartitions.Contains(table)
                    ? $"it is a partitioned table the publication now holds only through its partitions (publish_via_partition_root is off), so its changes arrive " +
                      $"under the partitions' names: {ReplicationSetup.PublishViaPartitionRootSql(_options.Publication)}; then {ResnapshotInstruction(table)}"
                    : $"ALTER PUBLICATION {publication} ADD TABLE {ReplicationSetup.QuoteTable(table)}; then {ResnapshotInstruction(table)}");
        }

        foreach (var (table, recreated) in dropped.Where(d => left.Contains(d.Table)))
        {
            ReportDropped(table, recreated, since, "the last check that found it", checkedLsn);
        }

        foreach (var r in renamed)
        {
            ReportRenamed(r.Configured, r.Current, r.Replaced);
        }

        foreach (var (table, missingSince) in back)
        {
            Log.TablePublishedAgain(_logger, table, _options.Publication, new NpgsqlLogSequenceNumber(missingSince).ToString(),
                new NpgsqlLogSequenceNumber(checkedLsn).ToString(), ResnapshotInstruction(table));
        }

        foreach (var (configured, from) in renamedBack)
        {
            ReportRenamedBack(configured, from);
        }

        if (another.Count > 0)
        {
            SaveTableOids(another.Select(a => (a.Configured, a.Oid)));
        }

        // a name counted as missing (dropped, taken out) was said back just now (event 1032) with what it means
        foreach (var a in another.Where(a => a.PreviousOid != 0 && !back.Exists(b => b.Key == a.Configured)))
        {
            ReportFollowingAnotherTable(a.Configured, a.Oid, a.PreviousOid, a.PreviousName, checkedLsn);
        }
    }

    /// <summary>
    /// Under <see cref="_unpublishedSync"/>: the configured name <paramref name="table"/> is published as the table with oid
    /// <paramref name="oid"/>, which the start did not map (re-created and added back, or the new table of a rename-swap added to
    /// the publication, as event 1033 says to): pgoutput sends that table's changes under the configured name, so the name follows
    /// its oid from here on, and the table followed so far (dropped, or renamed and reported: its entry goes, the gauge with it)
    /// is not captured as that name any more. Returns the oid followed so far (0: none) and the name it was reported renamed to.
    /// </summary>
    private (uint PreviousOid, string? PreviousName) FollowOidLocked(string table, uint oid, ulong since)
    {
        var map = new Dictionary<uint, string>(_capturedByOid);
        if (map.Remove(oid, out var renamedAway) && renamedAway != table)
        {
            // the table of another captured name, renamed onto this one: that name is the one not captured as configured now, and
            // a Relation message from before here naming the table as it was is the stream catching up, not a rename of this name
            _renamedOnto[renamedAway] = table;
            _renamedTo.Remove(oid);
            _renameSeenAt[oid] = since;
        }

        _renamedOnto.Remove(table);
        uint previous = 0;
        foreach (var (o, name) in _capturedByOid)
        {
            if (name == table)
            {
                previous = o;
                map.Remove(o);
            }
        }

        map[oid] = table;
        _capturedByOid = map;
        _followedSince[table] = since;
        _renamedTo.Remove(previous, out var previousName);
        _renameSeenAt.Remove(previous);
        return (previous, previousName);
    }

    /// <summary>
    /// The oids a configured name follows now, into the state file's TableOids, so that the next start does not take the table
    /// followed so far (dropped, or renamed after its replacement was published) for a drop or rename made while stopped.
    /// </summary>
    private void SaveTableOids(IEnumerable<(string Table, uint Oid)> now)
    {
        if (_state is not { } state)
        {
            return;
        }

        SnapshotStateStore.Pending save;
        lock (_store.Sync)
        {
            var oids = state.TableOids is { } kept ? new Dictionary<string, uint>(kept, StringComparer.Ordinal) : new Dictionary<string, uint>(StringComparer.Ordinal);
            foreach (var (table, oid) in now)
            {
                oids[table] = oid;
            }

            state.TableOids = oids;
            save = _store.Capture(state);
        }

        WriteLogged(save);
    }

    /// <summary>Event 1040 for a configured name found published as another table than the one followed so far.</summary>
    private void ReportFollowingAnotherTable(string configured, uint oid, uint previousOid, string? previousName, ulong seenAt) =>
        Log.CapturedNameFollowsAnotherTable(_logger, configured, oid.ToString(CultureInfo.InvariantCulture), previousOid.ToString(CultureInfo.InvariantCulture),
            previousName is not null
                ? $"now named {previousName}, no longer captured as {configured} (no longer counted as unpublished)"
                : "dropped or renamed",
            new NpgsqlLogSequenceNumber(seenAt).ToString(), _options.Publication, ResnapshotInstruction(configured));

    /// <summary>Event 1036 for a captured table found under its configured name again, by its Relation message or by the heartbeat check.</summary>
    private void ReportRenamedBack(string configured, string backFrom) =>
        Log.CapturedTableRenamedBack(_logger, configured, backFrom, _options.Slot,
            _tableFilter is not null
                ? $"Its changes while named {backFrom} were left out ({backFrom} is not in source.postgres.tables)."
                : $"Its changes while named {backFrom} were emitted under that name, which rules keyed on {configured} did not match.",
            $"To read what they missed: {ResnapshotInstruction(configured)}");

    private void PublishUnpublished()
    {
        lock (_unpublishedSync)
        {
            var renamed = _renamedTo.ToDictionary(kv => _capturedByOid[kv.Key], kv => kv.Value, StringComparer.Ordinal);
            foreach (var (configured, to) in _renamedOnto)
            {
                renamed[configured] = to;
            }

            string[] now = [.. _unpublishedSince.Keys.Union(renamed.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal)];
            _degraded = now.Length == 0
                ? null
                : string.Create(CultureInfo.InvariantCulture,
                    $"{now.Length} captured table{(now.Length == 1 ? " not published under its configured name" : "s not published under their configured names")}: " +
                    $"{string.Join(", ", now.Select(t => renamed.TryGetValue(t, out var to) ? $"{t} (renamed to {to})" : _droppedTables.Contains(t) ? $"{t} (dropped)" : $"{t} (not in the publication)"))}; " +
                    $"their changes are not captured as configured (slot {_options.Slot}; the log's events 1031, 1033 and 1035 say what to do)");
            _unpublishedNow = now;
            PostgresMetrics.ReportUnpublishedTables(_options.Slot, now.Length);
        }
    }

    /// <summary>The oids of the captured tables (<c>schema.table</c>) as their names resolve now; a name that does not resolve is left out.</summary>
    private async Task<Dictionary<uint, string>> CapturedOidsAsync(IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        var oids = new Dictionary<uint, string>();
        if (tables.Count == 0)
        {
            return oids;
        }

        await using var cmd = _dataSource.CreateCommand(
            "SELECT n::int, pg_catalog.to_regclass(t)::oid FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) WHERE pg_catalog.to_regclass(t) IS NOT NULL");
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(ReplicationSetup.QuoteTable).ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            oids[reader.GetFieldValue<uint>(1)] = tables[reader.GetInt32(0) - 1];
        }

        return oids;
    }

    /// <summary>
    /// A captured table whose Relation message names it otherwise than the start did was renamed: a publication lists tables
    /// by oid, so pgoutput goes on sending its changes under the new name (after a rename-swap, <c>orders_old</c>), and a table
    /// now under the configured name is another one, not in the publication. Whether its changes are emitted stays decided by
    /// name, as at every start: left out when source.postgres.tables lists tables (the new name is not among them), emitted
    /// under the new name when the publication is the list (it still holds the table). Either way rules keyed on the configured
    /// name no longer get them: said once per new name, as an error (event 1033), with what to do, and
    /// counted with the unpublished tables (unless the heartbeat check said it first); a Relation message under the configured
    /// name again is the rename back (event 1036, no longer counted). Relation messages are rare (first change of a table per
    /// connection, after DDL), so the catalog query here costs nothing per change.
    /// </summary>
    private async Task CheckRenamedAsync(RelationInfo relation, ulong position, CancellationToken cancellationToken)
    {
        var current = relation.QualifiedName;
        if (!_capturedByOid.TryGetValue(relation.Id, out var configured))
        {
            if (_captured.Contains(current, StringComparer.Ordinal))
            {
                FollowPublishedAs(current, relation.Id, position);
            }

            return;
        }

        string? reported;
        string? backFrom = null;
        lock (_unpublishedSync)
        {
            // the heartbeat check saw the rename (or the rename back) in the catalog; a Relation message from before that is the
            // stream catching up
            if (_renameSeenAt.TryGetValue(relation.Id, out var seenAt) && position < seenAt)
            {
                return;
            }

            _renamedTo.TryGetValue(relation.Id, out reported);
            if (current == configured)
            {
                if (reported is null)
                {
                    return;
                }

                _renamedTo.Remove(relation.Id);
                _renameSeenAt.Remove(relation.Id);
                backFrom = reported;
            }
            else
            {
                if (reported == current)
                {
                    return;
                }

                // set here, under the lock: the heartbeat check reports a rename it finds only when this has not
                _renamedTo[relation.Id] = current;
                _renameSeenAt.Remove(relation.Id);
            }
        }

        PublishUnpublished();
        if (backFrom is not null)
        {
            ReportRenamedBack(configured, backFrom);
            return;
        }

        await using var cmd = _dataSource.CreateCommand("SELECT pg_catalog.to_regclass($1) IS NOT NULL");
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ReplicationSetup.QuoteTable(configured) });
        var replaced = await cmd.ExecuteScalarAsync(cancellationToken) is true;
        ReportRenamed(configured, current, replaced);
    }

    /// <summary>
    /// A Relation message for a table the start did not map, under a configured name: pgoutput sends only published tables, so the
    /// name is published as another table now (see <see cref="FollowOidLocked"/>); said once, as the heartbeat check would.
    /// </summary>
    private void FollowPublishedAs(string table, uint oid, ulong position)
    {
        (uint PreviousOid, string? PreviousName) previous;
        bool wasMissing;
        lock (_unpublishedSync)
        {
            if (_capturedByOid.ContainsKey(oid) || (_followedSince.TryGetValue(table, out var since) && position < since))
            {
                return;
            }

            previous = FollowOidLocked(table, oid, position);
            // counted as missing (dropped, taken out): the heartbeat check says its return (event 1032) and clears it
            wasMissing = _unpublishedSince.ContainsKey(table);
        }

        PublishUnpublished();
        SaveTableOids([(table, oid)]);
        if (previous.PreviousOid != 0 && !wasMissing)
        {
            ReportFollowingAnotherTable(table, oid, previous.PreviousOid, previous.PreviousName, position);
        }
    }

    /// <summary>The current <c>schema.table</c> of the table with oid <c>u.o</c> (null: no such table any more), for the checks by oid.</summary>
    private const string CurrentNameOfOid =
        "(SELECT s.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace WHERE c.oid = u.o)";

    /// <summary>Event 1035 for a captured table whose oid is gone: found by the heartbeat check, or at start (dropped while stopped).</summary>
    private void ReportDropped(string table, bool recreated, ulong since, string sinceWhat, ulong checkedLsn)
    {
        var add = $"ALTER PUBLICATION {ReplicationSetup.QuoteIdentifier(_options.Publication)} ADD TABLE {ReplicationSetup.QuoteTable(table)}; then {ResnapshotInstruction(table)}";
        var gone = _tableFilter is not null
            ? "If it is gone for good: remove it from source.postgres.tables (and its rules) before the next start, which otherwise stops on it."
            : "If it is gone for good: nothing to do, the publication no longer lists it.";
        Log.CapturedTableDropped(_logger, table, new NpgsqlLogSequenceNumber(since).ToString(), sinceWhat, new NpgsqlLogSequenceNumber(checkedLsn).ToString(),
            _options.Slot, _options.Publication,
            recreated ? $"A table named {table} exists again (re-created): if it is the one to capture, {add} {gone}" : $"If it is re-created: {add} {gone}");
    }

    /// <summary>
    /// The captured tables' oids as the state file kept them at the last start, against the catalog now. Only a rename or drop
    /// while streaming is seen by the stream and the heartbeat check; one made while the pipeline was stopped (a rename-swap,
    /// a drop and create again) leaves every name resolving, so the start would map the name to the NEW table without a word,
    /// while the slot still holds the old table's changes under its new name (left out by name) and the new table is not in the
    /// publication. Said here as while streaming (event 1033 naming old and new name, event 1035) and counted with the
    /// unpublished tables; for this run the name maps to the old oid again, so the old table's Relation messages and the
    /// heartbeat check find it reported already (and a Relation message under the configured name from before now is the slot
    /// catching up, not a rename back). A file written before oids were kept has none: nothing to compare until its next save.
    /// Returns the names reported. Runs once per start (one query), nothing per change.
    /// </summary>
    private async Task<HashSet<string>> ReportChangedWhileStoppedAsync(Dictionary<string, uint> capturedOids, SnapshotState? stored, bool slotExists, CancellationToken cancellationToken)
    {
        var reported = new HashSet<string>(StringComparer.Ordinal);
        if (stored is not { TableOids: { Count: > 0 } storedOids })
        {
            return reported;
        }

        var changed = _captured.Where(t => storedOids.TryGetValue(t, out var oid) && (!capturedOids.TryGetValue(t, out var now) || now != oid)).ToList();
        // a new slot (or none, which the start refuses or re-snapshots) holds nothing of the old tables
        if (changed.Count == 0 || !slotExists)
        {
            return reported;
        }

        var oids = changed.Select(t => storedOids[t]).ToArray();
        var renamed = new List<(uint Oid, string Configured, string Current)>();
        var dropped = new List<(uint Oid, string Table)>();
        await using (var cmd = _dataSource.CreateCommand(
            "SELECT u.n::int, " + CurrentNameOfOid + " " +
            "FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, n)"))
        {
            cmd.Parameters.Add(new NpgsqlParameter<uint[]> { TypedValue = oids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Oid });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var i = reader.GetInt32(0) - 1;
                var current = reader.IsDBNull(1) ? null : reader.GetString(1);
                if (current is null)
                {
                    dropped.Add((oids[i], changed[i]));
                }
                else if (current != changed[i])
                {
                    renamed.Add((oids[i], changed[i], current));
                }
            }
        }

        if (renamed.Count == 0 && dropped.Count == 0)
        {
            return reported;
        }

        // read after looking, as the heartbeat check: the slot's Relation messages from before may still name the old name
        var seenAt = await CurrentWalLsnAsync(cancellationToken);
        var since = stored.ConfirmedLsn > 0 ? stored.ConfirmedLsn : stored.ConsistentLsn;
        lock (_unpublishedSync)
        {
            foreach (var (oid, table) in renamed.Select(r => (r.Oid, r.Configured)).Concat(dropped))
            {
                if (capturedOids.TryGetValue(table, out var newOid))
                {
                    _capturedByOid.Remove(newOid);
                }

                _capturedByOid[oid] = table;
                reported.Add(table);
            }

            foreach (var r in renamed)
            {
                _renamedTo[r.Oid] = r.Current;
                _renameSeenAt[r.Oid] = seenAt;
            }

            foreach (var (_, table) in dropped)
            {
                _unpublishedSince[table] = since;
                _droppedTables.Add(table);
            }
        }

        // the state first, then the log (as the heartbeat check)
        PublishUnpublished();
        foreach (var r in renamed.Where(r => SayAtStart(1033, r.Configured, r.Current)))
        {
            ReportRenamed(r.Configured, r.Current, replaced: capturedOids.ContainsKey(r.Configured));
        }

        foreach (var (_, table) in dropped.Where(d => SayAtStart(1035, d.Table)))
        {
            ReportDropped(table, recreated: capturedOids.ContainsKey(table), since, "the position the last run confirmed to the slot", _publicationCheckedLsn);
        }

        return reported;
    }

    /// <summary>Event 1033 for a captured table found under another name, by its Relation message or by the heartbeat check.</summary>
    private void ReportRenamed(string configured, string current, bool replaced)
    {
        var publication = ReplicationSetup.QuoteIdentifier(_options.Publication);
        var listed = _tableFilter is not null;
        Log.CapturedTableRenamed(_logger, configured, current, _options.Slot, _options.Publication,
            _captured.Contains(current, StringComparer.Ordinal)
                ? $"{current} is a captured name too: its changes are emitted as {current}'s from here on, which rules keyed on {configured} do not match."
                : listed
                ? $"{current} is not in source.postgres.tables, so its changes are left out from here on (as at every later start)."
                : $"Its changes are emitted under the name {current}, which rules keyed on {configured} do not match (they produce nothing from them).",
            replaced
                ? $"A table named {configured} exists again but is another one (a rename-swap) and not in the publication: its changes do not arrive."
                : $"No table is named {configured} now.",
            replaced
                ? $"If {configured} is the table to capture now: ALTER PUBLICATION {publication} ADD TABLE {ReplicationSetup.QuoteTable(configured)}; " +
                  (listed ? "(it is in source.postgres.tables already) " : "") + $"then {ResnapshotInstruction(configured)}"
                : $"If {current} is the table to capture under its new name (it is in the publication already): name it instead of {configured} " +
                  (listed ? "in source.postgres.tables and " : "") + $"in the rules, start again, then {ResnapshotInstruction(current)}");
    }

    /// <summary>How to read a table again while streaming: Debezium's execute-snapshot signal, or what it needs.</summary>
    private string ResnapshotInstruction(string table) => ResnapshotInstruction(_signalTable, table, DateTime.UtcNow);

    /// <summary>
    /// The instruction itself; the INSERT runs as given whatever the table is called: the id and the data are SQL literals, and the
    /// table name in data is a JSON string (a name may hold a quote).
    /// </summary>
    public static string ResnapshotInstruction(string? signalTable, string table, DateTime now)
    {
        if (signalTable is null)
        {
            return "re-read the table with an incremental snapshot: set source.postgres.signalTable (a table in the publication), start again and " +
                   $"insert an execute-snapshot signal for {table} into it (or drop the slot and start with snapshot: when_needed to read every table again)";
        }

        var data = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string[]> { ["data-collections"] = [table] });
        return $"re-read the table with an incremental snapshot: INSERT INTO {ReplicationSetup.QuoteTable(signalTable)} (id, type, data) VALUES " +
               $"({PgNames.QuoteLiteral($"resnapshot-{table}-{now:yyyyMMddHHmmss}")}, 'execute-snapshot', {PgNames.QuoteLiteral(data)});";
    }

    /// <summary>The server's WAL position (a standby's: replayed up to); 0 when the server has none to give.</summary>
    private async Task<ulong> CurrentWalLsnAsync(CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(
            "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END");
        return await cmd.ExecuteScalarAsync(cancellationToken) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    private static async Task RunQuietlyAsync(Func<CancellationToken, Task> loop, CancellationToken cancellationToken)
    {
        try
        {
            await loop(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async IAsyncEnumerable<ChangeEvent> StreamOnceAsync(LogicalReplicationConnection connection, PgOutputReplicationSlot slot, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var options = new PgOutputReplicationOptions(_options.Publication, PgOutputProtocolVersion.V2, binary: false,
            streamingMode: _options.Streaming && !_streamingOff ? PgOutputStreamingMode.On : PgOutputStreamingMode.Off, messages: true, twoPhase: false);
        _replication = connection;
        // What this pipeline confirmed: in this process, or before it as the state file records (saved at heartbeats and at
        // the stop, after the drain's acknowledgements, which a stop's closed connection never told the server).
        var resumeAt = Math.Max(_ack.FlushedLsn, _state?.ConfirmedLsn ?? 0);
        if (resumeAt > 0)
        {
            // a fresh connection would otherwise report 0/0 in its automatic status updates
            connection.SetReplicationStatus(new NpgsqlLogSequenceNumber(resumeAt));
        }

        var slotInfo = await ReplicationSetup.GetSlotAsync(_dataSource, _options.Slot, cancellationToken);
        if (slotInfo is null)
        {
            // dropped while this pipeline read it: creating it again would skip the changes in between
            throw SlotDroppedWhileReadingError(inner: null);
        }

        ThrowIfLost(slotInfo); // invalidated while we were disconnected (PostgreSQL ends the walsender of a slot it invalidates)
        if (slotInfo.ConfirmedFlushLsn is { } confirmedFlush)
        {
            _slotConfirmedSeen = (ulong)NpgsqlLogSequenceNumber.Parse(confirmedFlush);
        }

        // This check is the heartbeat's lag query: its figure is the lag as streaming (re)starts, with no query of its own and
        // nothing added before START_REPLICATION. Else the first figure came one heartbeat interval later (none with heartbeats
        // off), and a short catch-up after a restart was over before any lag was shown.
        if (slotInfo.LagBytes is { } startLag)
        {
            PostgresMetrics.ReportLag(_options.Slot, startLag);
        }

        ObserveRetention(slotInfo);

        Log.StreamingStarted(_logger, _options.Slot, _options.Publication, slotInfo?.ConfirmedFlushLsn);
        _connected = true;
        _relations.Clear();

        // A transaction PostgreSQL sends whole at its commit (BEGIN carries the commit LSN) is handed out change
        // by change as it arrives: memory does not grow with its size. Only a transaction streamed while still
        // in progress is buffered (it may yet abort) until its STREAM COMMIT.
        TransactionEmission? transaction = null;
        TransactionBuffer? streaming = null;
        var streamed = new Dictionary<uint, TransactionBuffer>();
        var incoming = new List<PendingChange>(1);
        var output = new List<ChangeEvent>(2);
        if (BeforeStartReplication is { } beforeStart)
        {
            await beforeStart(cancellationToken);
        }

        // PostgreSQL writes a slot's confirmed_flush_lsn to disk only when its restart_lsn or xmin moves too (up to 16; the walsender
        // leaves the progress to the client): after the server's restart the slot may stand before what was confirmed and would send
        // those transactions again. Starting at the confirmed position, the server skips every transaction committed before it.
        NpgsqlLogSequenceNumber? startAt = null;
        var slotConfirmed = slotInfo?.ConfirmedFlushLsn is { } text ? (ulong)NpgsqlLogSequenceNumber.Parse(text) : 0;
        if (resumeAt > slotConfirmed)
        {
            startAt = new NpgsqlLogSequenceNumber(resumeAt);
            if (resumeAt == _state?.ConfirmedLsn)
            {
                // said at a start; a reconnect ahead of the slot (a status update lost with the connection) is not news
                Log.ResumingAheadOfSlot(_logger, _options.Slot, startAt.Value.ToString(), _store.Path, slotInfo?.ConfirmedFlushLsn ?? "-");
            }
        }

        await using var messages = connection.StartReplication(slot, options, cancellationToken, startAt).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            PgOutputReplicationMessage message;
            try
            {
                if (!await messages.MoveNextAsync())
                {
                    break;
                }

                message = messages.Current;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectNotInPrerequisiteState)
            {
                // PostgreSQL invalidated the slot after the check above: "can no longer get changes from replication slot".
                if (await ReplicationSetup.GetSlotAsync(_dataSource, _options.Slot, cancellationToken) is { Lost: true } lost)
                {
                    throw LostSlotError(lost, e);
                }

                throw;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedObject)
            {
                // Dropped after the check above: 'replication slot "…" does not exist'. The same SQLSTATE names a dropped
                // publication, so the slot is looked up again: only a slot that is gone gets the slot-gone error.
                if (await ReplicationSetup.GetSlotAsync(_dataSource, _options.Slot, cancellationToken) is null)
                {
                    throw SlotDroppedWhileReadingError(e);
                }

                throw await PublicationMissingWhileReadingErrorAsync(e, cancellationToken);
            }

            switch (message)
            {
                case BeginMessage begin:
                    transaction = new TransactionEmission((ulong)begin.TransactionFinalLsn, begin.TransactionXid, CommitTime(begin.TransactionCommitTimestamp));
                    break;
                case StreamStartMessage start:
                    if (!streamed.TryGetValue(start.TransactionXid, out streaming))
                    {
                        streaming = new TransactionBuffer(start.TransactionXid);
                        streamed[start.TransactionXid] = streaming;
                    }

                    break;
                case StreamStopMessage:
                    streaming = null;
                    break;
                case RelationMessage relation:
                    await OnRelationAsync(relation, (ulong)relation.WalStart, cancellationToken);
                    break;
                case InsertMessage insert:
                {
                    var r = Relation(insert.Relation.RelationId);
                    var after = await ReadRowAsync(r, insert.NewRow, cancellationToken);
                    after = await ReselectToastAsync(r, after, cancellationToken);
                    incoming.Add(new PendingChange(ChangeKind.Change, ChangeOperation.Create, r, r.KeyOf(after), null, after, (ulong)message.WalStart, insert.TransactionXid));
                    break;
                }

                case FullUpdateMessage full:
                {
                    var r = Relation(full.Relation.RelationId);
                    var before = await ReadRowAsync(r, full.OldRow, cancellationToken);
                    var after = FillUnchangedToast(await ReadRowAsync(r, full.NewRow, cancellationToken), before);
                    after = await ReselectToastAsync(r, after, cancellationToken);
                    incoming.Add(UpdateChange(r, before, after, (ulong)message.WalStart, full.TransactionXid));
                    break;
                }

                case IndexUpdateMessage index:
                {
                    var r = Relation(index.Relation.RelationId);
                    var before = await ReadRowAsync(r, index.Key, cancellationToken);
                    var after = await ReadRowAsync(r, index.NewRow, cancellationToken);
                    after = await ReselectToastAsync(r, after, cancellationToken);
                    incoming.Add(UpdateChange(r, before, after, (ulong)message.WalStart, index.TransactionXid));
                    break;
                }

                case UpdateMessage update:
                {
                    var r = Relation(update.Relation.RelationId);
                    var after = await ReadRowAsync(r, update.NewRow, cancellationToken);
                    after = await ReselectToastAsync(r, after, cancellationToken);
                    incoming.Add(UpdateChange(r, null, after, (ulong)message.WalStart, update.TransactionXid));
                    break;
                }

                case FullDeleteMessage fullDelete:
                {
                    var r = Relation(fullDelete.Relation.RelationId);
                    var before = await ReadRowAsync(r, fullDelete.OldRow, cancellationToken);
                    incoming.Add(new PendingChange(ChangeKind.Change, ChangeOperation.Delete, r, r.KeyOf(before), before, null, (ulong)message.WalStart, fullDelete.TransactionXid));
                    break;
                }

                case KeyDeleteMessage keyDelete:
                {
                    // DEFAULT identity: the old tuple holds the key columns, every other column null (as Debezium shows it)
                    var r = Relation(keyDelete.Relation.RelationId);
                    var before = await ReadRowAsync(r, keyDelete.Key, cancellationToken);
                    incoming.Add(new PendingChange(ChangeKind.Change, ChangeOperation.Delete, r, r.KeyOf(before), before, null, (ulong)message.WalStart, keyDelete.TransactionXid));
                    break;
                }

                case TruncateMessage truncate:
                    foreach (var truncated in truncate.Relations)
                    {
                        var r = Relation(truncated.RelationId);
                        incoming.Add(new PendingChange(ChangeKind.Change, ChangeOperation.Truncate, r, null, null, null, (ulong)message.WalStart, truncate.TransactionXid));
                    }

                    break;
                case LogicalDecodingMessage logical:
                {
                    var content = await ReadAllAsync(logical.Data, cancellationToken);
                    var lsn = (ulong)logical.MessageLsn;
                    if ((logical.Flags & 1) != 0)
                    {
                        incoming.Add(new PendingChange(ChangeKind.Message, ChangeOperation.Message, null, null, null, null, lsn, logical.TransactionXid,
                            new LogicalMessage(logical.Prefix, content, Transactional: true)));
                    }
                    else
                    {
                        foreach (var change in await OnNonTransactionalMessageAsync(logical.Prefix, content, lsn, cancellationToken))
                        {
                            yield return change;
                        }
                    }

                    break;
                }

                case CommitMessage commit:
                    if (transaction is not null)
                    {
                        await CompleteAsync(transaction, (ulong)commit.TransactionEndLsn, cancellationToken);
                    }

                    transaction = null;
                    break;
                case StreamCommitMessage streamCommit:
                    if (streamed.Remove(streamCommit.TransactionXid, out var committed))
                    {
                        var emission = new TransactionEmission((ulong)streamCommit.CommitLsn, committed.Xid, CommitTime(streamCommit.TransactionCommitTimestamp));
                        foreach (var change in committed.Changes)
                        {
                            Emit(emission, change, output);
                            foreach (var e in output)
                            {
                                yield return e;
                            }

                            output.Clear();
                        }

                        await CompleteAsync(emission, (ulong)streamCommit.TransactionEndLsn, cancellationToken);
                    }

                    break;
                case StreamAbortMessage abort:
                    if (streamed.TryGetValue(abort.TransactionXid, out var aborted))
                    {
                        var discarded = aborted.Discard(abort.SubtransactionXid);
                        if (abort.SubtransactionXid == abort.TransactionXid)
                        {
                            streamed.Remove(abort.TransactionXid);
                        }

                        Log.StreamAborted(_logger, abort.TransactionXid, abort.SubtransactionXid, discarded);
                    }

                    break;
            }

            if (incoming.Count == 0)
            {
                continue;
            }

            if (streaming is not null)
            {
                streaming.Changes.AddRange(incoming);
                if (_options.MaxStreamedTransactionChanges > 0 && streaming.Changes.Count > _options.MaxStreamedTransactionChanges)
                {
                    throw new StreamedTransactionTooLargeException(streaming.Xid, streaming.Changes.Count);
                }
            }
            else if (transaction is not null)
            {
                foreach (var change in incoming)
                {
                    Emit(transaction, change, output);
                    foreach (var e in output)
                    {
                        yield return e;
                    }

                    output.Clear();
                }
            }
            else
            {
                throw new InvalidDataException("pgoutput sent a change outside a transaction");
            }

            incoming.Clear();
        }
    }

    /// <summary>
    /// A slot invalidated by max_slot_wal_keep_size can never be read again. START_REPLICATION on it fails with
    /// only "cannot read from logical replication slot" (Npgsql leaves out the DETAIL that says why), so it is
    /// refused here, saying what happened and what to do.
    /// </summary>
    private void ThrowIfLost(ReplicationSlotInfo? slot)
    {
        if (slot is { Lost: true })
        {
            throw LostSlotError(slot, inner: null);
        }
    }

    /// <param name="inner">The server's error when START_REPLICATION found the slot invalidated after <see cref="ThrowIfLost"/> passed.</param>
    private CaptureStoppedException LostSlotError(ReplicationSlotInfo slot, Exception? inner) =>
        new(
            $"replication slot '{_options.Slot}' is lost (wal_status lost): PostgreSQL removed WAL it still needed because it fell " +
            $"more than max_slot_wal_keep_size behind, so the changes after its confirmed LSN {slot.ConfirmedFlushLsn ?? "-"} can no longer be read. " +
            $"Drop it (cdcpipeline slot drop {_options.Slot}) and start again with snapshot: when_needed to re-read the tables " +
            $"(or delete the state file '{_store.Path}' and accept the gap; its .lock and .lock.owner files beside it hold no state and may go with it); " +
            "size max_slot_wal_keep_size for the longest outage the pipeline must survive.",
            inner);

    /// <summary>
    /// A slot of our name that is not ours to read: another plugin (a pg_recvlogical slot with test_decoding), a
    /// physical slot, or a slot of another database (two pipelines given one slot name). PostgreSQL would answer
    /// START_REPLICATION only with "option proto_version is unknown" or "was not created in this database".
    /// </summary>
    private async Task ThrowIfNotOursAsync(ReplicationSlotInfo? slot, CancellationToken cancellationToken)
    {
        if (slot is null)
        {
            return;
        }

        await using var cmd = _dataSource.CreateCommand("SELECT pg_catalog.current_database()::text");
        var database = (string)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        if (slot.Plugin == "pgoutput" && slot.Database == database)
        {
            return;
        }

        var what = slot.Plugin is null ? "a physical slot" : $"a logical slot of plugin {slot.Plugin} on database {slot.Database ?? "-"}";
        throw new CaptureStoppedException(
            $"replication slot '{_options.Slot}' is not one this pipeline can read: it is {what}, and the capture needs a pgoutput slot on database {database}. " +
            $"Another pipeline or tool (pg_recvlogical, a standby) uses that name: give this pipeline a name of its own (source.postgres.slot), " +
            $"or, if that slot is abandoned, drop it (cdcpipeline slot drop {_options.Slot}).");
    }

    /// <summary>
    /// The state file says this pipeline confirmed a position the server's WAL has not reached: the server has another history
    /// than the one read (restored from a backup, a lagging replica promoted). Its WAL will reach those positions with other
    /// changes, so streaming would mis-order or skip them. Only the server's WAL position counts: PostgreSQL 15 may move a
    /// slot's confirmed_flush_lsn back after a restart, which is normal.
    /// </summary>
    private async Task ThrowIfStateAheadOfServerAsync(CancellationToken cancellationToken)
    {
        if (_state is not { ConfirmedLsn: > 0 } state || _options.Snapshot == SnapshotMode.InitialOnly)
        {
            return;
        }

        // A standby (logical decoding there needs PostgreSQL 16) has no current WAL insert position; it has replayed up to here.
        var serverLsn = await CurrentWalLsnAsync(cancellationToken);
        if (serverLsn == 0 || serverLsn >= state.ConfirmedLsn)
        {
            return;
        }

        var server = new NpgsqlLogSequenceNumber(serverLsn);

        throw new CaptureStoppedException(
            $"state file '{_store.Path}' of replication slot '{_options.Slot}' records a position confirmed up to {new NpgsqlLogSequenceNumber(state.ConfirmedLsn)}, " +
            $"but the server's WAL position is {server}: this server has not written that far, so it is not the history the pipeline read " +
            "(restored from a backup, or a replica that lagged was promoted). Its next changes would reuse positions already confirmed and be skipped or " +
            "mis-ordered. Choose: drop the slot (cdcpipeline slot drop " + _options.Slot + ") and start with source.postgres.snapshot: when_needed to read " +
            "the tables again; or delete the state file to start from this server's slot as it is (changes of the lost history stay as delivered, " +
            "those since then may be missing; its .lock and .lock.owner files beside it hold no state and may go with it).");
    }

    /// <summary>
    /// The walsender decoded a change and found no publication of our name: dropped (or renamed) while this pipeline read
    /// the slot. PostgreSQL before 18 decodes each change with the catalog of its time, so even once the publication exists
    /// again the slot cannot pass the changes written while it was missing: every restart would stop at the same change.
    /// </summary>
    private async Task<CaptureStoppedException> PublicationMissingWhileReadingErrorAsync(PostgresException inner, CancellationToken cancellationToken)
    {
        var now = await ReplicationSetup.PublicationExistsAsync(_dataSource, _options.Publication, cancellationToken)
            ? "it exists again now, but was created after the change the server decoded"
            : "it does not exist now";
        return new CaptureStoppedException(
            $"publication '{_options.Publication}' did not exist for a change replication slot '{_options.Slot}' decoded after " +
            $"{StoredPosition(Math.Max(_ack.FlushedLsn, _state?.ConfirmedLsn ?? 0))} (the server: {inner.MessageText}; {now}): it was dropped or renamed " +
            "while this pipeline was reading. PostgreSQL decodes each change with the catalog as it was when the change was written, so the slot cannot " +
            "read the changes written while the publication was missing, even after it is created again. Create it again if it is missing " +
            "(cdcpipeline db prepare --apply, or createPublicationIfMissing: true creates it at the next start), then choose: drop the slot " +
            $"(cdcpipeline slot drop {_options.Slot}) and start with source.postgres.snapshot: when_needed to read the tables again; or skip the " +
            $"changes written while it was missing (they are lost) with SELECT pg_replication_slot_advance('{_options.Slot}', pg_current_wal_lsn()); " +
            "and start again.",
            inner);
    }

    /// <summary>
    /// The publication was created at this start while the slot resumes from an earlier position: changes written in between,
    /// while it was missing, cannot be streamed (see <see cref="PublicationMissingWhileReadingErrorAsync"/>). PostgreSQL 18 and
    /// later skip them without an error, so this warning is the only trace of that gap.
    /// </summary>
    private async Task WarnPublicationCreatedBehindSlotAsync(ReplicationSlotInfo slot, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand("SELECT pg_catalog.pg_current_wal_lsn()");
        var created = await cmd.ExecuteScalarAsync(cancellationToken) as NpgsqlLogSequenceNumber?;
        Log.PublicationCreatedBehindSlot(_logger, _options.Publication, _options.Slot, slot.ConfirmedFlushLsn ?? slot.RestartLsn ?? "-", created?.ToString() ?? "-");
    }

    /// <summary>
    /// Logical decoding needs <c>wal_level = logical</c>; on another level PostgreSQL refuses the slot's creation (or its
    /// streaming) with 55000 "logical decoding requires wal_level >= logical", which <c>run</c> showed as a connection to
    /// check. The server is up: its setting is what to change, and only a restart applies it. Checked before anything is
    /// created, so the refusal leaves no publication or slot behind.
    /// </summary>
    private async Task ThrowIfWalLevelNotLogicalAsync(CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand("SELECT pg_catalog.current_setting('wal_level')");
        if (await cmd.ExecuteScalarAsync(cancellationToken) is string walLevel && walLevel != "logical")
        {
            throw new CaptureStoppedException(
                $"replication slot '{_options.Slot}' cannot be used: this server runs with wal_level = {walLevel}, and logical decoding needs " +
                "wal_level = logical. Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (a reload is not enough: wal_level " +
                "takes effect only at server start); cdcpipeline db check shows wal_level and the other settings the capture needs. " +
                "Nothing was created");
        }
    }

    /// <summary>
    /// A table in <c>source.postgres.tables</c> that is not there would fail the publication's creation or the snapshot with
    /// PostgreSQL's bare "relation does not exist"; it is named here, with the key to correct, before anything is created.
    /// </summary>
    private async Task ThrowIfConfiguredTablesMissingAsync(SnapshotState? stored, CancellationToken cancellationToken)
    {
        if (_options.Tables.Count == 0)
        {
            return;
        }

        var tables = _options.Tables.Select(ReplicationSetup.NormalizeTableName).ToArray();
        await using var cmd = _dataSource.CreateCommand(
            "SELECT n::int FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) WHERE pg_catalog.to_regclass(t) IS NULL ORDER BY n");
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(ReplicationSetup.QuoteTable).ToArray() });
        var missing = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                missing.Add(tables[reader.GetInt32(0) - 1]);
            }
        }

        if (missing.Count > 0)
        {
            var renamed = await RenamedWhileStoppedAsync(missing, stored, cancellationToken);
            var gone = missing.Where(t => !renamed.Exists(r => r.Table == t)).ToList();
            throw new CaptureStoppedException(string.Join(" ", renamed.Select(RenamedWhileStoppedMessage).Concat(gone.Count > 0 ? [MissingTablesMessage(gone)] : [])));
        }
    }

    /// <summary>
    /// Of the configured tables no name resolves for, those the state file kept an oid for that a table still has, under another
    /// name: renamed while the pipeline was stopped (a plain rename, no new table under the old name). One query, at start only.
    /// </summary>
    private async Task<List<(string Table, uint Oid, string Current)>> RenamedWhileStoppedAsync(List<string> missing, SnapshotState? stored, CancellationToken cancellationToken)
    {
        var renamed = new List<(string Table, uint Oid, string Current)>();
        if (stored is not { TableOids: { Count: > 0 } storedOids })
        {
            return renamed;
        }

        var kept = missing.Where(storedOids.ContainsKey).ToList();
        if (kept.Count == 0)
        {
            return renamed;
        }

        var oids = kept.Select(t => storedOids[t]).ToArray();
        await using var cmd = _dataSource.CreateCommand("SELECT u.n::int, " + CurrentNameOfOid + " FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, n)");
        cmd.Parameters.Add(new NpgsqlParameter<uint[]> { TypedValue = oids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Oid });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var i = reader.GetInt32(0) - 1;
            if (!reader.IsDBNull(1))
            {
                renamed.Add((kept[i], oids[i], reader.GetString(1)));
            }
        }

        return renamed;
    }

    private string RenamedWhileStoppedMessage((string Table, uint Oid, string Current) r)
    {
        var (schema, name) = ReplicationSetup.SplitTableName(r.Table);
        var (currentSchema, currentName) = ReplicationSetup.SplitTableName(r.Current);
        // moved to another schema: SET SCHEMA keeps the name, so a changed name is renamed back where it then is
        var back = currentSchema == schema
            ? $"ALTER TABLE {ReplicationSetup.QuoteTable(r.Current)} RENAME TO {ReplicationSetup.QuoteIdentifier(name)};"
            : $"ALTER TABLE {ReplicationSetup.QuoteTable(r.Current)} SET SCHEMA {ReplicationSetup.QuoteIdentifier(schema)};" +
              (currentName == name ? "" : $" ALTER TABLE {ReplicationSetup.QuoteTable(schema + "." + currentName)} RENAME TO {ReplicationSetup.QuoteIdentifier(name)};");
        return $"source.postgres.tables lists {r.Table}, which does not exist in database {_database}: {r.Table} was renamed to {r.Current} while the " +
               $"pipeline was stopped (oid {r.Oid.ToString(CultureInfo.InvariantCulture)}): the state file {_store.Path} kept that oid for it. Either rename it back ({back}) " +
               $"and start again; its changes made while named {r.Current} are left out (that name is not in source.postgres.tables), so then " +
               $"{ResnapshotInstruction(r.Table)}. Or, if {r.Current} is the table to capture under its new name: name it instead of {r.Table} in " +
               $"source.postgres.tables and the rules, start again, then {ResnapshotInstruction(r.Current)}.";
    }

    /// <summary>
    /// The initial snapshot SELECTs every captured table. A table the capture role may not read would fail it with PostgreSQL's
    /// bare 42501 after the slot was created, leaving a new slot behind that retains WAL on the legacy server; it is named
    /// here, with the GRANT to run, before the slot is created.
    /// </summary>
    private async Task ThrowIfTablesUnreadableAsync(IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(
            "SELECT n::int, current_user::text FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) " +
            "WHERE pg_catalog.to_regclass(t) IS NOT NULL AND NOT pg_catalog.has_table_privilege(pg_catalog.to_regclass(t), 'SELECT') ORDER BY n");
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(ReplicationSetup.QuoteTable).ToArray() });
        var unreadable = new List<string>();
        var user = "";
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                unreadable.Add(tables[reader.GetInt32(0) - 1]);
                user = reader.GetString(1);
            }
        }

        if (unreadable.Count > 0)
        {
            throw new CaptureStoppedException(
                $"role {user} may not SELECT {string.Join(", ", unreadable)} in database {_database}, and the initial snapshot reads every captured table; " +
                $"nothing was created (no replication slot). As the table's owner run GRANT SELECT ON {string.Join(", ", unreadable.Select(ReplicationSetup.QuoteTable))} " +
                $"TO {ReplicationSetup.QuoteIdentifier(user)}; then start again (or remove the table from source.postgres.tables); cdcpipeline db check lists what the capture needs.");
        }
    }

    private string MissingTablesMessage(IReadOnlyList<string> missing) =>
        $"source.postgres.tables lists {string.Join(", ", missing)}, which {(missing.Count == 1 ? "does" : "do")} not exist in database {_database} " +
        "(or this role cannot see it): correct the name (schema.table), create the table, or remove it from source.postgres.tables; " +
        "cdcpipeline db check lists what the capture needs.";

    /// <summary>
    /// A table that passed the start-up check and was dropped (or renamed) before the initial snapshot read it: the start-up
    /// check's error, not PostgreSQL's bare 42P01, and a stop (the snapshot resumes from its state file at the next start).
    /// </summary>
    private CaptureStoppedException TableGoneBeforeSnapshotError(string table, PostgresException inner) =>
        new((_options.Tables.Count > 0
                ? MissingTablesMessage([table])
                : $"publication '{_options.Publication}' published {table} at start, but it does not exist in database {_database} any more " +
                  $"(or this role cannot see it): create it again, or leave it out of the publication (ALTER PUBLICATION {ReplicationSetup.QuoteIdentifier(_options.Publication)} DROP TABLE …) if it went on purpose.") +
            $" It was dropped or renamed after the start-up check, before the initial snapshot read it (the server: {inner.MessageText}); " +
            "the snapshot resumes from its state file at the next start.",
            inner);

    private async Task<SnapshotTable> DescribeForInitialSnapshotAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        try
        {
            return await SnapshotTable.DescribeAsync(connection, _types, table, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            throw TableGoneBeforeSnapshotError(table, e);
        }
    }

    private async Task<List<SnapshotRow>> ReadInitialChunkAsync(NpgsqlConnection connection, SnapshotTable table, string?[]? after, string qualified, CancellationToken cancellationToken)
    {
        try
        {
            return await table.ReadChunkAsync(connection, after, _options.SnapshotChunkSize, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            throw TableGoneBeforeSnapshotError(qualified, e);
        }
    }

    /// <param name="inner">The server's error when START_REPLICATION found the slot dropped after the last check.</param>
    private CaptureStoppedException SlotDroppedWhileReadingError(Exception? inner) =>
        new(SlotGoneMessage(Math.Max(_ack.FlushedLsn, _state?.ConfirmedLsn ?? 0), "any more, but this pipeline was reading it"), inner);

    /// <summary>
    /// No state file at the resolved path, but one of this slot at the other conventional place (see
    /// <see cref="PostgresSourceOptions.OtherStateDirectory"/>): most likely this pipeline's, written while it ran from
    /// another working directory. Starting without it would lose what it guards (the refusal of a dropped or replaced slot,
    /// a finished initial_only snapshot), so refuse and say where each file is and how to choose.
    /// </summary>
    private void ThrowIfStateFileElsewhere()
    {
        if (_options.OtherStateDirectory is not { } configuredOther)
        {
            return;
        }

        var other = Path.Combine(Path.GetFullPath(configuredOther), _options.Slot + ".snapshot.json");
        if (string.Equals(other, _store.Path, StringComparison.Ordinal) || !File.Exists(other))
        {
            return;
        }

        var otherDirectory = Path.GetDirectoryName(other)!;
        var setting = _options.StateDirectorySetting is { } where ? $"source.postgres.stateDirectory ({where})" : "source.postgres.stateDirectory";
        var (how, orStartFrom) = _options.StateDirectory is null
            ? ("stateDirectory is not set, so the default .run/state under the working directory is used",
                $", or start run from {Path.GetDirectoryName(Path.GetDirectoryName(otherDirectory))} (the working directory that holds that .run/state)")
            : ("stateDirectory is relative, and so resolved against the configuration file's folder, not the working directory", "");
        throw new CaptureStoppedException(
            $"no state file of slot '{_options.Slot}' at {_store.Path}, but there is one at {other} ({how}): it is likely this pipeline's, "
            + "kept by a run from another working directory, and starting without it would lose what it records (a finished snapshot; "
            + "the position confirmed to the slot, which makes a dropped or replaced slot refuse the start). "
            + $"Set {setting} to {otherDirectory}{orStartFrom}; or delete {other} if it is not this pipeline's.");
    }

    private string SlotGoneMessage(ulong confirmed, string how) =>
        $"replication slot '{_options.Slot}' does not exist {how} (state file '{_store.Path}': confirmed up to {StoredPosition(confirmed)}). " +
        "It was dropped (cdcpipeline slot drop), or this server is a replica or a restore without it: the changes since that position cannot " +
        "be read any more, and a new slot would start at the current WAL position, skipping them. Choose: set source.postgres.snapshot: when_needed " +
        "to create the slot and read the tables again (rows deleted in the gap, and states passed through in it, stay unseen); or delete the state " +
        "file to accept the gap: the next start creates the slot again, and with snapshot: initial reads the tables, then streams from the new slot's " +
        "position; with snapshot: never it only streams from there (its .lock and .lock.owner files beside it hold no state and may go with it).";

    private const string StateFileInUseFix =
        "Its holder streams from the slot and keeps the snapshot progress and confirmed position there; a second writer would put its older copy back. " +
        "Stop the other instance (the same configuration started twice, or an old one still running during a deploy), or give this one its own " +
        "source.postgres.stateDirectory and source.postgres.slot";

    /// <summary>
    /// Takes the state file for this read (<c>{slot}.snapshot.json.lock</c>, its holder in <c>.lock.owner</c>; see
    /// <see cref="ExclusiveLockFile"/>): only the process that streams from the slot writes its snapshot progress and confirmed
    /// position. Another holder (the same configuration started twice) is waited for as a slot in use is, within
    /// maxReconnectAttempts, then the read stops naming it; the file is never touched meanwhile. Kept until the read has ended
    /// and the source is disposed (see _ownership).
    /// </summary>
    private async Task OwnStateFileAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (_store.TryOwn(out var holder))
            {
                return;
            }

            if (OutOfAttempts(attempt))
            {
                throw new CaptureStoppedException(
                    $"replication slot '{_options.Slot}': its state file {_store.Path} is held by another process ({holder}); gave up after " +
                    $"{_options.MaxReconnectAttempts} attempts (source.postgres.maxReconnectAttempts). {StateFileInUseFix}");
            }

            var delay = ReconnectDelay(attempt);
            Log.StateFileInUse(_logger, _options.Slot, _store.Path, holder, attempt, (long)delay.TotalMilliseconds, StateFileInUseFix);
            await Task.Delay(delay, cancellationToken);
        }
    }

    /// <summary>The stop after maxReconnectAttempts lost connections (at the start or while streaming), saying the last one's cause.</summary>
    private CaptureStoppedException GaveUpReconnectingError(Exception? failure) =>
        // The stop's one line must say why: the trace that carried the last failure is not printed any more.
        new(
            $"replication slot '{_options.Slot}': gave up after {_options.MaxReconnectAttempts} failed reconnects; the last one: {Why(failure)}. " +
            "Check that the server is up and reachable, then start again " +
            "(source.postgres.maxReconnectAttempts: 0 retries for ever)",
            failure);

    /// <summary>
    /// Event 1003: a lost connection is the environment's failure, not ours, so below debug level it is one line with its cause
    /// (a failure that is not a lost connection does not come here). The next START_REPLICATION resumes from the slot's
    /// confirmed_flush_lsn (at least the one read before the last START_REPLICATION and, once their status update reached it,
    /// the acknowledgements since), or from what this pipeline confirmed (in this process or, as its state file records, before)
    /// when the slot stands before that: the later of them.
    /// </summary>
    private void LogReconnecting(Exception failure, int attempt, TimeSpan delay)
    {
        var known = Math.Max(Math.Max(_slotConfirmedSeen, _ack.FlushedLsn), _state?.ConfirmedLsn ?? 0);
        var resumeFrom = known == 0 ? "the slot's confirmed position" : $"the slot's confirmed position {new NpgsqlLogSequenceNumber(known)}";
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.Reconnecting(_logger, failure, _options.Slot, attempt, (long)delay.TotalMilliseconds, resumeFrom);
        }
        else
        {
            ExpectedLog.Reconnecting(_logger, _options.Slot, attempt, Why(failure), (long)delay.TotalMilliseconds, resumeFrom, failure.GetType().FullName);
        }
    }

    /// <summary>
    /// PostgreSQL shutting down (or restarting) ends a walsender's stream with CommandComplete, which Npgsql does not expect in
    /// COPY mode and reports as a lost protocol sync, "Received backend message CommandComplete while expecting
    /// CopyDataMessage. Please file a bug." (npgsql/npgsql#5752). Said to the operator as what it is; Npgsql's error stays the
    /// inner exception (the trace at debug level).
    /// </summary>
    private static Exception ServerClosedStream(Exception e) =>
        e is NpgsqlException and not PostgresException
        && e.Message.StartsWith("Received backend message CommandComplete while expecting CopyData", StringComparison.Ordinal)
            ? new IOException("the connection was closed by the server (PostgreSQL shutting down or restarting ended the replication stream)", e)
            : e;

    private TimeSpan ReconnectDelay(int attempt) =>
        TimeSpan.FromTicks(Math.Min(_options.ReconnectMaxDelay.Ticks, _options.ReconnectMinDelay.Ticks * (1L << Math.Min(attempt - 1, 20))));

    private static async Task EndedQuietlyAsync(Task? task)
    {
        if (task is null)
        {
            return;
        }

        try
        {
            await task;
        }
        catch (Exception)
        {
            // awaited again, and so reported, by DisposeAsync
        }
    }

    /// <summary>
    /// The slot whose creation this start would drop (<see cref="CheckStartAsync"/>) is held by a process that is not that
    /// creation's walsender: one streaming from it (another pipeline given the same slot name, another client), or a holder
    /// that is not a WAL sender. Retrying would not change that, nor may the start take the slot from it: it stops.
    /// </summary>
    private CaptureStoppedException SlotStreamedElsewhereStop(ReplicationSetup.SlotHolder holder, SlotCreationMark? creating)
    {
        var who = Holder(holder.Pid, holder.ApplicationName, holder.ClientAddress,
            holder.State ?? "not visible: not a WAL sender, or this role lacks pg_read_all_stats");
        var mark = creating is not null
            ? $"the state file {_store.Path} marks its creation begun at {creating.StartedUtc:O} (for {creating.For}) by a start that ended before recording it"
            : $"this start's earlier attempt lost its connection while creating it (the state file {_store.Path} marks that creation)";
        return new CaptureStoppedException(
            $"replication slot '{_options.Slot}' is in use by another consumer: {who} {(holder.Streams ? "streams from it" : "holds it")}, while {mark}. " +
            "Only a walsender still in that creation (CREATE_REPLICATION_SLOT; it never streams) is that start's: the start neither ended this one nor dropped the slot. " +
            "Two pipelines (different state directories) may have been given the same slot name: give one of them its own source.postgres.slot; " +
            "or, if that consumer is not to read from this slot, stop it (the next start then drops the slot, that consumer's position with it, " +
            "and creates it again); then start again (`cdcpipeline slot list` shows the slot's holder)");
    }

    private const string SlotInUseFix =
        "PostgreSQL lets one process at a time stream from a slot: stop the other instance (the same configuration started twice, " +
        "or an old one still running during a deploy), or give this one its own source.postgres.slot; `cdcpipeline slot list` shows the slot's holder";

    /// <summary>A process holding a slot or a WAL sender, as the messages name it: PID, application_name, client address (and state).</summary>
    private static string Holder(int? pid, string? applicationName, string? client, string? state = null) =>
        $"PID {pid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} (application_name '{applicationName ?? ""}', client {client ?? "local socket"}" +
        (state is null ? ")" : $", state {state})");

    /// <summary>
    /// Who holds the slot that refused START_REPLICATION with 55006: its walsender's PID, application_name and client address
    /// (pg_replication_slots joined with pg_stat_replication), or the PID the server named when it has let go since.
    /// </summary>
    private async Task<string> DescribeSlotHolderAsync(PostgresException inUse, CancellationToken cancellationToken)
    {
        var named = inUse.MessageText.LastIndexOf("PID ", StringComparison.Ordinal);
        var pid = named < 0 ? "?" : inUse.MessageText[(named + 4)..].Trim();
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            if ((await SlotInventory.ListAsync(connection, _options.Slot, cancellationToken)).FirstOrDefault() is { ActivePid: { } activePid } slot)
            {
                return Holder(activePid, slot.ApplicationName, slot.ClientAddress);
            }
        }
        catch (Exception e) when (IsTransient(e, cancellationToken))
        {
            // the server named the PID; the rest is a courtesy
        }

        return $"PID {pid}";
    }

    private const string WalSendersBusyFix =
        "Each replication connection takes one of the server's WAL senders (max_wal_senders; pg_stat_replication lists who holds them): " +
        "stop a client that should not hold one (another capture on this server, a forgotten pg_receivewal or pg_basebackup, a standby no longer used), " +
        "or raise max_wal_senders (ALTER SYSTEM SET max_wal_senders = …; then restart PostgreSQL, a reload is not enough); cdcpipeline db check shows the free WAL senders";

    /// <summary>
    /// 53300 is also max_connections' "sorry, too many clients already": only PostgreSQL's "number of requested standby
    /// connections exceeds max_wal_senders (currently n)" is the WAL senders' (the setting's name is not translated).
    /// </summary>
    private static bool IsWalSendersBusy(PostgresException e) =>
        e.SqlState == PostgresErrorCodes.TooManyConnections && e.MessageText.Contains("max_wal_senders", StringComparison.Ordinal);

    private CaptureStoppedException WalSendersBusyStop(string senders, Exception? failure) => new(
        $"replication slot '{_options.Slot}': every WAL sender of the server is busy, {senders}; gave up after " +
        $"{_options.MaxReconnectAttempts} attempts (source.postgres.maxReconnectAttempts). {WalSendersBusyFix}",
        failure);

    /// <summary>
    /// max_wal_senders and who holds the WAL senders (pg_stat_replication, on an ordinary connection, which max_wal_senders
    /// does not limit): PID, application_name, client address and state of each, the first few of them.
    /// </summary>
    private async Task<string> DescribeWalSendersAsync(CancellationToken cancellationToken)
    {
        const int Shown = 5;
        try
        {
            await using var cmd = _dataSource.CreateCommand(
                "SELECT pg_catalog.current_setting('max_wal_senders'), pid, application_name, client_addr::text, state " +
                "FROM pg_catalog.pg_stat_replication ORDER BY backend_start");
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            var max = "?";
            var holders = new List<string>();
            var count = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                max = reader.GetString(0);
                if (++count <= Shown)
                {
                    holders.Add(Holder(reader.IsDBNull(1) ? null : reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? "?" : reader.GetString(4)));
                }
            }

            return count == 0
                ? "max_wal_senders reached (pg_stat_replication shows none of them to this role)"
                : $"max_wal_senders = {max}, held by {string.Join(", ", holders)}" + (count > Shown ? $" and {count - Shown} more" : "");
        }
        catch (Exception e) when (IsTransient(e, cancellationToken))
        {
            return "max_wal_senders reached (pg_stat_replication could not be read: " + Why(e) + ")";
        }
    }

    /// <summary>A failure in one line: a connection failure with its cause ("Failed to connect to …" says where, the socket error why).</summary>
    private static string Why(Exception? e) =>
        e is null ? "-"
        : (e is NpgsqlException and not PostgresException && e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message).ReplaceLineEndings(" ");

    /// <summary>
    /// What to do about a value decoded from the WAL: PostgreSQL sends the same change again after every restart, and
    /// correcting the row does not change what was written, so the slot must be left behind (or moved past it).
    /// </summary>
    private string StreamedValueNextStep(uint typeOid) =>
        "PostgreSQL decodes the same change again after a restart, so retrying cannot help" +
        (typeOid == 790 ? " unless source.postgres.moneyFractionDigits is wrong for this database's currency (correct it and start again); otherwise" : ";") +
        " correct the value in the database, then drop the slot (cdcpipeline slot drop " + _options.Slot + ") and start with " +
        "source.postgres.snapshot: when_needed to read the tables as they are now (the changes in between are seen only as the rows' current state)";

    private static string StoredPosition(ulong lsn) => lsn == 0 ? "an unknown position" : new NpgsqlLogSequenceNumber(lsn).ToString();

    /// <summary>Records the LSN confirmed to the slot in the state file (at heartbeats and at the end, not per transaction).</summary>
    private void SaveConfirmedPosition()
    {
        // Read before taking the state's lock: acknowledgements hold the tracker's lock while they take the state's.
        var flushed = _ack.FlushedLsn;
        if (_state is not { } state)
        {
            return;
        }

        SnapshotStateStore.Pending save;
        lock (_store.Sync)
        {
            if (flushed <= state.ConfirmedLsn)
            {
                return;
            }

            state.ConfirmedLsn = flushed;
            save = _store.Capture(state);
        }

        WriteLogged(save);
    }

    /// <summary>
    /// Writes a captured state, outside the store's lock; a write that fails (disk full, permissions) is logged and the state
    /// stays in memory, written again with the next save.
    /// </summary>
    private void WriteLogged(SnapshotStateStore.Pending save)
    {
        try
        {
            _store.Write(save);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.StateSaveFailed(_logger, e, _store.Path);
        }
    }

    private static UtcTimestamp CommitTime(DateTime commitTimestamp) =>
        UtcTimestamp.FromDateTimeOffset(new DateTimeOffset(DateTime.SpecifyKind(commitTimestamp, DateTimeKind.Utc)));

    private static PendingChange UpdateChange(RelationInfo r, Row? before, Row after, ulong lsn, uint? xid)
    {
        var key = r.KeyOf(after);
        var oldKey = r.KeyOf(before);
        // only a changed key matters: with REPLICA IDENTITY FULL the old key is always there
        if (oldKey is not null && key is not null && IncrementalSnapshotter.KeyText(oldKey) == IncrementalSnapshotter.KeyText(key))
        {
            oldKey = null;
        }

        return new PendingChange(ChangeKind.Change, ChangeOperation.Update, r, key, before, after, lsn, xid, OldKey: oldKey);
    }

    private RelationInfo Relation(uint id) =>
        _relations.TryGetValue(id, out var r) ? r : throw new InvalidDataException($"pgoutput sent a change for relation {id} before its RELATION message");

    private async Task OnRelationAsync(RelationMessage message, ulong position, CancellationToken cancellationToken)
    {
        var count = message.Columns.Count;
        var names = new string[count];
        var oids = new uint[count];
        var converters = new Func<string, object?>[count];
        var flagged = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var column = message.Columns[i];
            names[i] = column.ColumnName;
            oids[i] = column.DataTypeId;
            converters[i] = await _types.GetConverterAsync(column.DataTypeId, column.TypeModifier, cancellationToken);
            if ((column.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0)
            {
                flagged.Add(i);
            }
        }

        var identity = message.ReplicaIdentity switch
        {
            RelationMessage.ReplicaIdentitySetting.AllColumns => 'f',
            RelationMessage.ReplicaIdentitySetting.Nothing => 'n',
            RelationMessage.ReplicaIdentitySetting.IndexWithIndIsReplIdent => 'i',
            _ => 'd',
        };

        // Debezium's key is the primary key (in key order) whatever the replica identity: with FULL identity pgoutput
        // flags every column as "key", so the flags alone would make the whole row the key.
        var primaryKey = await PrimaryKeyColumnsAsync(message.RelationId, cancellationToken);
        var keyIndexes = primaryKey.Count > 0 && primaryKey.All(k => Array.IndexOf(names, k) >= 0)
            ? primaryKey.Select(k => Array.IndexOf(names, k)).ToArray()
            : identity == 'f' ? [] : flagged.ToArray();

        var info = new RelationInfo(message.RelationId, message.Namespace, message.RelationName, identity, names, oids, converters, keyIndexes);
        if (_relations.TryGetValue(message.RelationId, out var previous)
            && (!previous.Shape.Columns.SequenceEqual(names, StringComparer.Ordinal) || !previous.TypeOids.AsSpan().SequenceEqual(oids)))
        {
            Log.RelationChanged(_logger, info.QualifiedName, count, string.Join(", ", names));
        }

        if (!info.HasKey && identity != 'f')
        {
            WarnNoKeyOnce(info.QualifiedName);
        }

        _relations[message.RelationId] = info;
        await CheckRenamedAsync(info, position, cancellationToken);
    }

    private async Task<List<string>> PrimaryKeyColumnsAsync(uint relationId, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(
            "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) " +
            "WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)");
        cmd.Parameters.Add(new NpgsqlParameter<uint> { TypedValue = relationId, NpgsqlDbType = NpgsqlDbType.Oid });
        var names = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>
    /// The start's checks of the rules against the captured tables, from one catalog query (only when some rule file names a
    /// captured table): event 1115 for each rule that reads the old row (on an update any <c>before.col</c> and <c>changed()</c>,
    /// on a delete <c>before.col</c> and <c>row.col</c> outside the replica identity, for the ops its <c>when</c> lets it fire on)
    /// while the table's REPLICA IDENTITY is not FULL, said at start rather than found at the
    /// first update (a dead letter) or never (a null old value); event 1116 for each rule (and <c>key:</c>) naming a column the
    /// table does not have (<c>after.qtty</c>), rather than at the first change it meets, which would go to the dead letters
    /// (event 1118 for a generated column: the table has it, but pgoutput does not send it);
    /// event 1117 for each expression that fails on every change given the columns' types (<c>after.sts_cd == 5</c> on a CHAR
    /// column, <c>when: after.qty</c>), which would go to the dead letters too.
    /// </summary>
    /// <param name="partitioned">The captured partitioned tables with their leaf partitions' replica identities.</param>
    private async Task WarnRulesAgainstTablesAsync(IReadOnlyList<string> tables,
        IReadOnlyDictionary<string, IReadOnlyList<ReplicationSetup.PartitionIdentity>> partitioned, CancellationToken cancellationToken)
    {
        var captured = tables.ToHashSet(StringComparer.Ordinal);
        var files = _options.RuleFiles.Where(f => captured.Contains(f.Table)).ToList();
        if (files.Count == 0)
        {
            return;
        }

        await using var cmd = _dataSource.CreateCommand("""
            SELECT n.nspname || '.' || c.relname, c.relreplident::text,
                   ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i
                         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                         WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))),
                   ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                   -- per column: the type its values are converted by (a domain's base type; an enum arrives as text), and its name
                   ARRAY(SELECT CASE WHEN t.typtype = 'e' THEN 'text'::regtype::oid ELSE COALESCE(NULLIF(t.typbasetype, 0), a.atttypid) END
                         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                   ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                   ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> '' ORDER BY a.attnum),
                   -- a partitioned table's primary key, which its partitions have: the key their DEFAULT identity sends
                   ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i
                         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                         WHERE i.indrelid = c.oid AND i.indisprimary AND c.relkind = 'p')
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE (n.nspname || '.' || c.relname) = ANY ($1) AND c.relkind IN ('r', 'p')
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = files.Select(f => f.Table).Distinct(StringComparer.Ordinal).ToArray() });
        var catalog = new Dictionary<string, (string Identity, string[] IdentityColumns, string[] Columns, Dictionary<string, RuleColumnType> Types, string[] Generated,
            string[] PartitionKey)>(StringComparer.Ordinal);
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var columns = reader.GetFieldValue<string[]>(3);
                var oids = reader.GetFieldValue<uint[]>(4);
                var typeNames = reader.GetFieldValue<string[]>(5);
                var types = new Dictionary<string, RuleColumnType>(StringComparer.Ordinal);
                for (var i = 0; i < columns.Length; i++)
                {
                    types[columns[i]] = new RuleColumnType(PgTextValues.RuleKinds(oids[i]), typeNames[i]);
                }

                catalog[reader.GetString(0)] = (reader.GetString(1), reader.GetFieldValue<string[]>(2), columns, types, reader.GetFieldValue<string[]>(6),
                    reader.GetFieldValue<string[]>(7));
            }
        }

        foreach (var file in files)
        {
            // no such table: the start says so elsewhere
            if (catalog.TryGetValue(file.Table, out var table))
            {
                // a partitioned table's old rows come with its partitions' replica identity, not its own
                if (partitioned.TryGetValue(file.Table, out var partitions))
                {
                    WarnRulesNeedingOldRow(file, partitions, table.PartitionKey);
                }
                else
                {
                    WarnRulesNeedingOldRow(file, table.Identity, table.IdentityColumns);
                }

                WarnRulesNamingMissingColumns(file, table.Columns);
                WarnRulesNamingGeneratedColumns(file, table.Generated);
                WarnRulesMistypingColumns(file, table.Types);
            }
        }
    }

    /// <summary>Event 1117 for each expression of <paramref name="file"/>'s rules that fails on every change given its table's column types.</summary>
    private void WarnRulesMistypingColumns(TableRules file, Dictionary<string, RuleColumnType> types)
    {
        foreach (var (what, at, e, problem) in RuleTypeCheck.Check(file, types))
        {
            if (SayAtStart(1117, file.File, what, at, problem.Problem))
            {
                RuleLog.RuleMistypesColumns(_logger, what, at, e.What, problem.Problem, file.Table, problem.Fix);
            }
        }
    }

    /// <summary>
    /// Event 1118 for <paramref name="file"/>'s rules (and its <c>key:</c>) naming its <paramref name="generated"/> columns: the
    /// table has them (1116 says nothing), but pgoutput does not send them (the snapshot does not read them either).
    /// </summary>
    private void WarnRulesNamingGeneratedColumns(TableRules file, string[] generated)
    {
        var keys = file.KeyColumns.Where(c => Array.IndexOf(generated, c) >= 0).ToList();
        if (keys.Count > 0 && SayAtStart(1118, file.File, "key:", string.Join(", ", keys)))
        {
            Log.RuleNamesGeneratedColumns(_logger, "key:", file.KeyLocation?.ToString() ?? file.File, string.Join(", ", keys), file.Table);
        }

        foreach (var rule in file.Events)
        {
            var (first, named) = ColumnsNamed(file, rule, c => Array.IndexOf(generated, c) >= 0);
            if (first is not null && SayAtStart(1118, file.File, rule.Id, string.Join(", ", named)))
            {
                Log.RuleNamesGeneratedColumns(_logger, "rule " + rule.Id, first.Location.ToString(), string.Join(", ", named), file.Table);
            }
        }
    }

    /// <summary>The columns <paramref name="rule"/> (with the file's subject) names that <paramref name="match"/> picks, and the first expression naming one.</summary>
    private static (CompiledExpression? First, List<string> Columns) ColumnsNamed(TableRules file, EventRule rule, Func<string, bool> match)
    {
        CompiledExpression? first = null;
        var named = new List<string>();
        foreach (var e in rule.Expressions().Concat(rule.Subject is null && file.Subject is not null ? [file.Subject] : []))
        {
            var these = e.Columns.Where(c => match(c) && !named.Contains(c)).ToList();
            if (these.Count > 0)
            {
                first ??= e;
                named.AddRange(these);
            }
        }

        return (first, named);
    }

    /// <summary>
    /// Event 1115 for a partitioned table: its <paramref name="partitions"/>' replica identity is what PostgreSQL logs the old row
    /// by (the partitioned table's own does not reach them), so the rules are checked against the weakest of those not FULL,
    /// which the warning names with one fix per partition. A partition under DEFAULT sends the partitioned table's primary key
    /// (<paramref name="primaryKey"/>), which it has; one under USING INDEX is taken as sending no column a rule could need.
    /// </summary>
    private void WarnRulesNeedingOldRow(TableRules file, IReadOnlyList<ReplicationSetup.PartitionIdentity> partitions, string[] primaryKey)
    {
        var weak = partitions.Where(p => p.Identity != 'f').ToList();
        if (weak.Count == 0)
        {
            return;
        }

        var (identity, columns) = weak.Any(p => !p.Keyed || p.Identity == 'n') ? ("n", Array.Empty<string>())
            : weak.Any(p => p.Identity == 'd') ? ("d", primaryKey)
            : ("i", []);
        var names = string.Join("/", weak.Select(p => IdentityName(p.Identity)).Distinct(StringComparer.Ordinal));
        WarnRulesNeedingOldRow(file, identity, columns,
            $"{names} on its partition{(weak.Count == 1 ? "" : "s")} {string.Join(", ", weak.Select(p => p.Name))} (PostgreSQL logs the old row by the partition's " +
            "identity; the partitioned table's own does not reach its partitions)",
            string.Join(" ", weak.Select(p => $"ALTER TABLE {ReplicationSetup.QuoteTable(p.Name)} REPLICA IDENTITY FULL;")));
    }

    private static string IdentityName(char identity) => identity switch
    {
        'd' => "DEFAULT",
        'i' => "USING INDEX",
        _ => "NOTHING",
    };

    /// <summary>Event 1115 for <paramref name="file"/>'s rules that read an old row its table's replica identity does not send.</summary>
    private void WarnRulesNeedingOldRow(TableRules file, string identity, string[] identityColumns, string? identityName = null, string? fix = null)
    {
        if (identity == "f")
        {
            return;
        }

        foreach (var rule in file.Events)
        {
            // Without FULL an update carries no old row at all (changed() fails, before.col reads null, a key column too: a
            // changed key arrives as a delete and a create), and a delete only the identity's columns (before.col and row.col of
            // the others read null). What a rule reads matters only for the ops its when: lets it fire on.
            var onUpdate = rule.MayFireOn("u");
            var onDelete = rule.MayFireOn("d");
            var reads = new List<string>();
            CompiledExpression? first = null;
            foreach (var e in rule.Expressions().Concat(rule.Subject is null && file.Subject is not null ? [file.Subject] : []))
            {
                var these = (onUpdate ? e.ChangedColumns.Select(c => $"changed(\"{c}\")") : [])
                    .Concat(e.OldColumns.Where(c => onUpdate || (onDelete && Array.IndexOf(identityColumns, c) < 0)).Select(c => "before." + c))
                    .Concat(onDelete ? e.RowColumns.Where(c => Array.IndexOf(identityColumns, c) < 0).Select(c => "row." + c) : [])
                    .Where(r => !reads.Contains(r))
                    .ToList();
                if (these.Count > 0)
                {
                    first ??= e;
                    reads.AddRange(these);
                }
            }

            if (first is null)
            {
                continue;
            }

            var key = string.Join(", ", identityColumns);
            var (name, sent) = identity switch
            {
                "d" when identityColumns.Length == 0 => ("DEFAULT", "no old row at all (the table has no primary key)"),
                "d" => ("DEFAULT", $"no old row with an update and only the key ({key}) with a delete"),
                "i" => ("USING INDEX", $"only the index columns ({key}) of the old row, with a delete or an update that changes them"),
                _ => ("NOTHING", "no old row at all"),
            };
            name = identityName ?? name;
            if (!SayAtStart(1115, rule.Id, file.Table, name, string.Join(", ", reads)))
            {
                continue;
            }

            Log.RuleNeedsOldRow(_logger, rule.Id, first.Location.ToString(), file.Table, string.Join(", ", reads), name, sent,
                fix ?? $"ALTER TABLE {ReplicationSetup.QuoteTable(file.Table)} REPLICA IDENTITY FULL;");
        }
    }

    /// <summary>Event 1116 for <paramref name="file"/>'s rules (and its <c>key:</c>) naming columns its table does not have.</summary>
    /// <summary>Event 1116 for <paramref name="file"/>'s rules (and its <c>key:</c>) naming columns its table does not have.</summary>
    private void WarnRulesNamingMissingColumns(TableRules file, string[] columns)
    {
        var has = string.Join(", ", columns);
        var missingKeys = file.KeyColumns.Where(c => Array.IndexOf(columns, c) < 0).ToList();
        if (missingKeys.Count > 0 && SayAtStart(1116, file.File, "key:", string.Join(", ", missingKeys)))
        {
            Log.RuleNamesMissingColumns(_logger, "key:", (file.KeyLocation?.ToString() ?? file.File), string.Join(", ", missingKeys), file.Table, has);
        }

        foreach (var rule in file.Events)
        {
            var (first, missing) = ColumnsNamed(file, rule, c => Array.IndexOf(columns, c) < 0);

            if (first is not null && SayAtStart(1116, file.File, rule.Id, string.Join(", ", missing)))
            {
                Log.RuleNamesMissingColumns(_logger, "rule " + rule.Id, first.Location.ToString(), string.Join(", ", missing), file.Table, has);
            }
        }
    }

    /// <summary>
    /// Whether a warning of the start's checks (event <paramref name="eventId"/> about <paramref name="about"/>) is said now:
    /// once per process, though a lost connection runs the checks again. One whose situation changed between attempts (other
    /// arguments) is said again.
    /// </summary>
    private bool SayAtStart(int eventId, params string?[] about) =>
        _saidAtStart.Add(eventId.ToString(CultureInfo.InvariantCulture) + "\u001f" + string.Join('\u001f', about));

    /// <summary>
    /// Event 62 for each captured partitioned table with leaf partitions that lack a replica identity, from the query db check's
    /// "key" finding reads them with: their identity is the one PostgreSQL checks and logs, which the table's own (1005) does not
    /// set. Each partition said is taken as said for 1005 too, which the first change of it (its RELATION message) would repeat.
    /// </summary>
    private void WarnPartitionsWithoutKey(IReadOnlyDictionary<string, IReadOnlyList<ReplicationSetup.PartitionIdentity>> partitioned)
    {
        foreach (var (table, partitions) in partitioned)
        {
            var keyless = partitions.Where(p => !p.Keyed).Select(p => p.Name).ToList();
            if (keyless.Count == 0)
            {
                continue;
            }

            lock (_warnedNoKey)
            {
                _warnedNoKey.UnionWith(keyless);
            }

            if (SayAtStart(62, [table, .. keyless]))
            {
                Log.PartitionsWithoutReplicaIdentity(_logger, ReplicationSetup.QuoteTable(table), string.Join(", ", keyless),
                    string.Join(" ", keyless.Select(p => $"ALTER TABLE {ReplicationSetup.QuoteTable(p)} REPLICA IDENTITY FULL;")));
            }
        }
    }

    private void WarnNoKeyOnce(string table)
    {
        lock (_warnedNoKey)
        {
            if (!_warnedNoKey.Add(table))
            {
                return;
            }
        }

        Log.NoReplicaIdentity(_logger, ReplicationSetup.QuoteTable(table));
    }

    /// <summary>Copies a tuple into a row before Npgsql reuses the message.</summary>
    private async ValueTask<Row> ReadRowAsync(RelationInfo relation, ReplicationTuple tuple, CancellationToken cancellationToken)
    {
        var values = new object?[relation.Shape.Count];
        var converters = relation.Converters;
        var i = 0;
        string? text = null; // the text being converted: set only around the converter call
        try
        {
            await foreach (var value in tuple.WithCancellation(cancellationToken))
            {
                switch (value.Kind)
                {
                    case TupleDataKind.Null:
                        break;
                    case TupleDataKind.UnchangedToastedValue:
                        values[i] = Unavailable.Value;
                        break;
                    case TupleDataKind.TextValue:
                        var read = await value.Get<string>(cancellationToken);
                        text = read;
                        values[i] = converters[i](read);
                        text = null;
                        break;
                    default:
                        values[i] = await value.Get<byte[]>(cancellationToken);
                        break;
                }

                i++;
            }
        }
        catch (Exception e) when (text is not null && ColumnValueException.IsConversionFailure(e))
        {
            throw new ColumnValueException(relation.QualifiedName, relation.Shape.Columns[i], text, e, StreamedValueNextStep(relation.TypeOids[i]));
        }

        return new Row(relation.Shape, values);
    }

    /// <summary>
    /// REPLICA IDENTITY FULL: pgoutput still marks a TOASTed value the update left alone as unchanged in the new
    /// tuple, but the old tuple carries it (detoasted). Unchanged means equal to the old value, so it is copied —
    /// exact, no race, and what Debezium does (DBZ-3835).
    /// </summary>
    private static Row FillUnchangedToast(Row after, Row before)
    {
        object?[]? values = null;
        for (var i = 0; i < after.Count; i++)
        {
            if (after[i] is Unavailable && before[i] is not Unavailable)
            {
                values ??= after.Values.ToArray();
                values[i] = before[i];
            }
        }

        return values is null ? after : new Row(after.Shape, values);
    }

    /// <summary>
    /// For tables configured for it, replaces unchanged-TOAST markers with the column's CURRENT value, selected by key.
    /// Race: the value read is the one at read time, possibly written by a later transaction than this change.
    /// </summary>
    private async ValueTask<Row> ReselectToastAsync(RelationInfo relation, Row after, CancellationToken cancellationToken)
    {
        if (!_reselectToast.Contains(relation.QualifiedName) || !relation.HasKey || !after.Values.Any(v => v is Unavailable))
        {
            return after;
        }

        var missing = Enumerable.Range(0, after.Count).Where(i => after[i] is Unavailable).ToArray();
        var sql = new StringBuilder("SELECT ");
        sql.AppendJoin(", ", missing.Select(i => ReplicationSetup.QuoteIdentifier(relation.Shape.Columns[i])));
        sql.Append(" FROM ").Append(ReplicationSetup.QuoteIdentifier(relation.Schema)).Append('.').Append(ReplicationSetup.QuoteIdentifier(relation.Table)).Append(" WHERE ");
        await using var cmd = _dataSource.CreateCommand();
        cmd.AllResultTypesAreUnknown = true;
        for (var k = 0; k < relation.KeyIndexes.Length; k++)
        {
            var column = relation.KeyIndexes[k];
            sql.Append(k == 0 ? "" : " AND ").Append(ReplicationSetup.QuoteIdentifier(relation.Shape.Columns[column])).Append(" = $").Append(k + 1);
            var keyText = after[column] switch
            {
                null => null,
                ExactDecimal d => d.ToString(),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                var v => v.ToString(),
            };
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)keyText ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Unknown });
        }

        cmd.CommandText = sql.ToString();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return after; // deleted since: the marker stays
        }

        var values = after.Values.ToArray();
        var m = 0;
        string? text = null;
        try
        {
            for (; m < missing.Length; m++)
            {
                if (reader.IsDBNull(m))
                {
                    values[missing[m]] = null;
                    continue;
                }

                text = reader.GetString(m);
                values[missing[m]] = relation.Converters[missing[m]](text);
                text = null;
            }
        }
        catch (Exception e) when (text is not null && ColumnValueException.IsConversionFailure(e))
        {
            throw new ColumnValueException(relation.QualifiedName, relation.Shape.Columns[missing[m]], text, e,
                "The value was read again from the table (source.postgres.reselectToastTables), so retrying cannot help: correct it in the database, then start again");
        }

        return new Row(relation.Shape, values);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    /// <summary>
    /// The events of one decoded change of a committed transaction (none for a signal-table row, a filtered
    /// table, or an unrequested message; two for a primary-key change), unless this instance already handed it
    /// out before a reconnect. A redelivered change still takes its position minors, so the rest are numbered alike.
    /// </summary>
    private void Emit(TransactionEmission transaction, PendingChange change, List<ChangeEvent> output)
    {
        var commitLsn = transaction.CommitLsn;
        var ordinal = transaction.NextOrdinal++;
        var redelivered = AlreadyEmitted((long)commitLsn, ordinal);
        var relation = change.Relation;
        if (relation is not null && relation.QualifiedName == _signalTable)
        {
            if (!redelivered)
            {
                OnSignal(change, commitLsn);
                (_lastEmittedMajor, _lastEmittedOrdinal) = ((long)commitLsn, ordinal);
            }

            return;
        }

        if (relation is not null ? _tableFilter is not null && !_tableFilter.Contains(relation.QualifiedName) : change.Kind == ChangeKind.Message && !_options.IncludeMessages)
        {
            return;
        }

        if (redelivered)
        {
            transaction.NextMinor += change.OldKey is null ? 1 : 2;
            return;
        }

        if (relation is not null)
        {
            if (change.Operation == ChangeOperation.Truncate)
            {
                _incremental?.OnTruncate(relation.QualifiedName);
            }

            _incremental?.OnChange(relation.QualifiedName, change.Key, change.OldKey, transaction.Xid);
        }

        var source = new SourceInfo
        {
            Connector = Connector,
            Name = _options.ServerName,
            Database = _database,
            Schema = relation?.Schema,
            Table = relation?.Table,
            Lsn = (long)change.Lsn,
            TxId = transaction.Xid,
            CommitTime = transaction.CommitTime,
            Snapshot = SnapshotMarker.False,
        };

        if (change.OldKey is { } oldKey)
        {
            // Debezium turns a primary-key change into a delete of the old key and a create of the new one.
            output.Add(new ChangeEvent
            {
                Kind = ChangeKind.Change, Operation = ChangeOperation.Delete, Source = source,
                Position = SourcePosition.ForLsn(_options.Slot, commitLsn, transaction.NextMinor++),
                Key = oldKey, Before = change.Before, After = null, NewKey = change.Key,
            });
            output.Add(new ChangeEvent
            {
                Kind = ChangeKind.Change, Operation = ChangeOperation.Create, Source = source,
                Position = SourcePosition.ForLsn(_options.Slot, commitLsn, transaction.NextMinor++),
                Key = change.Key, Before = null, After = change.After, OldKey = oldKey,
            });
        }
        else
        {
            output.Add(new ChangeEvent
            {
                Kind = change.Kind,
                Operation = change.Operation,
                Source = source,
                Position = SourcePosition.ForLsn(_options.Slot, commitLsn, transaction.NextMinor++),
                Key = change.Key,
                Before = change.Before,
                After = change.After,
                Message = change.Message,
            });
        }

        (_lastEmittedMajor, _lastEmittedOrdinal) = ((long)commitLsn, ordinal);
    }

    /// <summary>Handed out before a reconnect: change <paramref name="ordinal"/> of the transaction at <paramref name="major"/> (long.MaxValue: its COMMIT).</summary>
    private bool AlreadyEmitted(long major, long ordinal) =>
        major < _lastEmittedMajor || (major == _lastEmittedMajor && ordinal <= _lastEmittedOrdinal);

    /// <summary>
    /// At COMMIT: registers the transaction with the acknowledgement tracker (its last event's position and the
    /// end LSN the slot may confirm once that event is acknowledged) — unless it was completed before a reconnect.
    /// </summary>
    private async ValueTask CompleteAsync(TransactionEmission transaction, ulong endLsn, CancellationToken cancellationToken)
    {
        var commitLsn = (long)transaction.CommitLsn;
        if (AlreadyEmitted(commitLsn, long.MaxValue))
        {
            // re-sent after a reconnect, and already handed out whole by this instance
            Log.SkippingRedelivered(_logger, new NpgsqlLogSequenceNumber(transaction.CommitLsn).ToString());
            return;
        }

        (_lastEmittedMajor, _lastEmittedOrdinal) = (commitLsn, long.MaxValue);
        if (_ack.Register(commitLsn, transaction.NextMinor - 1, endLsn) is { } flush)
        {
            await SendFeedbackAsync(flush, cancellationToken);
        }
    }

    private async Task<List<ChangeEvent>> OnNonTransactionalMessageAsync(string prefix, byte[] content, ulong lsn, CancellationToken cancellationToken)
    {
        // pgoutput reports a non-transactional message at the END of its WAL record, and the next record (say a
        // COMMIT, whose start is that transaction's position major) may begin exactly there. Positions use one
        // less, which is still after every earlier record's start: log order stays strict, and the transaction
        // that follows is neither taken for a redelivery nor given the message's major.
        var major = lsn - 1;
        var events = new List<ChangeEvent>();
        if ((long)major <= _lastEmittedMajor)
        {
            return events;
        }

        (_lastEmittedMajor, _lastEmittedOrdinal) = ((long)major, long.MaxValue);
        var source = new SourceInfo { Connector = Connector, Name = _options.ServerName, Database = _database, Lsn = (long)lsn };
        Action? onDone = null;
        switch (prefix)
        {
            case HeartbeatPrefix:
                events.Add(new ChangeEvent { Kind = ChangeKind.Heartbeat, Source = source, Position = SourcePosition.ForLsn(_options.Slot, major, 0) });
                break;
            case IncrementalSnapshotter.WatermarkPrefix:
                if (_incremental?.OnWatermark(Encoding.UTF8.GetString(content)) is { } chunk)
                {
                    foreach (var row in chunk.Rows)
                    {
                        events.Add(new ChangeEvent
                        {
                            Kind = ChangeKind.Change,
                            Operation = ChangeOperation.Read,
                            Source = source with { Schema = chunk.Table.Schema, Table = chunk.Table.Table, Snapshot = SnapshotMarker.Incremental },
                            Position = SourcePosition.ForLsn(_options.Slot, major, events.Count),
                            Key = row.Key,
                            After = row.After,
                            SnapshotRequest = chunk.Request,
                        });
                    }

                    onDone = chunk.OnAcknowledged;
                }

                break;
            default:
                if (_options.IncludeMessages)
                {
                    events.Add(new ChangeEvent
                    {
                        Kind = ChangeKind.Message, Operation = ChangeOperation.Message, Source = source,
                        Position = SourcePosition.ForLsn(_options.Slot, major, 0),
                        Message = new LogicalMessage(prefix, content, Transactional: false),
                    });
                }

                break;
        }

        // Confirming the record's end: after a restart PostgreSQL skips what starts before the confirmed LSN (this
        // message), and not a COMMIT starting exactly there — one past it would skip that transaction unacknowledged.
        if (_ack.Register((long)major, events.Count - 1, lsn, onDone) is { } flush)
        {
            await SendFeedbackAsync(flush, cancellationToken);
        }

        return events;
    }

    /// <summary>The shape of an <c>execute-snapshot</c> signal's data, for the lines that refuse one.</summary>
    private const string SignalDataShape = """{"data-collections":["schema.table"]}""";

    /// <summary>
    /// A row inserted into the signal table, as Debezium reads its signals: <c>execute-snapshot</c> queues its tables,
    /// <c>log</c> logs its message. Anything else is one warning naming the signal and what to do (as Debezium warns of a
    /// type it does not know); the stream goes on whatever the row holds.
    /// </summary>
    private void OnSignal(PendingChange change, ulong commitLsn)
    {
        if (change.Operation != ChangeOperation.Create || change.After is not { } row)
        {
            return;
        }

        var id = row.TryGetValue("id", out var idValue) ? Convert.ToString(idValue, CultureInfo.InvariantCulture) ?? "" : "";
        var type = row.TryGetValue("type", out var typeValue) ? Convert.ToString(typeValue, CultureInfo.InvariantCulture) ?? "" : "";
        var data = row.TryGetValue("data", out var dataValue) ? dataValue?.ToString() : null;
        switch (type)
        {
            case "execute-snapshot":
                OnExecuteSnapshotSignal(id, type, data, commitLsn);
                break;
            case "log":
                var lsn = new NpgsqlLogSequenceNumber(commitLsn).ToString();
                Log.SignalLogged(_logger, id, lsn, SignalLogMessage(data)?.Replace("{}", lsn, StringComparison.Ordinal)
                                                   ?? $"(no \"message\" in its data: {data ?? "null"})");
                break;
            case "stop-snapshot" or "pause-snapshot" or "resume-snapshot":
                Log.SignalIgnored(_logger, id, type,
                    $"Debezium's {type} is not supported by the embedded capture (it runs execute-snapshot and log): incremental snapshots " +
                    "already queued go on to their end; stopping run pauses them, and the next start resumes them after their last acknowledged chunk");
                break;
            default:
                Log.SignalIgnored(_logger, id, type,
                    "not a signal type the embedded capture knows: it runs execute-snapshot (data " + SignalDataShape + ") and log " +
                    "(Debezium's stop-snapshot, pause-snapshot and resume-snapshot are not supported); correct the type and insert the signal again under a new id");
                break;
        }
    }

    /// <summary>A <c>log</c> signal's <c>message</c>, or null when its data has none.</summary>
    private static string? SignalLogMessage(string? data)
    {
        try
        {
            using var json = JsonDocument.Parse(data ?? "null");
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String
                ? message.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Queues the tables of an <c>execute-snapshot</c> signal, all or none: a signal whose data cannot be read as Debezium's
    /// (<see cref="SignalDataShape"/>), or asks for what the embedded capture does not do (a blocking snapshot, additional
    /// conditions), is refused whole, with what to insert instead.
    /// </summary>
    private void OnExecuteSnapshotSignal(string id, string type, string? data, ulong commitLsn)
    {
        if (_incremental is null)
        {
            Log.SignalIgnored(_logger, id, type, "incremental snapshots need streaming");
            return;
        }

        const string Again = "; insert the signal again under a new id with data " + SignalDataShape;
        var tables = new List<string>();
        try
        {
            using var json = JsonDocument.Parse(data ?? "{}");
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                Log.SignalIgnored(_logger, id, type, $"data {root.GetRawText()} is not a JSON object" + Again);
                return;
            }

            if (!root.TryGetProperty("data-collections", out var collections) || collections.ValueKind != JsonValueKind.Array || collections.GetArrayLength() == 0)
            {
                Log.SignalIgnored(_logger, id, type, $"data {root.GetRawText()} names no table (it needs a \"data-collections\" array of table names)" + Again);
                return;
            }

            if (root.TryGetProperty("type", out var kind) && !(kind.ValueKind == JsonValueKind.String && string.Equals(kind.GetString(), "incremental", StringComparison.OrdinalIgnoreCase)))
            {
                Log.SignalIgnored(_logger, id, type,
                    $"a snapshot of \"type\" {kind.GetRawText()} is not supported by the embedded capture: it reads tables incrementally while streaming (blocking snapshots are not supported); " +
                    "insert the signal again under a new id without \"type\" (or with \"type\":\"incremental\")");
                return;
            }

            if (root.TryGetProperty("additional-conditions", out var conditions) && conditions.ValueKind != JsonValueKind.Null && !(conditions.ValueKind == JsonValueKind.Array && conditions.GetArrayLength() == 0))
            {
                Log.SignalIgnored(_logger, id, type,
                    "\"additional-conditions\" (a snapshot of some rows) is not supported by the embedded capture: it reads whole tables; " +
                    "insert the signal again under a new id without them to read the whole tables");
                return;
            }

            foreach (var table in collections.EnumerateArray())
            {
                if (table.ValueKind != JsonValueKind.String || table.GetString() is not { Length: > 0 } name)
                {
                    Log.SignalIgnored(_logger, id, type, $"\"data-collections\" holds {table.GetRawText()}, not a table name" + Again);
                    return;
                }

                tables.Add(ReplicationSetup.NormalizeTableName(name));
            }
        }
        catch (JsonException e)
        {
            Log.SignalIgnored(_logger, id, type, $"data is not JSON ({e.Message})" + Again);
            return;
        }

        foreach (var table in tables)
        {
            // The signal row's commit names the request: the same signal read again after a stop (not yet acknowledged) reads
            // its rows under the same name, and an id used again later (signals are the operator's text) is another request.
            _incremental.Enqueue(table, $"signal '{id}'", $"signal '{id}' at {new NpgsqlLogSequenceNumber(commitLsn)}");
        }
    }

    private async Task SendFeedbackAsync(ulong flush, CancellationToken cancellationToken)
    {
        if (_replication is not { } connection)
        {
            return; // the next connection starts from this LSN (StreamOnceAsync)
        }

        // acknowledgements (pipeline thread) and empty transactions (reader) may both report: one at a time, never backwards
        await _feedbackLock.WaitAsync(cancellationToken);
        try
        {
            flush = Math.Max(flush, _ack.FlushedLsn);
            connection.SetReplicationStatus(new NpgsqlLogSequenceNumber(flush));
            await connection.SendStatusUpdate(cancellationToken);
            Log.Acknowledged(_logger, _options.Slot, new NpgsqlLogSequenceNumber(flush).ToString());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // the connection is broken: the reader reconnects and sends the status again
        }
        finally
        {
            _feedbackLock.Release();
        }
    }

    /// <summary>
    /// Reads the initial snapshot's tables (at <paramref name="snapshotName"/>, the slot's exported snapshot, or at a fresh one)
    /// from where <paramref name="read"/> says rows were handed out up to. A connection lost on the way ends the read without
    /// an exception: <see cref="InitialSnapshotCursor.Lost"/> says why, the cursor where it got; the row held back to be marked
    /// last is handed out first unless <see cref="SnapshotMode.InitialOnly"/> goes on reading (it stays held for that).
    /// </summary>
    private async IAsyncEnumerable<ChangeEvent> ReadInitialSnapshotAsync(string? snapshotName, InitialSnapshotCursor read, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var state = _state!;
        if (BeforeInitialSnapshot is { } beforeSnapshot)
        {
            await beforeSnapshot(cancellationToken);
        }

        read.HandedOut = false;
        NpgsqlConnection? connection = null;
        NpgsqlTransaction? transaction = null;
        try
        {
            try
            {
                connection = await _dataSource.OpenConnectionAsync(cancellationToken);
                transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
                if (snapshotName is not null)
                {
                    await ImportSnapshotAsync(connection, transaction, snapshotName, cancellationToken);
                }
            }
            catch (Exception e) when (IsLost(e, cancellationToken))
            {
                read.Lost = e;
            }

            // Snapshot rows sit just before the consistent point: every streamed transaction commits at or after it.
            var major = (long)state.ConsistentLsn - 1;
            var source = new SourceInfo { Connector = Connector, Name = _options.ServerName, Database = _database, Lsn = (long)state.ConsistentLsn };

            // Named as the rest of the snapshot is when read as incremental chunks after a stop: a row read again keeps its ids.
            var request = state.InitialRequest();
            ChangeEvent Build((SnapshotTable Table, SnapshotRow Row, long Ordinal) h, SnapshotMarker marker) => new()
            {
                Kind = ChangeKind.Change,
                Operation = ChangeOperation.Read,
                Source = source with { Schema = h.Table.Schema, Table = h.Table.Table, Snapshot = marker },
                Position = new SourcePosition(_options.Slot, major, h.Ordinal),
                Key = h.Row.Key,
                After = h.Row.After,
                SnapshotRequest = request,
            };

            List<TableProgress> initial;
            lock (_store.Sync)
            {
                initial = state.Tables.Where(t => !t.Incremental && !t.Done && !read.IsRead(t)).ToList();
            }

            foreach (var progress in initial)
            {
                if (read.Lost is not null)
                {
                    break;
                }

                SnapshotTable table;
                try
                {
                    table = await DescribeForInitialSnapshotAsync(connection!, progress.Table, cancellationToken);
                }
                catch (Exception e) when (IsLost(e, cancellationToken))
                {
                    read.Lost = e;
                    break;
                }

                Log.SnapshotTableStarted(_logger, table.QualifiedName, table.EstimatedRows, _options.SnapshotChunkSize);
                if (!table.HasKey)
                {
                    Log.SnapshotWithoutKey(_logger, table.QualifiedName);
                }

                var (after, done) = read.Of(progress);
                PostgresMetrics.ReportSnapshotRows(_options.Slot, table.QualifiedName, done, table.EstimatedRows);

                while (true)
                {
                    List<SnapshotRow> rows;
                    try
                    {
                        rows = await ReadInitialChunkAsync(connection!, table, after, progress.Table, cancellationToken);
                    }
                    catch (Exception e) when (IsLost(e, cancellationToken))
                    {
                        read.Lost = e;
                        break;
                    }

                    var ordinal = read.NextOrdinal;
                    var lastChunk = rows.Count < _options.SnapshotChunkSize || !table.HasKey;
                    if (rows.Count == 0)
                    {
                        _ack.Register(major, -1, null, () => CompleteTable(progress, progress.LastKey, progress.RowsDone, lastChunk, ordinal));
                        read.Advanced(progress, after, done, lastChunk);
                        break;
                    }

                    var lastKey = rows[^1].KeyText;
                    var doneAfter = done + rows.Count;
                    var nextOrdinal = ordinal + rows.Count;
                    _ack.Register(major, nextOrdinal - 1, null, () => CompleteTable(progress, lastKey, doneAfter, lastChunk, nextOrdinal));
                    // what is fetched counts as handed out: its rows go out below, the last one held (and handed out after a loss)
                    read.NextOrdinal = nextOrdinal;
                    read.Advanced(progress, lastKey, doneAfter, lastChunk);
                    foreach (var row in rows)
                    {
                        if (read.Held is { } h)
                        {
                            var marker = read.First ? SnapshotMarker.First : SnapshotMarker.True;
                            read.First = false;
                            read.HandedOut = true;
                            yield return Build(h, marker);
                        }

                        read.Held = (table, row, ordinal++);
                    }

                    done = doneAfter;
                    after = lastKey;
                    Log.SnapshotProgress(_logger, table.QualifiedName, done, table.EstimatedRows);
                    PostgresMetrics.ReportSnapshotRows(_options.Slot, table.QualifiedName, done, table.EstimatedRows);
                    if (lastChunk)
                    {
                        break;
                    }
                }

                if (read.Lost is null)
                {
                    Log.SnapshotTableDone(_logger, table.QualifiedName, done);
                    PostgresMetrics.ReportSnapshotRows(_options.Slot, table.QualifiedName, done, table.EstimatedRows);
                }
            }

            if (read.Held is { } last && (read.Lost is null || _options.Snapshot != SnapshotMode.InitialOnly))
            {
                read.Held = null;
                read.HandedOut = true;
                yield return Build(last, SnapshotMarker.Last);
            }

            if (read.Lost is null)
            {
                try
                {
                    await transaction!.CommitAsync(cancellationToken);
                }
                catch (Exception e) when (IsLost(e, cancellationToken))
                {
                    // every row is read and handed out: a read-only transaction's end has nothing to keep
                }
            }
        }
        finally
        {
            if (transaction is not null)
            {
                await DisposeQuietlyAsync(transaction);
            }

            if (connection is not null)
            {
                await DisposeQuietlyAsync(connection);
            }
        }
    }

    /// <summary>A failure a new connection may not meet (in the start's checks, the slot's creation or the snapshot's reads): the connection lost, not the data or a refusal.</summary>
    private static bool IsLost(Exception e, CancellationToken cancellationToken) => e is not CaptureStoppedException && IsTransient(e, cancellationToken);

    /// <summary>Whether <paramref name="attempt"/> lost connections (at the start, in the snapshot or while streaming) are past maxReconnectAttempts (0: never).</summary>
    private bool OutOfAttempts(int attempt) => _options.MaxReconnectAttempts > 0 && attempt > _options.MaxReconnectAttempts;

    /// <summary>
    /// Takes the slot's exported snapshot into the reads' transaction. PostgreSQL answers 22023 "invalid snapshot identifier"
    /// when the replication connection that exported it is gone (the snapshot lives until that connection's next command
    /// or its end): a lost connection, said as one.
    /// </summary>
    private static async Task ImportSnapshotAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string snapshotName, CancellationToken cancellationToken)
    {
        await using var set = new NpgsqlCommand($"SET TRANSACTION SNAPSHOT '{snapshotName.Replace("'", "''", StringComparison.Ordinal)}'", connection, transaction);
        try
        {
            await set.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidParameterValue)
        {
            throw new IOException(
                $"the replication connection that created the slot was lost before its exported snapshot {snapshotName} was read " +
                $"(the server: {e.MessageText}, SQLSTATE {e.SqlState})", e);
        }
    }

    /// <summary>
    /// After an initial snapshot lost its connection while streaming is to follow: the tables not yet read to their end are read
    /// as incremental chunks while streaming, each after the last row handed out (not the last acknowledged, as a next start
    /// would: those rows are on their way, so none is handed out twice). Recorded as incremental in the state file, their
    /// acknowledged keys unchanged: a crash before those rows are acknowledged reads them again from there (at least once).
    /// A table read to its end stays as it is, done once its rows are acknowledged.
    /// </summary>
    private List<(TableProgress Table, string?[]? HandedOut)> ContinueAsIncremental(InitialSnapshotCursor read)
    {
        var state = _state!;
        List<(TableProgress Table, string?[]? HandedOut)> rest;
        SnapshotStateStore.Pending save;
        lock (_store.Sync)
        {
            rest = state.Tables.Where(t => !t.Incremental && !t.Done && !read.IsRead(t)).Select(t => (t, read.Of(t).LastKey)).ToList();
            foreach (var (table, _) in rest)
            {
                table.Incremental = true;
            }

            state.InitialCompleted = state.Tables.All(t => t.Done || t.Incremental);
            save = _store.Capture(state);
        }

        _store.Write(save);
        return rest;
    }

    /// <summary>Event 1044, as 1003 and 1043 are said (the trace at debug level only), then the attempt's delay.</summary>
    private async Task SnapshotConnectionLostAsync(Exception lost, int attempt, IReadOnlyList<string> rest, string how, CancellationToken cancellationToken)
    {
        var delay = ReconnectDelay(attempt);
        var tables = rest.Count == 0 ? "nothing" : string.Join(", ", rest);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.SnapshotConnectionLost(_logger, lost, _options.Slot, attempt, (long)delay.TotalMilliseconds, tables, how);
        }
        else
        {
            ExpectedLog.SnapshotConnectionLost(_logger, _options.Slot, attempt, Why(lost), (long)delay.TotalMilliseconds, tables, how, lost.GetType().FullName);
        }

        await Task.Delay(delay, cancellationToken);
    }

    /// <summary>
    /// How far an initial snapshot handed out its rows (ahead of what is acknowledged, which the state file keeps): where a read
    /// lost with its connection goes on in this process. Also the row held back to be marked last, and the loss that ended a read.
    /// Used by the reading thread only; the state's tables are the keys (by reference).
    /// </summary>
    private sealed class InitialSnapshotCursor(SnapshotState state)
    {
        private readonly Dictionary<TableProgress, (string?[]? LastKey, long RowsDone, bool Read)> _tables = new(ReferenceEqualityComparer.Instance);

        public long NextOrdinal { get; set; } = state.NextOrdinal;

        public bool First { get; set; } = state.NextOrdinal == 0;

        public (SnapshotTable Table, SnapshotRow Row, long Ordinal)? Held { get; set; }

        /// <summary>The loss that ended the last read; null when it read to the end.</summary>
        public Exception? Lost { get; set; }

        /// <summary>Whether the last read handed out a row.</summary>
        public bool HandedOut { get; set; }

        /// <summary>The last key fetched (handed out, or held) of the table and how many rows, from the state file before the first.</summary>
        public (string?[]? LastKey, long RowsDone) Of(TableProgress table) =>
            _tables.TryGetValue(table, out var t) ? (t.LastKey, t.RowsDone) : (table.LastKey, table.RowsDone);

        public bool IsRead(TableProgress table) => _tables.TryGetValue(table, out var t) && t.Read;

        public void Advanced(TableProgress table, string?[]? lastKey, long rowsDone, bool read) => _tables[table] = (lastKey, rowsDone, read);

        public List<string> Unread() => state.Tables.Where(t => !t.Incremental && !t.Done && !IsRead(t)).Select(t => t.Table).ToList();
    }

    /// <summary>
    /// An initial-snapshot chunk was acknowledged (on the acknowledging thread, while the reader may queue tables): under
    /// the state's lock, as every change of the state.
    /// </summary>
    private void CompleteTable(TableProgress progress, string?[]? lastKey, long rowsDone, bool tableDone, long nextOrdinal)
    {
        var state = _state!;
        SnapshotStateStore.Pending save;
        lock (_store.Sync)
        {
            progress.LastKey = lastKey;
            progress.RowsDone = rowsDone;
            progress.Done = tableDone;
            state.NextOrdinal = nextOrdinal;
            if (state.Tables.All(t => t.Done || t.Incremental))
            {
                state.InitialCompleted = true;
            }

            save = _store.Capture(state);
        }

        _store.Write(save);
    }

    private static bool IsTransient(Exception e, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        return e switch
        {
            PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)
                || pg.SqlState.StartsWith("57", StringComparison.Ordinal)
                || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                || pg.SqlState == PostgresErrorCodes.ObjectInUse,
            NpgsqlException => true,
            IOException or SocketException or EndOfStreamException or TimeoutException => true,
            OperationCanceledException => true, // Npgsql surfaces a broken connection during a read this way at times
            _ => false,
        };
    }

    private static async ValueTask DisposeQuietlyAsync(IAsyncDisposable disposable)
    {
        try
        {
            await disposable.DisposeAsync();
        }
        catch (Exception)
        {
            // already broken; nothing more to release
        }
    }
}
