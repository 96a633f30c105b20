using System.Buffers.Binary;
using System.Globalization;
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
/// The lock is the table's, not the spelling's: its key is derived from the table's oid, which the lock statement
/// resolves (<c>'…'::regclass</c>) in the writer's transaction, with its search_path, exactly as the INSERT after it
/// does — so <c>outbox</c>, <c>public.outbox</c> and <c>Outbox</c> writers of one table queue behind each other.
/// Resolved on every call rather than cached: a cached oid would outlive a DROP and CREATE of the table, and a
/// writer created before it would lock the old oid while newer ones lock the new. The lookup is a catalog-cache hit
/// on the server, in a statement the writer runs anyway.
/// Versions before that keyed the lock by a hash of the name as spelled (<see cref="SpelledLockKey"/>). So that old and new
/// writers can run side by side during a rolling upgrade, a writer takes that key too, for its own spelling, in the same
/// statement and before the oid key (every writer in the same order, so writers of this version cannot deadlock each other):
/// an old and a new writer of one spelling queue behind each other; old writers of different spellings never did.
/// The WAL-based path needs none of this (it follows commit order); turn it off there.
/// </para>
/// </summary>
public sealed class OutboxWriter
{
    /// <summary>The outbox table used when none is given.</summary>
    public const string DefaultTable = "outbox";

    /// <summary>
    /// The high 32 bits of every writer lock key (the low 32 are the table's oid): a constant of this library, so that
    /// writers in every process and version agree, and unlikely to meet another application's bigint advisory keys.
    /// </summary>
    internal const long LockKeyPrefix = 0x63_64_63_6F_00_00_00_00; // "cdco"

    private readonly string _table;
    private readonly string _sqlTable;
    private readonly string _lockSql;
    private readonly string _insertSql;

    /// <param name="table">[schema.]table, read as PostgreSQL reads it unquoted (<c>Outbox</c> is <c>outbox</c>; a reserved word such as <c>order</c> is fine);
    /// without a schema, the table is found through the connection's search_path, as the insert finds it.</param>
    /// <param name="serializeCommits">Take the table's commit-order lock (see the class remarks); needed for the polling relay only.</param>
    public OutboxWriter(string table = DefaultTable, bool serializeCommits = true)
    {
        _sqlTable = SqlIdentifiers.Table(table, "outbox table");
        _table = table;
        SerializeCommits = serializeCommits;
        // The table's name goes in as a literal (it is validated and quoted: letters, digits and '_' only), so the server parses it as the INSERT's.
        // The spelled key, then the oid key (the target list is evaluated left to right). Every writer of this version runs this one
        // statement shape, so all take the two keys in the same order and cannot deadlock each other; old writers take one key.
        _lockSql = string.Create(CultureInfo.InvariantCulture,
            $"SELECT pg_catalog.pg_advisory_xact_lock({SpelledLockKey(table)}), pg_catalog.pg_advisory_xact_lock({LockKeyPrefix} | '{_sqlTable}'::pg_catalog.regclass::pg_catalog.oid::bigint)");
        _insertSql = $"INSERT INTO {_sqlTable} (id, aggregatetype, aggregateid, type, payload) VALUES ($1, $2, $3, $4, $5)";
    }

    /// <summary>The table name as given.</summary>
    public string Table => _table;

    /// <summary>Whether <see cref="AddAsync(NpgsqlConnection, NpgsqlTransaction, OutboxMessage, CancellationToken)"/> takes the table's
    /// commit-order lock (see the class remarks).</summary>
    public bool SerializeCommits { get; }

    /// <summary>The outbox table: Debezium's outbox columns plus what the polling relay needs (seq, status, attempts).</summary>
    public static string SchemaSql(string table = DefaultTable)
    {
        var t = SqlIdentifiers.Table(table, "outbox table");
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
            CREATE INDEX IF NOT EXISTS {SqlIdentifiers.Index(t, "pending_seq")} ON {t} (seq) WHERE status = 'pending';
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
            await using var lockCommand = new NpgsqlCommand(_lockSql, connection, transaction);
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

    /// <summary>
    /// The lock key of writers before the oid key: a hash of the table name exactly as the writer was given it
    /// (<c>outbox</c>, <c>public.outbox</c> and <c>Outbox</c> are three keys). Kept so that writers of those versions still
    /// queue behind writers of this one; it must never change.
    /// </summary>
    internal static long SpelledLockKey(string table)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes("cdcpipeline.outbox.writer:" + table), hash);
        // BitConverter's order on every platform those versions ran on: little-endian.
        return BinaryPrimitives.ReadInt64LittleEndian(hash[..8]);
    }
}
