using System.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CdcPipeline.Consumer;

/// <summary>
/// Handles each event at most once per consumer, inside the consumer's own database transaction.
/// <para>
/// The first statement of the transaction inserts (consumer, event id) into the processed-event table
/// with <c>ON CONFLICT DO NOTHING</c>. If the row is new, the handler runs in the same transaction and
/// both commit together — or roll back together when the handler throws, so a failed event is
/// retried later rather than marked done. If the row exists, the event was processed: nothing runs.
/// </para>
/// <para>
/// Two deliveries of one event racing each other: the second INSERT waits on the first one's
/// uncommitted index entry (PostgreSQL's unique check blocks on the in-progress tuple). When the first
/// commits, the second sees the conflict and reports <see cref="HandleResult.Duplicate"/>; when the
/// first rolls back, the second inserts and applies. Either way the effect happens once. This holds at
/// READ COMMITTED, so no serialization retries are needed.
/// </para>
/// </summary>
public sealed partial class IdempotentConsumer
{
    public const string DefaultTable = "cdc_processed_events";

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _table;
    private readonly ILogger _logger;
    private readonly string _insertSql;

    public IdempotentConsumer(NpgsqlDataSource dataSource, string consumerName, string table = DefaultTable, ILogger<IdempotentConsumer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(consumerName);
        _dataSource = dataSource;
        ConsumerName = consumerName;
        _table = SqlIdentifiers.Table(table, "processed-event table");
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _insertSql = $"INSERT INTO {_table} (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT (consumer, event_id) DO NOTHING";
    }

    /// <summary>Several services (or handlers) may share one table: each de-duplicates under its own name.</summary>
    public string ConsumerName { get; }

    /// <summary>Creates the processed-event table if it does not exist (or run <see cref="SchemaSql"/> in your migrations).</summary>
    public async Task EnsureSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(SchemaSql(_table));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static string SchemaSql(string table = DefaultTable) => $"""
        CREATE TABLE IF NOT EXISTS {SqlIdentifiers.Table(table, "processed-event table")} (
            consumer     text        NOT NULL,
            event_id     text        NOT NULL,
            event_type   text        NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
        """;

    /// <summary>Parses a CloudEvents JSON event and handles it (see <see cref="HandleAsync(ConsumedEvent, EventHandler, CancellationToken)"/>).</summary>
    public Task<HandleResult> HandleAsync(string cloudEventJson, EventHandler handler, CancellationToken cancellationToken = default) =>
        HandleAsync(ConsumedEvent.FromCloudEventJson(cloudEventJson), handler, cancellationToken);

    /// <summary>
    /// Runs <paramref name="handler"/> once for <paramref name="evt"/> per consumer, in one transaction
    /// with the processed mark. An exception from the handler rolls both back and propagates.
    /// </summary>
    public async Task<HandleResult> HandleAsync(ConsumedEvent evt, EventHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(handler);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);

        int inserted;
        await using (var mark = new NpgsqlCommand(_insertSql, connection, transaction))
        {
            mark.Parameters.Add(new NpgsqlParameter { Value = ConsumerName });
            mark.Parameters.Add(new NpgsqlParameter { Value = evt.Id });
            mark.Parameters.Add(new NpgsqlParameter { Value = evt.Type });
            inserted = await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (inserted == 0)
        {
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
            LogDuplicate(_logger, ConsumerName, evt.Id, evt.Type);
            return HandleResult.Duplicate;
        }

        // No catch: disposing the uncommitted transaction rolls the mark back with the handler's writes.
        await handler(connection, transaction, evt, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        LogApplied(_logger, ConsumerName, evt.Id, evt.Type);
        return HandleResult.Applied;
    }

    /// <summary>Forgets marks older than <paramref name="olderThan"/>: only safe once no redelivery that old can arrive (the sink's retention).</summary>
    public async Task<int> PurgeAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand($"DELETE FROM {_table} WHERE consumer = $1 AND processed_at < now() - $2");
        command.Parameters.Add(new NpgsqlParameter { Value = ConsumerName });
        command.Parameters.Add(new NpgsqlParameter { Value = olderThan });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 5000, Level = LogLevel.Debug, Message = "Consumer {Consumer} applied event {EventId} ({EventType})")]
    private static partial void LogApplied(ILogger logger, string consumer, string eventId, string eventType);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Consumer {Consumer} skipped event {EventId} ({EventType}): already processed")]
    private static partial void LogDuplicate(ILogger logger, string consumer, string eventId, string eventType);
}
