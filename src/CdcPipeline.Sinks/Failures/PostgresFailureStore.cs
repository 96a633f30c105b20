using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Postgres;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace CdcPipeline.Sinks.Failures;

/// <summary>
/// The <c>onFailure: log</c> store: a PostgreSQL table of deliveries that failed, one row per sink and
/// event (a replay that fails the same event again bumps <c>attempts</c> instead of adding a row), with
/// the body the sink would have written (a <c>json</c> column, which keeps the text exactly), so
/// <c>failures resend</c> can deliver it later byte for byte.
/// </summary>
public sealed class PostgresFailureStore : IFailureStore, IAsyncDisposable
{
    private const int MaxErrorLength = 4000;
    private readonly NpgsqlDataSource _dataSource;
    private readonly FailureStoreOptions _options;
    private readonly string _pipeline;
    private readonly string _table;
    private readonly TableCreation _creation;
    private readonly FormerSpellings _names;

    /// <param name="tableLocation">Where <c>table</c> was written (<c>file:line</c>), for errors about it.</param>
    /// <param name="logger">For the warning about a table an earlier version made of the setting beside the one written now.</param>
    public PostgresFailureStore(FailureStoreOptions options, string pipeline, string? tableLocation = null, ILogger<PostgresFailureStore>? logger = null)
    {
        Logger = logger ?? (ILogger)NullLogger.Instance;
        _options = options;
        _pipeline = pipeline;
        // Read as the postgres sink's table is (Failures is failures, "Failures" keeps its case); a table an earlier version made
        // of the setting quoted as written is not silently replaced by a new, empty one.
        _names = new FormerSpellings("the failure store", FailureStoreOptions.SectionName + ".table", options.Table, tableLocation);
        _table = _names.QuotedTable;
        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "cdcpipeline-failures";
        _dataSource = builder.Build();
        _creation = new TableCreation(_dataSource, $"""
                CREATE TABLE IF NOT EXISTS {_table} (
                    id bigserial PRIMARY KEY,
                    pipeline text NOT NULL,
                    sink text NOT NULL,
                    event_id text NOT NULL,
                    type text NOT NULL,
                    position_stream text NOT NULL,
                    position_major bigint NOT NULL,
                    position_minor bigint NOT NULL,
                    -- json, not jsonb: json keeps the text as written (key order included), so a resend
                    -- sends the very bytes the sink would have sent; cast to jsonb to query it.
                    payload json NOT NULL,
                    status text NOT NULL DEFAULT 'failed',
                    attempts integer NOT NULL,
                    last_error text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (pipeline, sink, event_id))
                """, options.CreateTable);
    }

    public string Table => _options.Table;

    public async ValueTask RecordAsync(string sinkName, DomainEvent domainEvent, Exception error, int attempts, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        await using var command = _dataSource.CreateCommand($"""
            INSERT INTO {_table} AS f (pipeline, sink, event_id, type, position_stream, position_major, position_minor, payload, attempts, last_error)
            VALUES (@pipeline, @sink, @event_id, @type, @stream, @major, @minor, @payload::json, @attempts, @error)
            ON CONFLICT (pipeline, sink, event_id) DO UPDATE SET
                status = 'failed', attempts = f.attempts + EXCLUDED.attempts,
                last_error = EXCLUDED.last_error, payload = EXCLUDED.payload, updated_at = now()
            """);
        command.Parameters.AddWithValue("pipeline", _pipeline);
        command.Parameters.AddWithValue("sink", sinkName);
        command.Parameters.AddWithValue("event_id", domainEvent.Id);
        command.Parameters.AddWithValue("type", domainEvent.Type);
        command.Parameters.AddWithValue("stream", domainEvent.Position.Stream);
        command.Parameters.AddWithValue("major", domainEvent.Position.Major);
        command.Parameters.AddWithValue("minor", domainEvent.Position.Minor);
        command.Parameters.AddWithValue("payload", NpgsqlDbType.Text, Encoding.UTF8.GetString(EventJson.SerializeToUtf8(domainEvent)));
        command.Parameters.AddWithValue("attempts", Math.Max(1, attempts));
        command.Parameters.AddWithValue("error", Describe(error));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Rows by filter, oldest first.</summary>
    public async Task<IReadOnlyList<FailureRecord>> ListAsync(string? status, string? sink, IReadOnlyCollection<long>? ids, int limit, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        await using var command = _dataSource.CreateCommand($"""
            SELECT id, pipeline, sink, event_id, type, position_stream, position_major, position_minor, payload::text,
                   status, attempts, last_error, created_at, updated_at
            FROM {_table}
            WHERE pipeline = @pipeline
              AND (@status::text IS NULL OR status = @status)
              AND (@sink::text IS NULL OR sink = @sink)
              AND (@ids::bigint[] IS NULL OR id = ANY(@ids))
            ORDER BY id
            LIMIT @limit
            """);
        command.Parameters.AddWithValue("pipeline", _pipeline);
        command.Parameters.Add(new NpgsqlParameter("status", NpgsqlDbType.Text) { Value = (object?)status ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("sink", NpgsqlDbType.Text) { Value = (object?)sink ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = ids is null ? DBNull.Value : ids.ToArray() });
        command.Parameters.AddWithValue("limit", limit);
        var result = new List<FailureRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new FailureRecord
            {
                Id = reader.GetInt64(0),
                Pipeline = reader.GetString(1),
                Sink = reader.GetString(2),
                EventId = reader.GetString(3),
                Type = reader.GetString(4),
                Position = new SourcePosition(reader.GetString(5), reader.GetInt64(6), reader.GetInt64(7)),
                Payload = reader.GetString(8),
                Status = reader.GetString(9),
                Attempts = reader.GetInt32(10),
                LastError = reader.IsDBNull(11) ? null : reader.GetString(11),
                CreatedAt = reader.GetFieldValue<DateTimeOffset>(12),
                UpdatedAt = reader.GetFieldValue<DateTimeOffset>(13),
            });
        }

        return result;
    }

    /// <summary>Records the outcome of a resend: delivered (status <c>resent</c>) or failed again (new error).</summary>
    public async Task MarkResentAsync(long id, Exception? error, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"""
            UPDATE {_table}
            SET attempts = attempts + 1, updated_at = now(),
                status = CASE WHEN @error::text IS NULL THEN 'resent' ELSE status END,
                last_error = COALESCE(@error::text, last_error)
            WHERE id = @id
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.Add(new NpgsqlParameter("error", NpgsqlDbType.Text) { Value = error is null ? DBNull.Value : Describe(error) });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask EnsureTableAsync(CancellationToken cancellationToken)
    {
        // Before CREATE TABLE, which would make the new table.
        await _names.CheckAsync(_dataSource, Logger, cancellationToken).ConfigureAwait(false);
        await _creation.EnsureAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Set by the container that hands the store out (it is made, and its configuration checked, before the container is built).</summary>
    internal ILogger Logger { get; set; }

    private static string Describe(Exception error)
    {
        var text = $"{error.GetType().Name}: {error.Message}";
        return text.Length > MaxErrorLength ? text[..MaxErrorLength] : text;
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _creation.Dispose();
    }
}
