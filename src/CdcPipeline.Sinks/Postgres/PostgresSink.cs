using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;
using Npgsql;
using NpgsqlTypes;

namespace CdcPipeline.Sinks.Postgres;

/// <summary>
/// Writes events into a PostgreSQL table, a whole batch in one statement (arrays unnested
/// server-side: one round trip, atomic).
/// <list type="bullet">
/// <item><b>append</b>: <c>(id PRIMARY KEY, type, source, subject, time, data jsonb, position, delivered_at)</c>,
/// <c>ON CONFLICT (id) DO NOTHING</c> — a replayed event (same deterministic id) is not stored twice.</item>
/// <item><b>upsert</b>: one row per subject with its latest data; the row remembers the source position
/// of the event that wrote it, and an update only applies when the incoming position is later, so a
/// replay of older events (a re-snapshot, a Kafka offset reset) never rolls the projection back.</item>
/// </list>
/// </summary>
public sealed class PostgresSink : ISink
{
    private readonly PostgresSinkOptions _options;
    private readonly NpgsqlDataSource _dataSource;
    private readonly HashSet<string> _deleteTypes;
    private readonly string _insertSql;
    private readonly TableCreation _creation;

    /// <summary>The upsert table's columns besides the configured key and data columns.</summary>
    public static IReadOnlyList<string> UpsertColumns { get; } = ["type", "event_id", "position_stream", "position_major", "position_minor", "deleted", "updated_at"];

    public PostgresSink(string name, PostgresSinkOptions options)
    {
        Name = name;
        _options = options;
        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "cdcpipeline-" + name;
        _dataSource = builder.Build();
        _deleteTypes = new HashSet<string>(options.Projection.DeleteTypes, StringComparer.Ordinal);
        var table = SqlIdentifier.Quote(options.Table);
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
            var key = SqlIdentifier.Quote(options.Projection.KeyColumn);
            var data = SqlIdentifier.Quote(options.Projection.DataColumn);
            createSql = $"""
                CREATE TABLE IF NOT EXISTS {table} (
                    {key} text PRIMARY KEY,
                    type text NOT NULL,
                    {data} jsonb,
                    event_id text NOT NULL,
                    position_stream text NOT NULL,
                    position_major bigint NOT NULL,
                    position_minor bigint NOT NULL,
                    deleted boolean NOT NULL DEFAULT false,
                    updated_at timestamptz NOT NULL DEFAULT now())
                """;

            // The WHERE guard makes a replayed (older or equal) event a no-op. Positions of different
            // streams are not comparable (a re-partitioned topic): the later delivery wins then.
            _insertSql = $"""
                INSERT INTO {table} AS t ({key}, type, {data}, event_id, position_stream, position_major, position_minor, deleted, updated_at)
                SELECT u.subject, u.type, u.data::jsonb, u.id, u.stream, u.major, u.minor, u.deleted, now()
                FROM unnest(@subject, @type, @data, @id, @stream, @major, @minor, @deleted) AS u(subject, type, data, id, stream, major, minor, deleted)
                ON CONFLICT ({key}) DO UPDATE SET
                    type = EXCLUDED.type, {data} = EXCLUDED.{data}, event_id = EXCLUDED.event_id,
                    position_stream = EXCLUDED.position_stream, position_major = EXCLUDED.position_major,
                    position_minor = EXCLUDED.position_minor, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE t.position_stream <> EXCLUDED.position_stream
                   OR (t.position_major, t.position_minor) < (EXCLUDED.position_major, EXCLUDED.position_minor)
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

        try
        {
            await _creation.EnsureAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (IsSchemaError(e.SqlState))
        {
            throw SchemaError(e);
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(_insertSql, connection);
        if (_options.Mode == PostgresSinkMode.Append)
        {
            AddAppendParameters(command, batch);
        }
        else
        {
            AddUpsertParameters(command, batch);
        }

        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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
    /// writes, for every event alike. Retried (the operator can fix the table or grant the right), but with an error that
    /// names the table, which PostgreSQL's message (a column, at most) does not.
    /// </summary>
    private static bool IsSchemaError(string sqlState) => sqlState.StartsWith("42", StringComparison.Ordinal);

    private NpgsqlException SchemaError(PostgresException e) => new(
        $"postgres sink '{Name}' ({_options.Mode.ToString().ToLowerInvariant()} into {_options.Table}): {e.SqlState}: {e.MessageText}. "
        + $"The table must have the columns the {_options.Mode.ToString().ToLowerInvariant()} mode writes (README, Sinks) and the sink's user the right to write it "
        + "(and to create it, with createTable); retried until it does",
        e);

    /// <summary>
    /// Errors about the values themselves, which no retry can change: class 22 (data exception: a NUL
    /// character in text or jsonb, a value out of range) and 54000 (a key too long for its index).
    /// Everything else (a lost connection, a serialization failure or deadlock, a missing table that
    /// an operator may still create) stays transient and is retried.
    /// </summary>
    private static bool IsPermanent(string sqlState) =>
        sqlState.StartsWith("22", StringComparison.Ordinal) || sqlState == PostgresErrorCodes.ProgramLimitExceeded;

    private static void AddAppendParameters(NpgsqlCommand command, IReadOnlyList<DomainEvent> batch)
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

        command.Parameters.Add(new NpgsqlParameter("id", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = id });
        command.Parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = type });
        command.Parameters.Add(new NpgsqlParameter("source", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = source });
        command.Parameters.Add(new NpgsqlParameter("subject", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = subject });
        command.Parameters.Add(new NpgsqlParameter("time", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = time });
        command.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = data });
        command.Parameters.Add(new NpgsqlParameter("position", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = position });
    }

    private void AddUpsertParameters(NpgsqlCommand command, IReadOnlyList<DomainEvent> batch)
    {
        // ON CONFLICT DO UPDATE may touch a row once per statement: keep each subject's last event
        // of the batch (events arrive in source order, so the last is the latest).
        var latest = new Dictionary<string, DomainEvent>(StringComparer.Ordinal);
        foreach (var e in batch)
        {
            if (e.Subject is null)
            {
                throw new PermanentDeliveryException(e, $"postgres sink '{Name}' (upsert into {_options.Table}): event {e.Id} ({e.Type}) has no subject, so it has no row to update; give the rule a key");
            }

            latest[e.Subject] = e;
        }

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
        foreach (var e in latest.Values)
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

        command.Parameters.Add(new NpgsqlParameter("subject", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = subject });
        command.Parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = type });
        command.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = data });
        command.Parameters.Add(new NpgsqlParameter("id", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = id });
        command.Parameters.Add(new NpgsqlParameter("stream", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = stream });
        command.Parameters.Add(new NpgsqlParameter("major", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = major });
        command.Parameters.Add(new NpgsqlParameter("minor", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = minor });
        command.Parameters.Add(new NpgsqlParameter("deleted", NpgsqlDbType.Array | NpgsqlDbType.Boolean) { Value = deleted });
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _creation.Dispose();
    }
}
