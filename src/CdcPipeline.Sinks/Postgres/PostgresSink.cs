using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace CdcPipeline.Sinks.Postgres;

/// <summary>
/// Writes events into a PostgreSQL table, a whole batch in one statement (arrays unnested
/// server-side: one round trip, atomic).
/// <list type="bullet">
/// <item><b>append</b>: <c>(id PRIMARY KEY, type, source, subject, time, data jsonb, position, delivered_at)</c>,
/// <c>ON CONFLICT (id) DO NOTHING</c> — a replayed event (same deterministic id) is not stored twice.</item>
/// <item><b>upsert</b>: one row per subject with its latest data. The row remembers, for every stream that wrote it
/// (<c>positions</c>: stream → <c>[major, minor]</c>), the last position applied from that stream, and an event only
/// applies when its position is later than the one recorded for its own stream: a replay of older events (a re-snapshot, a
/// Kafka offset reset) never rolls the projection back, even when the row was last written from another stream. Positions
/// of different streams are not comparable (Kafka orders nothing across partitions): across streams, the last applied wins.</item>
/// </list>
/// </summary>
public sealed class PostgresSink : ISink
{
    private readonly PostgresSinkOptions _options;
    private readonly NpgsqlDataSource _dataSource;
    private readonly HashSet<string> _deleteTypes;
    private readonly string _insertSql;
    private readonly string _quotedTable;
    private readonly TableCreation _creation;
    private readonly ILogger _logger;

    /// <summary>The table (and projection columns) an earlier version made of these settings, when that is another one.</summary>
    private readonly FormerSpellings _names;

    /// <summary><c>OutboxPollingSource.StreamPrefix</c> (CdcPipeline.Postgres, which this project does not reference).</summary>
    private const string OutboxRelayStreamPrefix = "outbox-polling:";

    /// <summary>The upsert table's columns besides the configured key and data columns.</summary>
    public static IReadOnlyList<string> UpsertColumns { get; } = ["type", "event_id", "position_stream", "position_major", "position_minor", "positions", "deleted", "updated_at"];

    /// <param name="locate">Where a setting (<c>table</c>, <c>projection:keyColumn</c>) was written (<c>file:line</c>), for errors about it.</param>
    public PostgresSink(string name, PostgresSinkOptions options, Func<string, string?>? locate = null, ILogger<PostgresSink>? logger = null)
    {
        Name = name;
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "cdcpipeline-" + name;
        _dataSource = builder.Build();
        _deleteTypes = new HashSet<string>(options.Projection.DeleteTypes, StringComparer.Ordinal);
        // Read as PostgreSQL reads names in SQL (Orders is orders, "Orders" keeps its case), as psql and the outbox settings do; the
        // projection's columns too (keyColumn: OrderId is orderid).
        _names = new FormerSpellings(
            $"postgres sink '{name}'",
            "table",
            options.Table,
            locate?.Invoke("table"),
            options.Mode == PostgresSinkMode.Upsert
                ? [new("keyColumn", options.Projection.KeyColumn, locate?.Invoke("projection:keyColumn")), new("dataColumn", options.Projection.DataColumn, locate?.Invoke("projection:dataColumn"))]
                : null);
        var table = _quotedTable = _names.QuotedTable;
        string createSql;
        if (options.Mode == PostgresSinkMode.Append)
        {
            createSql = $"""
                CREATE TABLE IF NOT EXISTS {table} (
                    id text PRIMARY KEY,
                    type text NOT NULL,
                    source text NOT NULL,
                    subject text,
                    time timestamptz,
                    data jsonb,
                    position text NOT NULL,
                    delivered_at timestamptz NOT NULL DEFAULT now())
                """;
            _insertSql = $"""
                INSERT INTO {table} (id, type, source, subject, time, data, position)
                SELECT u.id, u.type, u.source, u.subject, u.time, u.data::jsonb, u.position
                FROM unnest(@id, @type, @source, @subject, @time, @data, @position) AS u(id, type, source, subject, time, data, position)
                ON CONFLICT (id) DO NOTHING
                """;
        }
        else
        {
            var key = FormerSpellings.QuoteColumn(options.Projection.KeyColumn);
            var data = FormerSpellings.QuoteColumn(options.Projection.DataColumn);
            createSql = $"""
                CREATE TABLE IF NOT EXISTS {table} (
                    {key} text PRIMARY KEY,
                    type text NOT NULL,
                    {data} jsonb,
                    event_id text NOT NULL,
                    position_stream text NOT NULL,
                    position_major bigint NOT NULL,
                    position_minor bigint NOT NULL,
                    positions jsonb,
                    deleted boolean NOT NULL DEFAULT false,
                    updated_at timestamptz NOT NULL DEFAULT now());
                DO $$
                BEGIN
                    -- A table of a version before positions: add the column (nullable, so instant). The statement below folds the
                    -- position_* columns in, so what the old guard knew is kept. Checked first so that a start does not take the
                    -- table's ACCESS EXCLUSIVE lock (queued behind every reader) when there is nothing to do.
                    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = {PgNames.QuoteLiteral(table)}::regclass AND attname = 'positions' AND NOT attisdropped) THEN
                        ALTER TABLE {table} ADD COLUMN IF NOT EXISTS positions jsonb;
                    END IF;
                END $$
                """;

            // The WHERE guard makes a replayed (older or equal) event of a stream a no-op, whichever stream wrote the row last.
            // A polling outbox relay's stream was named as its table was spelled (outbox-polling:public.Outbox) before it was named by
            // the table's real name (outbox-polling:public.outbox): a stream new to the row is looked up under those former spellings
            // (only relay streams: Kafka topics differ by case), and applying carries the position over to the new name.
            // position_* hold the position of the event whose data the row holds (also in positions, which a table of an older
            // version may not have filled yet: NULL); positions keeps the last applied position of every other stream.
            // positions is nullable in a table this version creates too: PostgreSQL checks NOT NULL before ON CONFLICT, so a
            // version before positions, still writing during a rolling upgrade, would fail every upsert on a NOT NULL column.
            // A version before positions, still running during a rolling upgrade, writes position_* only, and its guard compared
            // them only when the row's last stream was the event's: it may apply a replayed event of a stream after another
            // stream's, leaving position_* behind what positions holds for that stream. So for the row's own stream the later of
            // the two counts, in the guard and when position_* are folded into positions.
            _insertSql = $"""
                INSERT INTO {table} AS t ({key}, type, {data}, event_id, position_stream, position_major, position_minor, positions, deleted, updated_at)
                SELECT u.subject, u.type, u.data::jsonb, u.id, u.stream, u.major, u.minor, jsonb_build_object(u.stream, jsonb_build_array(u.major, u.minor)), u.deleted, now()
                FROM unnest(@subject, @type, @data, @id, @stream, @major, @minor, @deleted) AS u(subject, type, data, id, stream, major, minor, deleted)
                ON CONFLICT ({key}) DO UPDATE SET
                    type = EXCLUDED.type, {data} = EXCLUDED.{data}, event_id = EXCLUDED.event_id,
                    position_stream = EXCLUDED.position_stream, position_major = EXCLUDED.position_major,
                    position_minor = EXCLUDED.position_minor,
                    positions = coalesce(t.positions, jsonb_build_object())
                        || jsonb_build_object(t.position_stream, CASE
                            WHEN ((t.positions -> t.position_stream ->> 0)::bigint, (t.positions -> t.position_stream ->> 1)::bigint) > (t.position_major, t.position_minor)
                                THEN t.positions -> t.position_stream
                            ELSE jsonb_build_array(t.position_major, t.position_minor)
                        END)
                        || EXCLUDED.positions,
                    deleted = EXCLUDED.deleted, updated_at = now()
                WHERE CASE
                    WHEN t.position_stream = EXCLUDED.position_stream
                        THEN (t.position_major, t.position_minor) < (EXCLUDED.position_major, EXCLUDED.position_minor)
                            AND coalesce(((t.positions -> EXCLUDED.position_stream ->> 0)::bigint, (t.positions -> EXCLUDED.position_stream ->> 1)::bigint)
                                < (EXCLUDED.position_major, EXCLUDED.position_minor), true)
                    WHEN t.positions ? EXCLUDED.position_stream
                        THEN ((t.positions -> EXCLUDED.position_stream ->> 0)::bigint, (t.positions -> EXCLUDED.position_stream ->> 1)::bigint)
                            < (EXCLUDED.position_major, EXCLUDED.position_minor)
                    WHEN left(EXCLUDED.position_stream, {OutboxRelayStreamPrefix.Length}) = '{OutboxRelayStreamPrefix}' AND (lower(t.position_stream) = EXCLUDED.position_stream
                            OR EXISTS (SELECT FROM jsonb_object_keys(t.positions) AS k WHERE lower(k) = EXCLUDED.position_stream))
                        THEN (EXCLUDED.position_major, EXCLUDED.position_minor) > (
                            SELECT p.major, p.minor
                            FROM (SELECT t.position_stream, t.position_major, t.position_minor
                                  UNION ALL SELECT k, (v ->> 0)::bigint, (v ->> 1)::bigint FROM jsonb_each(t.positions) AS e(k, v)) AS p(stream, major, minor)
                            WHERE lower(p.stream) = EXCLUDED.position_stream
                            ORDER BY p.major DESC, p.minor DESC LIMIT 1)
                    ELSE true
                END
                """;
        }

        _creation = new TableCreation(_dataSource, createSql, options.CreateTable);
    }

    public string Name { get; }

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        // An upsert of several statements runs as one implicit transaction (one Sync): atomic, like the single one.
        await using var statements = _options.Mode == PostgresSinkMode.Append ? AppendBatch(batch) : UpsertBatch(batch);
        try
        {
            // Before CREATE TABLE, which would make the new table (or a table of the new columns).
            await _names.CheckAsync(_dataSource, _logger, cancellationToken).ConfigureAwait(false);

            await _creation.EnsureAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (IsSchemaError(e.SqlState))
        {
            throw SchemaError(e);
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        statements.Connection = connection;
        try
        {
            await statements.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (IsPermanent(e.SqlState))
        {
            // The statement is atomic: nothing of the batch was stored. The runner then delivers the
            // batch event by event, so only the event PostgreSQL refuses reaches the dead letters.
            var first = batch[0];
            var what = batch.Count == 1 ? $"event {first.Id} ({first.Type})" : $"a batch of {batch.Count} events (from {first.Id})";
            throw new PermanentDeliveryException(first, $"postgres sink '{Name}' ({_options.Mode.ToString().ToLowerInvariant()} into {_options.Table}): PostgreSQL refuses {what} for good: {e.SqlState}: {e.MessageText}", e);
        }
        catch (PostgresException e) when (IsSchemaError(e.SqlState))
        {
            throw SchemaError(e);
        }
    }

    /// <summary>
    /// SQLSTATE class 42 (a table or column missing or of another type, no privilege): the table is not what the sink
    /// writes, for every event alike. Retried (the operator can fix the table or grant the right) as the sink's retry policy
    /// allows, with an error that names the table, which PostgreSQL's message (a column, at most) does not.
    /// </summary>
    private static bool IsSchemaError(string sqlState) => sqlState.StartsWith("42", StringComparison.Ordinal);

    private NpgsqlException SchemaError(PostgresException e) => new(
        $"postgres sink '{Name}' ({_options.Mode.ToString().ToLowerInvariant()} into {_options.Table}): {e.SqlState}: {e.MessageText}. "
        + (_options.Mode == PostgresSinkMode.Upsert && e.SqlState == PostgresErrorCodes.UndefinedColumn && e.MessageText.Contains("\"positions\"", StringComparison.Ordinal)
            ? $"An upsert table made before the positions column (per-stream replay guard) needs it: ALTER TABLE {_quotedTable} ADD COLUMN positions jsonb "
                + "(README, Sinks; createTable: true adds it itself). " + UntilFixed
            : $"The table must have the columns the {_options.Mode.ToString().ToLowerInvariant()} mode writes (README, Sinks) and the sink's user the right to write it "
                + "(and to create it, with createTable). " + UntilFixed),
        e);

    /// <summary>
    /// The sink retries, but the runner gives an event up after the sink's <c>retry.maxAttempts</c> (10 by default) and
    /// hands it to <c>onFailure</c>: the error says so rather than promise a hold that only <c>maxAttempts: 0</c> makes.
    /// </summary>
    private const string UntilFixed = "Each event is retried up to the sink's retry.maxAttempts, then handled by its onFailure "
        + "(by default dead-lettered, so the table misses it); retry: { maxAttempts: 0 } holds the pipeline until the table is fixed";

    /// <summary>
    /// Errors about the values themselves, which no retry can change: class 22 (data exception: a NUL
    /// character in text or jsonb, a value out of range) and 54000 (a key too long for its index).
    /// Everything else (a lost connection, a serialization failure or deadlock, a missing table that
    /// an operator may still create) stays transient and is retried.
    /// </summary>
    private static bool IsPermanent(string sqlState) =>
        sqlState.StartsWith("22", StringComparison.Ordinal) || sqlState == PostgresErrorCodes.ProgramLimitExceeded;

    private NpgsqlBatch AppendBatch(IReadOnlyList<DomainEvent> batch)
    {
        var command = new NpgsqlBatchCommand(_insertSql);
        AddAppendParameters(command.Parameters, batch);
        return new NpgsqlBatch { BatchCommands = { command } };
    }

    private static void AddAppendParameters(NpgsqlParameterCollection parameters, IReadOnlyList<DomainEvent> batch)
    {
        var n = batch.Count;
        var id = new string[n];
        var type = new string[n];
        var source = new string[n];
        var subject = new string?[n];
        var time = new DateTime?[n];
        var data = new string[n];
        var position = new string[n];
        for (var i = 0; i < n; i++)
        {
            var e = batch[i];
            id[i] = e.Id;
            type[i] = e.Type;
            source[i] = e.Source;
            subject[i] = e.Subject;
            time[i] = e.Time?.UtcDateTime;
            data[i] = System.Text.Encoding.UTF8.GetString(EventBodies.Data(e));
            position[i] = e.Position.ToString();
        }

        parameters.Add(new NpgsqlParameter("id", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = id });
        parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = type });
        parameters.Add(new NpgsqlParameter("source", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = source });
        parameters.Add(new NpgsqlParameter("subject", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = subject });
        parameters.Add(new NpgsqlParameter("time", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = time });
        parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = data });
        parameters.Add(new NpgsqlParameter("position", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = position });
    }

    /// <summary>
    /// ON CONFLICT DO UPDATE may touch a row once per statement. Within a stream events arrive in source order, so a subject's
    /// last event of the batch from that stream supersedes its earlier ones; but events of different streams are guarded each by
    /// its own stream's position, so keeping only the subject's last event would lose a new event of one stream batched before a
    /// replayed (refused) one of another. So each subject keeps its last event per stream, and a subject with events of several
    /// streams gets one statement per stream, in the order of those events: the same outcome as delivering them one by one.
    /// One statement in the usual case (one stream per subject in a batch).
    /// </summary>
    private NpgsqlBatch UpsertBatch(IReadOnlyList<DomainEvent> batch)
    {
        var last = new Dictionary<(string Subject, string Stream), int>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            if (e.Subject is null)
            {
                throw new PermanentDeliveryException(e, $"postgres sink '{Name}' (upsert into {_options.Table}): event {e.Id} ({e.Type}) has no subject, so it has no row to update; give the rule a key");
            }

            last[(e.Subject, e.Position.Stream)] = i;
        }

        // rounds[r]: the (r+1)-th kept event of each subject that has one
        var rounds = new List<List<DomainEvent>> { new(last.Count) };
        var kept = new Dictionary<string, int>(last.Count, StringComparer.Ordinal);
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            if (last[(e.Subject!, e.Position.Stream)] != i)
            {
                continue;
            }

            ref var round = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(kept, e.Subject!, out _);
            if (round == rounds.Count)
            {
                rounds.Add([]);
            }

            rounds[round++].Add(e);
        }

        var statements = new NpgsqlBatch();
        foreach (var round in rounds)
        {
            var command = new NpgsqlBatchCommand(_insertSql);
            AddUpsertParameters(command.Parameters, round);
            statements.BatchCommands.Add(command);
        }

        return statements;
    }

    private void AddUpsertParameters(NpgsqlParameterCollection parameters, List<DomainEvent> latest)
    {
        var n = latest.Count;
        var subject = new string[n];
        var type = new string[n];
        var data = new string?[n];
        var id = new string[n];
        var stream = new string[n];
        var major = new long[n];
        var minor = new long[n];
        var deleted = new bool[n];
        var i = 0;
        foreach (var e in latest)
        {
            var isDelete = _deleteTypes.Contains(e.Type);
            subject[i] = e.Subject!;
            type[i] = e.Type;
            data[i] = isDelete ? null : System.Text.Encoding.UTF8.GetString(EventBodies.Data(e));
            id[i] = e.Id;
            stream[i] = e.Position.Stream;
            major[i] = e.Position.Major;
            minor[i] = e.Position.Minor;
            deleted[i] = isDelete;
            i++;
        }

        parameters.Add(new NpgsqlParameter("subject", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = subject });
        parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = type });
        parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = data });
        parameters.Add(new NpgsqlParameter("id", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = id });
        parameters.Add(new NpgsqlParameter("stream", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = stream });
        parameters.Add(new NpgsqlParameter("major", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = major });
        parameters.Add(new NpgsqlParameter("minor", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = minor });
        parameters.Add(new NpgsqlParameter("deleted", NpgsqlDbType.Array | NpgsqlDbType.Boolean) { Value = deleted });
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _creation.Dispose();
    }
}
