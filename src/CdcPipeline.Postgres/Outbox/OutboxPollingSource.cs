using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Postgres.Capture;
using CdcPipeline.Postgres.Types;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CdcPipeline.Postgres.Outbox;

/// <summary>
/// A polling relay for an outbox table, for databases where logical replication is not allowed. It
/// yields each pending row, in <c>seq</c> order, as an insert change of the outbox table — the same
/// shape the WAL paths produce — so the outbox translator makes the same events (id = the row's id) and
/// the pipeline's guarantees apply unchanged: a row is marked <c>sent</c> only in
/// <see cref="AcknowledgeAsync"/>, i.e. after every sink accepted it; a crash before that leaves it
/// pending and it is published again (at-least-once; consumers de-duplicate on the id).
/// <para>
/// Ordering. Rows are read by increasing <c>seq</c> from an in-memory cursor, never with
/// <c>FOR UPDATE SKIP LOCKED</c>: skipping rows that a concurrent reader holds is how work queues spread
/// load, and it is exactly what breaks order — a second relay would publish row 8 while the first is
/// still on row 7. So one relay is active per table: it holds a session-level advisory lock for as long
/// as it runs, and any other instance stands by until that lock is released (the active one stopped or
/// its connection died). The other half of ordering is on the writing side: a sequence value is drawn
/// before commit, so rows can become visible out of seq order unless writers serialize their commits
/// (<c>OutboxWriter</c> does, with a transaction-scoped advisory lock).
/// </para>
/// <para>
/// Rows written without that lock can still commit "late" (below the cursor). They are not lost: each
/// poll also takes pending rows below the oldest row still in flight, publishes them (out of order,
/// with a warning), and acknowledgement marks exactly the rows that were handed out — never a whole
/// seq range, which could sweep up a late row that was never published.
/// </para>
/// </summary>
public sealed class OutboxPollingSource : IChangeSource
{
    private readonly OutboxPollingOptions _options;
    private readonly string _pipelineName;
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _schema;
    private readonly string _tableName;
    private readonly string _stream;
    private readonly string _sqlTable;

    /// <summary>The sequence column's real name (<c>sequenceColumn</c> folded as PostgreSQL folds it unquoted).</summary>
    private readonly string _seq;
    private readonly long _relayLockKey;
    private readonly string _pollSql;
    private readonly string _markSentSql;
    private readonly ConcurrentQueue<long> _inFlight = new();
    private readonly PgTypeCatalog _types;
    private readonly CancellationTokenSource _closing = new();
    // Held while the lock connection runs a command (taking the lock, a poll): closing waits for it, because closing a
    // connection under a running command is not safe (Npgsql connections are not thread-safe; it waited for results).
    private readonly SemaphoreSlim _lockConnectionInUse = new(1, 1);
    private NpgsqlConnection? _lockConnection;
    private PollShape? _shape;
    private int _closed;

    public OutboxPollingSource(string pipelineName, OutboxPollingOptions options, ILogger<OutboxPollingSource>? logger = null, TimeProvider? timeProvider = null)
    {
        _pipelineName = pipelineName;
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        // The option means what the name means unquoted in SQL (Outbox is outbox), as for OutboxWriter; quoted, a reserved word is a name too.
        // Every spelling of one table (outbox, public.outbox, Public.Outbox) gives one identity, so its relays take one lock, and one
        // position stream. (Earlier versions named the stream as the table was spelled, outbox-polling:public.Outbox; a sink that keeps
        // positions per stream, the postgres upsert, finds what it stored under such a name: PostgresSink.)
        var identity = PgNames.QualifiedTable(options.Table);
        _stream = StreamPrefix + identity;
        // Changes name the table as the WAL does (its real, folded name), so the outbox translator's table matches them however each is spelled.
        var dot = identity.IndexOf('.', StringComparison.Ordinal);
        _schema = identity[..dot];
        _tableName = identity[(dot + 1)..];
        _relayLockKey = RelayLockKey(identity);
        _sqlTable = Quote(identity);
        // The sequence column likewise: Seq is seq, and quoted, a reserved word (offset, order) is a column name too.
        _seq = PgNames.Fold(options.SequenceColumn);
        var seq = "\"" + _seq + "\"";

        // attempts counts how often a row was handed to the pipeline (a row seen many times is stuck
        // somewhere downstream); the returned rows are re-sorted by seq in memory, RETURNING has no order.
        _pollSql = $"""
            WITH next AS (
                SELECT {seq} FROM {_sqlTable} WHERE status = 'pending' AND ({seq} > $1 OR {seq} < $3) ORDER BY {seq} LIMIT $2
            )
            UPDATE {_sqlTable} AS o SET attempts = o.attempts + 1 FROM next WHERE o.{seq} = next.{seq}
            RETURNING o.*
            """;
        _markSentSql = $"UPDATE {_sqlTable} SET status = 'sent', sent_at = now() WHERE status = 'pending' AND {seq} = ANY($1)";
        _dataSource = NpgsqlDataSource.Create(PgSession.Apply(options.ConnectionString, "cdcpipeline-outbox-relay"));
        _types = new PgTypeCatalog(_dataSource, options.MoneyFractionDigits);
    }

    /// <summary>What every relay's position stream begins with.</summary>
    public const string StreamPrefix = "outbox-polling:";

    /// <summary>The source-position stream of this relay: <c>outbox-polling:schema.table</c> of the table's real (folded) name; <c>Major</c> is the row's seq.</summary>
    public string Stream => _stream;

    public async IAsyncEnumerable<ChangeEvent> ReadAsync([EnumeratorCancellation] CancellationToken stopping)
    {
        // Closing the source cancels what runs on the lock connection, so that it can be closed.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _closing.Token);
        var cancellationToken = linked.Token;
        await AcquireRelayLockAsync(cancellationToken).ConfigureAwait(false);
        var after = 0L;
        Log.OutboxRelayActive(_logger, _options.QualifiedTable, after);
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            List<ChangeEvent> batch;
            try
            {
                await _lockConnectionInUse.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    batch = await PollAsync(after, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _lockConnectionInUse.Release();
                }

                failures = 0;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                var delay = TimeSpan.FromMilliseconds(Math.Min(30_000, 200 * Math.Pow(2, Math.Min(failures++, 8))));
                Log.OutboxPollFailed(_logger, e, _options.QualifiedTable, delay);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                if (_lockConnection is not { State: System.Data.ConnectionState.Open })
                {
                    // The session lock died with its connection: another relay may be active now.
                    await AcquireRelayLockAsync(cancellationToken).ConfigureAwait(false);
                    Log.OutboxRelayActive(_logger, _options.QualifiedTable, after);
                }

                continue;
            }

            foreach (var change in batch)
            {
                var seq = change.Position.Major;
                if (seq <= after)
                {
                    Log.OutboxLateRow(_logger, _options.QualifiedTable, seq, after);
                }

                after = Math.Max(after, seq);
                _inFlight.Enqueue(seq);
                yield return change;
            }

            if (batch.Count < _options.BatchSize)
            {
                await Task.Delay(_options.Interval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Every row up to <paramref name="position"/> reached every sink: mark them sent.</summary>
    public async ValueTask AcknowledgeAsync(SourcePosition position, CancellationToken cancellationToken)
    {
        if (!string.Equals(position.Stream, _stream, StringComparison.Ordinal))
        {
            return;
        }

        // Exactly the rows handed out up to the position (positions are acknowledged in order, by one
        // caller). They leave the in-flight queue only once marked: until then the poller must not
        // take them for late rows and publish them again.
        var seqs = _inFlight.TakeWhile(seq => seq <= position.Major).ToArray();
        if (seqs.Length == 0)
        {
            return;
        }

        await using var command = _dataSource.CreateCommand(_markSentSql);
        command.Parameters.Add(new NpgsqlParameter { Value = seqs });
        var rows = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < seqs.Length; i++)
        {
            _inFlight.TryDequeue(out _);
        }

        Log.OutboxMarkedSent(_logger, _options.QualifiedTable, position, rows);
    }

    private async Task<List<ChangeEvent>> PollAsync(long after, CancellationToken cancellationToken)
    {
        // On the connection that holds the relay lock: a session lock dies with its connection (an idle timeout, a
        // failover, pg_terminate_backend) and passes to a standby relay; polling there makes that a failed poll, after
        // which this relay takes the lock again or stands by, instead of publishing beside the new active relay.
        var connection = _lockConnection ?? throw new InvalidOperationException("the outbox relay polls only while it holds its lock");
        // Before the first poll: the poll compares and casts the sequence column, so a table it cannot relay is refused here.
        _shape ??= await DescribeAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(_pollSql, connection) { AllResultTypesAreUnknown = true };
        command.Parameters.Add(new NpgsqlParameter { Value = after });
        command.Parameters.Add(new NpgsqlParameter { Value = _options.BatchSize });
        // Below the oldest row in flight, every row handed out has been marked sent: a pending one there committed late.
        command.Parameters.Add(new NpgsqlParameter { Value = _inFlight.TryPeek(out var oldest) ? oldest : after + 1 });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);

        // Text format + the capture's own converters (PgTypeCatalog, with each column's type modifier): a row reads the same
        // as it would through pgoutput. Resolved once per table shape; an ALTER TABLE while running shows as other columns.
        // The shape counts each column's type modifier (bit(1) reads as a boolean, bit(3) as bits; numeric and numeric(p,s) differ):
        // the catalog is described again after the poll, so it is at least as new as the columns the poll returned.
        if (!_shape.Matches(reader))
        {
            _shape = await DescribeAsync(cancellationToken).ConfigureAwait(false);
            if (!_shape.Adopt(reader))
            {
                // Altered again since: a failed poll (the rows stay pending), retried like any other.
                throw new NpgsqlException($"outbox table {_options.QualifiedTable} changed its columns during a poll; polling again");
            }
        }

        var shape = _shape.Shape;
        var parsers = _shape.Converters;
        var seqOrdinal = _shape.SeqOrdinal;
        var idOrdinal = _shape.IdOrdinal;

        var rows = new List<(long Seq, object?[] Values)>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var values = new object?[reader.FieldCount];
            var i = 0;
            string? text = null;
            try
            {
                for (; i < values.Length; i++)
                {
                    text = reader.IsDBNull(i) ? null : reader.GetString(i);
                    values[i] = text is null ? null : parsers[i](text);
                }
            }
            catch (Exception e) when (text is not null && ColumnValueException.IsConversionFailure(e))
            {
                // Polling again reads the same text: stop, naming the row, as the capture does.
                var seqText = reader.IsDBNull(seqOrdinal) ? "null" : reader.GetString(seqOrdinal);
                throw new ColumnValueException($"outbox table {_options.QualifiedTable}, row {_seq} {seqText}", shape.Columns[i], text, e,
                    $"Polling reads the same row again, so retrying cannot help: correct the value in that row (or set its status to 'sent' to skip it), then start again");
            }

            rows.Add(((long)values[seqOrdinal]!, values));
        }

        rows.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        var database = connection.Database;
        var changes = new List<ChangeEvent>(rows.Count);
        foreach (var (seq, values) in rows)
        {
            var image = new Row(shape, values);
            changes.Add(new ChangeEvent
            {
                Kind = ChangeKind.Change,
                Operation = ChangeOperation.Create,
                Source = new SourceInfo
                {
                    Connector = "outbox-polling",
                    Name = _pipelineName,
                    Database = database,
                    Schema = _schema,
                    Table = _tableName,
                    CommitTime = image.TryGetValue("created_at", out var created) && created is UtcTimestamp t ? t : null,
                },
                Position = new SourcePosition(_stream, seq),
                Key = idOrdinal >= 0 ? new Row(new RowShape([shape.Columns[idOrdinal]]), [values[idOrdinal]]) : null,
                After = image,
                CapturedAt = UtcTimestamp.FromDateTimeOffset(_time.GetUtcNow()),
            });
        }

        return changes;
    }

    private async Task AcquireRelayLockAsync(CancellationToken cancellationToken)
    {
        await _lockConnectionInUse.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await AcquireRelayLockCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lockConnectionInUse.Release();
        }
    }

    private async Task AcquireRelayLockCoreAsync(CancellationToken cancellationToken)
    {
        var standingBy = false;
        while (true)
        {
            if (_lockConnection is not null)
            {
                await _lockConnection.DisposeAsync().ConfigureAwait(false);
                _lockConnection = null;
            }

            try
            {
                var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                _lockConnection = connection;
                await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection);
                command.Parameters.Add(new NpgsqlParameter { Value = _relayLockKey });
                if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
                {
                    return;
                }

                if (!standingBy)
                {
                    Log.OutboxRelayStandby(_logger, _options.QualifiedTable);
                    standingBy = true;
                }
            }
            catch (NpgsqlException e) when (!cancellationToken.IsCancellationRequested)
            {
                Log.OutboxPollFailed(_logger, e, _options.QualifiedTable, _options.Interval);
            }

            await Task.Delay(_options.Interval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The outbox table's columns as a poll returns them (<c>RETURNING o.*</c>: attribute order), each with the converter for
    /// its type and type modifier (<c>pg_attribute.atttypmod</c>, what pgoutput's RELATION message carries); refuses a table
    /// whose sequence column the relay cannot order and mark rows by.
    /// </summary>
    private async Task<PollShape> DescribeAsync(CancellationToken cancellationToken)
    {
        var table = _options.QualifiedTable;
        var seq = _seq;
        var names = new List<string>();
        var oids = new List<uint>();
        var wireOids = new List<uint>();
        var typeModifiers = new List<int>();
        string? seqType = null;
        var seqNotNull = false;
        // A query result describes a domain column by the domain's base type (through every domain it is based on), where
        // the catalog names the domain: the last column selected is the type a poll's result carries, atttypid picks the converter.
        await using (var command = _dataSource.CreateCommand(
            "SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod), " +
            "(WITH RECURSIVE d(oid, base) AS (SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid " +
            "UNION ALL SELECT t.oid, t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid = d.base) SELECT d.oid FROM d WHERE d.base = 0) " +
            "FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _sqlTable });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                names.Add(reader.GetString(0));
                oids.Add(reader.GetFieldValue<uint>(1));
                wireOids.Add(reader.IsDBNull(5) ? oids[^1] : reader.GetFieldValue<uint>(5));
                typeModifiers.Add(reader.GetInt32(2));
                if (string.Equals(names[^1], seq, StringComparison.Ordinal))
                {
                    seqNotNull = reader.GetBoolean(3);
                    seqType = reader.GetString(4);
                }
            }
        }

        if (names.Count == 0)
        {
            throw new CaptureStoppedException(
                $"outbox table {table} does not exist (or the relay's user may not see it): create it with OutboxWriter.SchemaSql(), or set source.outboxPolling.table");
        }

        // The poll counts attempts and reads status; acknowledging sets status and sent_at. Without one of them every poll (or
        // every acknowledgement) fails the same way, which the retry loop would only log as a warning, for ever.
        var missing = RelayColumns.Where(c => !names.Contains(c)).ToList();
        if (missing.Count > 0)
        {
            throw new CaptureStoppedException(
                $"outbox table {table} lacks the column(s) {string.Join(", ", missing.Select(c => $"'{c}'"))} that the relay needs (status text 'pending'/'sent', " +
                $"attempts integer NOT NULL DEFAULT 0, sent_at timestamptz): add them as OutboxWriter.SchemaSql() defines them, or create the table with it");
        }

        var seqOrdinal = names.IndexOf(seq);
        if (seqOrdinal < 0)
        {
            throw new CaptureStoppedException($"outbox table {table} has no column '{seq}' (source.outboxPolling.sequenceColumn '{_options.SequenceColumn}', read as PostgreSQL reads a name unquoted: lower-cased); set sequenceColumn to the column that orders the rows");
        }

        if (wireOids[seqOrdinal] is not (BigIntOid or IntegerOid or SmallIntOid))
        {
            throw new CaptureStoppedException(
                $"outbox table {table}: its sequence column '{seq}' (source.outboxPolling.sequenceColumn) is {seqType}, but the relay orders rows by it, " +
                $"resumes after it and marks rows sent by it, so it must be bigint or integer, NOT NULL (OutboxWriter.SchemaSql() makes it bigint GENERATED ALWAYS AS IDENTITY): " +
                $"change the column's type, or set sequenceColumn to such a column");
        }

        if (!seqNotNull)
        {
            throw new CaptureStoppedException(
                $"outbox table {table}: its sequence column '{seq}' (source.outboxPolling.sequenceColumn) is {seqType} without NOT NULL, but a row with a NULL '{seq}' " +
                $"would never be relayed; it must be bigint or integer, NOT NULL: give such rows a value, then ALTER TABLE {_sqlTable} ALTER COLUMN \"{seq}\" SET NOT NULL");
        }

        var converters = new Func<string, object?>[names.Count];
        for (var i = 0; i < converters.Length; i++)
        {
            converters[i] = await _types.GetConverterAsync(oids[i], typeModifiers[i], cancellationToken).ConfigureAwait(false);
        }

        // Converted as the capture converts them: a domain by its own type (PgTypeCatalog reads it as its base type with the
        // domain's modifier), compared with a poll's result by the base type the result carries.
        return new PollShape([.. names], [.. wireOids], new RowShape([.. names]), converters, seqOrdinal, names.IndexOf("id"));
    }

    /// <summary>The columns the poll and mark-sent statements use besides the sequence column.</summary>
    private static readonly string[] RelayColumns = ["status", "attempts", "sent_at"];

    private const uint BigIntOid = 20;
    private const uint SmallIntOid = 21;
    private const uint IntegerOid = 23;

    /// <summary>
    /// The columns a poll returns, with a converter each (chosen by type and type modifier); <see cref="Matches"/> tells an
    /// ALTER TABLE since, a changed type modifier included. <c>Oids</c> are the types a query result carries (a domain's base type).
    /// </summary>
    private sealed record PollShape(string[] Names, uint[] Oids, RowShape Shape, Func<string, object?>[] Converters, int SeqOrdinal, int IdOrdinal)
    {
        // Each column's type with its modifier as the poll's result describes it (Npgsql's name with facets: bit(3), numeric(10,2)),
        // taken from the first poll that matched the catalog's columns; null until then.
        private string[]? _wireTypes;

        /// <summary>The poll returned the columns this shape was described with: names, types and type modifiers.</summary>
        public bool Matches(NpgsqlDataReader reader)
        {
            if (_wireTypes is not { } wireTypes || !SameColumns(reader))
            {
                return false;
            }

            for (var i = 0; i < wireTypes.Length; i++)
            {
                if (!string.Equals(reader.GetDataTypeName(i), wireTypes[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>
        /// A shape just described: takes the poll's column types (with modifiers) as its own when the poll returned its
        /// columns; false when the table changed again in between.
        /// </summary>
        public bool Adopt(NpgsqlDataReader reader)
        {
            if (!SameColumns(reader))
            {
                return false;
            }

            var wireTypes = new string[Names.Length];
            for (var i = 0; i < wireTypes.Length; i++)
            {
                wireTypes[i] = reader.GetDataTypeName(i);
            }

            _wireTypes = wireTypes;
            return true;
        }

        private bool SameColumns(NpgsqlDataReader reader)
        {
            if (reader.FieldCount != Names.Length)
            {
                return false;
            }

            for (var i = 0; i < Names.Length; i++)
            {
                if (reader.GetDataTypeOID(i) != Oids[i] || !string.Equals(reader.GetName(i), Names[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary><c>"schema"."table"</c> of a <see cref="PgNames.QualifiedTable"/> (its parts hold no quote).</summary>
    private static string Quote(string identity) => "\"" + identity.Replace(".", "\".\"", StringComparison.Ordinal) + "\"";

    /// <summary>A stable advisory-lock key per outbox table identity (<see cref="PgNames.QualifiedTable"/>; distinct from the writers' key).</summary>
    internal static long RelayLockKey(string table)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes("cdcpipeline.outbox.relay:" + table), hash);
        return BitConverter.ToInt64(hash[..8]);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        // A stop cut short (runner.drainTimeout) may close the source while a poll still runs: cancel it (Npgsql asks the
        // server to cancel the statement, so a poll waiting on a row lock ends too) and close the connection only after.
        await _closing.CancelAsync().ConfigureAwait(false);
        await _lockConnectionInUse.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_lockConnection is not null)
            {
                await _lockConnection.DisposeAsync().ConfigureAwait(false);
            }

            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _lockConnectionInUse.Release();
        }
    }
}
