using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace CdcPipeline.Consumer.Outbox;

/// <summary>
/// Writes events into an outbox table inside the caller's business transaction, so an event exists if
/// and only if the business change committed. The pipeline then publishes them: by reading the WAL
/// (the outbox table in the publication, translated by the pipeline's outbox translator), or, where
/// logical replication is not allowed, by polling the table (<c>source.outboxPolling</c>).
/// <para>
/// Strict order for the polling relay: <c>seq</c> comes from an identity sequence, but sequences are
/// not transactional — a transaction can draw seq 7, stay open, and commit after seq 8 committed, so a
/// poller could publish 8 before 7. With <see cref="SerializeCommits"/> (the default) each writer takes
/// a transaction-scoped advisory lock before drawing its seq, which it holds until commit or rollback:
/// outbox-writing transactions then commit in seq order, and every row a poller can see has all its
/// predecessors visible. The cost is that outbox writes of concurrent transactions queue behind each
/// other from the insert to the commit, so insert the outbox row last, just before committing.
/// The WAL-based path needs none of this (it follows commit order); turn it off there.
/// </para>
/// </summary>
public sealed class OutboxWriter
{
    public const string DefaultTable = "outbox";

    private readonly string _table;
    private readonly long _lockKey;
    private readonly string _insertSql;

    public OutboxWriter(string table = DefaultTable, bool serializeCommits = true)
    {
        _table = SqlIdentifiers.Table(table, "outbox table");
        SerializeCommits = serializeCommits;
        _lockKey = LockKey(_table);
        _insertSql = $"INSERT INTO {_table} (id, aggregatetype, aggregateid, type, payload) VALUES ($1, $2, $3, $4, $5)";
    }

    public string Table => _table;

    public bool SerializeCommits { get; }

    /// <summary>The outbox table: Debezium's outbox columns plus what the polling relay needs (seq, status, attempts).</summary>
    public static string SchemaSql(string table = DefaultTable)
    {
        var t = SqlIdentifiers.Table(table, "outbox table");
        var bare = t[(t.LastIndexOf('.') + 1)..];
        return $"""
            CREATE TABLE IF NOT EXISTS {t} (
                id            uuid        PRIMARY KEY,
                seq           bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
                aggregatetype text        NOT NULL,
                aggregateid   text        NOT NULL,
                type          text        NOT NULL,
                payload       jsonb       NOT NULL,
                created_at    timestamptz NOT NULL DEFAULT now(),
                status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
                attempts      integer     NOT NULL DEFAULT 0,
                sent_at       timestamptz
            );
            CREATE INDEX IF NOT EXISTS {bare}_pending_seq ON {t} (seq) WHERE status = 'pending';
            """;
    }

    /// <summary>Creates the outbox table and its index if they do not exist; safe to call from several instances starting at once.</summary>
    /// <remarks>Call it outside a transaction: a concurrent creation is retried, which an aborted transaction would refuse.</remarks>
    public Task EnsureSchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return SchemaCreation.ExecuteAsync(connection, SchemaSql(_table), cancellationToken);
    }

    /// <summary>Adds <paramref name="message"/> in <paramref name="transaction"/>; it is published only if that transaction commits.</summary>
    public async Task<Guid> AddAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, OutboxMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(message);
        if (message.PayloadJson is null)
        {
            throw new ArgumentException($"outbox message {message.Id} ({message.Type}): PayloadJson is null; give the payload as JSON text (\"null\" for a JSON null)", nameof(message));
        }

        if (SerializeCommits)
        {
            await using var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction);
            lockCommand.Parameters.Add(new NpgsqlParameter { Value = _lockKey });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using var command = new NpgsqlCommand(_insertSql, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = message.Id });
        command.Parameters.Add(new NpgsqlParameter { Value = message.AggregateType });
        command.Parameters.Add(new NpgsqlParameter { Value = message.AggregateId });
        command.Parameters.Add(new NpgsqlParameter { Value = message.Type });
        command.Parameters.Add(new NpgsqlParameter { Value = message.PayloadJson, NpgsqlDbType = NpgsqlDbType.Jsonb });
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidTextRepresentation or PostgresErrorCodes.UntranslatableCharacter)
        {
            // Only the jsonb column parses text here. The message text, not its detail: the detail quotes the payload.
            throw new ArgumentException(
                $"outbox message {message.Id} ({message.Type}, {message.AggregateType} {message.AggregateId}): PayloadJson is not valid jsonb " +
                $"({e.MessageText}; jsonb also refuses \\u0000). The transaction is aborted: roll it back, correct the payload and write again.", nameof(message), e);
        }

        return message.Id;
    }

    /// <summary>Serializes <paramref name="payload"/> with System.Text.Json and adds it.</summary>
    public Task<Guid> AddAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string aggregateType, string aggregateId, string type, T payload, CancellationToken cancellationToken = default) =>
        AddAsync(connection, transaction, new OutboxMessage
        {
            AggregateType = aggregateType,
            AggregateId = aggregateId,
            Type = type,
            PayloadJson = JsonSerializer.Serialize(payload, JsonSerializerOptions.Web),
        }, cancellationToken);

    /// <summary>A stable advisory-lock key per outbox table (the same in every process and version).</summary>
    internal static long LockKey(string table)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes("cdcpipeline.outbox.writer:" + table), hash);
        return BitConverter.ToInt64(hash[..8]);
    }
}
