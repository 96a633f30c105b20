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
/// READ COMMITTED, so the mark itself needs no serialization retries.
/// </para>
/// <para>
/// The handler's own writes can still deadlock with another transaction's (or fail to serialize, when it raises the
/// isolation level): PostgreSQL then aborts the transaction and asks for it to be run again. The whole attempt —
/// mark and handler — rolls back and runs again, up to <see cref="TransientFailureAttempts"/> times; that is safe for
/// the same reason a redelivery is. Any other exception rolls back and propagates at once: retrying a poison event,
/// and dead-lettering it, is the caller's (its transport's) decision; the event is not marked, so it is not lost.
/// </para>
/// <para>
/// The handler must not commit or roll back the transaction it is given: the mark is inserted in it before the handler runs,
/// so the handler's own COMMIT commits the mark with the writes before it, and its ROLLBACK rolls both back. A handler that
/// does so and returns gets an <see cref="InvalidOperationException"/> naming the event and saying which happened (marked, so a
/// redelivery is a duplicate; or not marked, so a redelivery runs it again). One that does so and then throws has its own
/// exception propagate, with the same effect on the mark. Either way the mark and the writes before the commit or rollback
/// stay together; only statements the handler runs after it are outside the mark.
/// </para>
/// </summary>
public sealed partial class IdempotentConsumer
{
    /// <summary>The processed-event table used when none is given.</summary>
    public const string DefaultTable = "cdc_processed_events";

    /// <summary>How often an event is tried when PostgreSQL aborts its transaction with a deadlock or serialization failure.</summary>
    public const int TransientFailureAttempts = 5;

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _tableName;
    private readonly string _table;
    private readonly ILogger _logger;
    private readonly string _insertSql;
    private readonly string _markedSql;

    /// <summary>A consumer handling events under <paramref name="consumerName"/>; it keeps no state but its settings, so one instance can serve
    /// concurrent <c>HandleAsync</c> calls (each takes its own connection).</summary>
    /// <param name="dataSource">The service's database: each event runs on a connection from it. The caller owns it (and disposes it).</param>
    /// <param name="consumerName">The name this consumer de-duplicates under; keep it stable across deployments, or every event is applied again.</param>
    /// <param name="table">[schema.]table of the marks, read as PostgreSQL reads it unquoted (see <see cref="SchemaSql"/>).</param>
    /// <param name="logger">Where applied, duplicate, retried and failed events are logged (event ids 5000–5003); none when null.</param>
    /// <exception cref="ArgumentException"><paramref name="consumerName"/> is empty, or <paramref name="table"/> is not a plain table name.</exception>
    public IdempotentConsumer(NpgsqlDataSource dataSource, string consumerName, string table = DefaultTable, ILogger<IdempotentConsumer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(consumerName);
        _dataSource = dataSource;
        ConsumerName = consumerName;
        _table = SqlIdentifiers.Table(table, "processed-event table");
        _tableName = table;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        // RETURNING the transaction's id (txid_current: also on PostgreSQL before 13's pg_current_xact_id) tells, after the
        // handler, whether the statements still run in this transaction or the handler has ended it.
        _insertSql = $"INSERT INTO {_table} (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT (consumer, event_id) DO NOTHING RETURNING txid_current()";
        _markedSql = $"SELECT EXISTS (SELECT 1 FROM {_table} WHERE consumer = $1 AND event_id = $2)";
    }

    /// <summary>Several services (or handlers) may share one table: each de-duplicates under its own name.</summary>
    public string ConsumerName { get; }

    /// <summary>Creates the processed-event table if it does not exist (or run <see cref="SchemaSql"/> in your migrations).</summary>
    /// <remarks>Safe to call from several instances starting at once.</remarks>
    public async Task EnsureSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await SchemaCreation.ExecuteAsync(connection, SchemaSql(_tableName), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The processed-event table, and the index <see cref="PurgeAsync"/> deletes by (a consumer's marks by age; created on
    /// an existing table too, which blocks writes to it while it builds: on a large table, create it first with
    /// <c>CREATE INDEX CONCURRENTLY</c> under the same name, <c>{table}_consumer_processed_at</c>).
    /// </summary>
    /// <param name="table">[schema.]table, read as PostgreSQL reads it unquoted (<c>Processed</c> is <c>processed</c>; a reserved word such as <c>user</c> is fine).</param>
    public static string SchemaSql(string table = DefaultTable)
    {
        var t = SqlIdentifiers.Table(table, "processed-event table");
        return $"""
            CREATE TABLE IF NOT EXISTS {t} (
                consumer     text        NOT NULL,
                event_id     text        NOT NULL,
                event_type   text        NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer, event_id)
            );
            CREATE INDEX IF NOT EXISTS {SqlIdentifiers.Index(t, "consumer_processed_at")} ON {t} (consumer, processed_at);
            """;
    }

    /// <summary>Parses a CloudEvents JSON event and handles it (see <see cref="HandleAsync(ConsumedEvent, ConsumedEventHandler, CancellationToken)"/>).</summary>
    /// <exception cref="FormatException"><paramref name="cloudEventJson"/> is not a CloudEvents JSON event (see
    /// <see cref="ConsumedEvent.FromCloudEventJson"/>): nothing ran and nothing is marked; a redelivery fails the same way, so dead-letter it.</exception>
    public Task<HandleResult> HandleAsync(string cloudEventJson, ConsumedEventHandler handler, CancellationToken cancellationToken = default) =>
        HandleAsync(ConsumedEvent.FromCloudEventJson(cloudEventJson), handler, cancellationToken);

    /// <summary>
    /// Runs <paramref name="handler"/> once for <paramref name="evt"/> per consumer, in one transaction
    /// with the processed mark. A deadlock or serialization failure runs both again (up to
    /// <see cref="TransientFailureAttempts"/> times); any other exception from the handler rolls both back and propagates.
    /// </summary>
    /// <exception cref="InvalidOperationException">The handler returned, but one of its statements had failed (and it caught the
    /// error): PostgreSQL aborted the transaction, so nothing was applied and the event is not marked. Or the handler returned
    /// after committing or rolling back the transaction it was given itself: the message names the event and says which
    /// happened — marked processed with what the handler wrote before its commit (a redelivery is a duplicate), or not marked
    /// and nothing written before its rollback applied (a redelivery runs the handler again).</exception>
    public async Task<HandleResult> HandleAsync(ConsumedEvent evt, ConsumedEventHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(handler);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await HandleOnceAsync(evt, handler, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (attempt < TransientFailureAttempts && IsTransactionRetry(e))
            {
                LogRetrying(_logger, ConsumerName, evt.Id, evt.Type, e.SqlState, attempt, TransientFailureAttempts);
                // Spread the partners of a deadlock apart, so they do not meet again at once.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(10, 50) * attempt), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The exception goes to the caller as it is (its type is what a service decides on); the log says which event
                // it was, which a database that cannot be reached ("Failed to connect to …") or a handler's own error does not.
                LogFailed(_logger, ConsumerName, evt.Id, evt.Type, e.GetType().Name, e.Message, e);
                throw;
            }
        }
    }

    private async Task<HandleResult> HandleOnceAsync(ConsumedEvent evt, ConsumedEventHandler handler, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);

        object? transactionId;
        await using (var mark = new NpgsqlCommand(_insertSql, connection, transaction))
        {
            mark.Parameters.Add(new NpgsqlParameter { Value = ConsumerName });
            mark.Parameters.Add(new NpgsqlParameter { Value = evt.Id });
            mark.Parameters.Add(new NpgsqlParameter { Value = evt.Type });
            transactionId = await mark.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }

        if (transactionId is null)
        {
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
            LogDuplicate(_logger, ConsumerName, evt.Id, evt.Type);
            return HandleResult.Duplicate;
        }

        // No catch: disposing the uncommitted transaction rolls the mark back with the handler's writes.
        await handler(connection, transaction, evt, cancellationToken).ConfigureAwait(false);
        await EnsureStillOpenAsync(connection, (long)transactionId, evt, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        LogApplied(_logger, ConsumerName, evt.Id, evt.Type);
        return HandleResult.Applied;
    }

    /// <summary>
    /// One statement before COMMIT tells what the handler left. COMMIT of a transaction in which a statement failed is
    /// answered with ROLLBACK, not an error, and Npgsql reports success: a handler that caught a database error would have
    /// the event reported applied with nothing written; an aborted transaction refuses the statement. And a handler that
    /// committed or rolled back the transaction itself would get Npgsql's bare "Transaction is already completed" from the
    /// library's next statement, naming neither event nor cause: the statement then runs outside the mark's transaction, under
    /// another transaction id.
    /// </summary>
    private async Task EnsureStillOpenAsync(NpgsqlConnection connection, long transactionId, ConsumedEvent evt, CancellationToken cancellationToken)
    {
        long current;
        try
        {
            // Not bound to the transaction object: Npgsql refuses a command given a transaction the handler has completed.
            await using var probe = new NpgsqlCommand("SELECT txid_current()", connection);
            current = (long)(await probe.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InFailedSqlTransaction)
        {
            throw new InvalidOperationException(
                $"consumer '{ConsumerName}', event '{evt.Id}' ({evt.Type}): the handler returned normally, but one of its statements had failed " +
                "and PostgreSQL aborted the transaction, so nothing was applied and the event is not marked processed. Let database errors " +
                "propagate from the handler, or run a statement that may fail inside a savepoint (transaction.SaveAsync, RollbackAsync(name)).", e);
        }

        if (current != transactionId)
        {
            throw await HandlerEndedTransactionAsync(connection, evt, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The mark was inserted before the handler ran, in the transaction the handler ended: its COMMIT committed the mark with
    /// what it had written, its ROLLBACK rolled both back. The mark says which, and so what a redelivery will do.
    /// </summary>
    private async Task<InvalidOperationException> HandlerEndedTransactionAsync(NpgsqlConnection connection, ConsumedEvent evt, CancellationToken cancellationToken)
    {
        bool marked;
        await using (var query = new NpgsqlCommand(_markedSql, connection))
        {
            query.Parameters.Add(new NpgsqlParameter { Value = ConsumerName });
            query.Parameters.Add(new NpgsqlParameter { Value = evt.Id });
            marked = (bool)(await query.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        var happened = marked
            ? "It committed it: the processed mark, inserted in that transaction before the handler ran, committed with what the handler " +
              "wrote before its commit, so the event is marked processed and a redelivery is skipped as a duplicate."
            : "It rolled it back: the processed mark went with it, so the event is not marked processed, nothing the handler wrote before " +
              "its rollback was applied, and a redelivery runs the handler again.";
        return new InvalidOperationException(
            $"consumer '{ConsumerName}', event '{evt.Id}' ({evt.Type}): the handler ended the transaction it was given itself; the handler " +
            "must not commit or roll back the transaction it is given; let exceptions propagate (HandleAsync commits the handler's writes " +
            $"with the processed mark, and rolls both back when the handler throws). {happened} Statements the handler ran after " +
            "ending the transaction ran outside it, each committed on its own, and are not covered by the mark.");
    }

    private static bool IsTransactionRetry(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure;

    /// <summary>Forgets marks older than <paramref name="olderThan"/>: only safe once no redelivery that old can arrive (the sink's retention).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="olderThan"/> is zero or negative: that would forget every mark, also
    /// those of events still being redelivered, which would then be applied again.</exception>
    public async Task<int> PurgeAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        if (olderThan <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(olderThan), olderThan,
                $"consumer '{ConsumerName}': PurgeAsync keeps the marks younger than olderThan, so it must be positive; {olderThan} would delete every mark, " +
                "also those of events still being redelivered (they would be applied again). Pass how long a redelivery can arrive late (the sink's retention, a replay's reach), e.g. TimeSpan.FromDays(30)");
        }

        await using var command = _dataSource.CreateCommand($"DELETE FROM {_table} WHERE consumer = $1 AND processed_at < now() - $2");
        command.Parameters.Add(new NpgsqlParameter { Value = ConsumerName });
        command.Parameters.Add(new NpgsqlParameter { Value = olderThan });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 5000, Level = LogLevel.Debug, Message = "Consumer {Consumer} applied event {EventId} ({EventType})")]
    private static partial void LogApplied(ILogger logger, string consumer, string eventId, string eventType);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Consumer {Consumer}: event {EventId} ({EventType}) rolled back by PostgreSQL ({SqlState}) on attempt {Attempt} of {Attempts}; running it again")]
    private static partial void LogRetrying(ILogger logger, string consumer, string eventId, string eventType, string sqlState, int attempt, int attempts);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Consumer {Consumer}: event {EventId} ({EventType}) failed and was rolled back ({ExceptionType}: {Reason}): it is not marked processed, "
        + "so a redelivery runs the handler again. If the database is unreachable, redeliver once it is back; if the event fails the same way every time (a poison event), "
        + "dead-letter it in the service's transport after a bounded number of redeliveries")]
    private static partial void LogFailed(ILogger logger, string consumer, string eventId, string eventType, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Consumer {Consumer} skipped event {EventId} ({EventType}): already processed")]
    private static partial void LogDuplicate(ILogger logger, string consumer, string eventId, string eventType);
}
