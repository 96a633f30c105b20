using CdcPipeline.Core.Pipeline;
using Npgsql;

namespace CdcPipeline.Postgres.Setup;

/// <summary>
/// Publications and replication slots: look up, create when missing, drop on request. Reused by the source,
/// the tests and the operations commands (<c>db prepare</c>, <c>slot …</c>). Never drops anything by itself.
/// </summary>
public static class ReplicationSetup
{
    /// <summary>Quotes an identifier the way PostgreSQL's <c>quote_ident</c> does for any name.</summary>
    public static string QuoteIdentifier(string name) => Core.Changes.PgNames.QuoteIdentifier(name);

    /// <summary><c>schema.table</c> (or <c>table</c>, meaning <c>public</c>) → its two parts.</summary>
    public static (string Schema, string Table) SplitTableName(string qualified)
    {
        var dot = qualified.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? ("public", qualified) : (qualified[..dot], qualified[(dot + 1)..]);
    }

    public static string QuoteTable(string qualified)
    {
        var (schema, table) = SplitTableName(qualified);
        return QuoteIdentifier(schema) + "." + QuoteIdentifier(table);
    }

    public static string NormalizeTableName(string qualified)
    {
        var (schema, table) = SplitTableName(qualified);
        return schema + "." + table;
    }

    public static async Task<bool> PublicationExistsAsync(NpgsqlDataSource dataSource, string publication, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1");
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = publication });
        return await cmd.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>
    /// The SQL that creates <paramref name="publication"/>: FOR the given tables, or FOR ALL TABLES when none are given; WITH
    /// publish_via_partition_root, so that a partitioned table's changes arrive under its own name (without it PostgreSQL
    /// sends them under the partitions' names, and pg_publication_tables lists the partitions instead of the table).
    /// </summary>
    public static string CreatePublicationSql(string publication, IReadOnlyList<string> tables) =>
        (tables.Count == 0
            ? $"CREATE PUBLICATION {QuoteIdentifier(publication)} FOR ALL TABLES"
            : $"CREATE PUBLICATION {QuoteIdentifier(publication)} FOR TABLE {string.Join(", ", tables.Select(QuoteTable))}") +
        " WITH (publish_via_partition_root = true)";

    /// <summary>The statement that makes <paramref name="publication"/> send a partitioned table's changes under the table's name.</summary>
    public static string PublishViaPartitionRootSql(string publication) =>
        $"ALTER PUBLICATION {QuoteIdentifier(publication)} SET (publish_via_partition_root = true)";

    /// <summary>
    /// Creates the publication unless it exists; true when it was created. Refuses (creating nothing) when it would publish a
    /// table without a usable replica identity (<see cref="FindTablesPublishingWouldBreakAsync"/>); an existing publication is
    /// the DBA's and is used as it is.
    /// </summary>
    public static async Task<bool> EnsurePublicationAsync(NpgsqlDataSource dataSource, string publication, IReadOnlyList<string> tables, bool createIfMissing, CancellationToken cancellationToken)
    {
        if (await PublicationExistsAsync(dataSource, publication, cancellationToken))
        {
            return false;
        }

        if (!createIfMissing)
        {
            throw new CaptureStoppedException(
                $"publication '{publication}' does not exist and creating it is not allowed (createPublicationIfMissing: false); create it with: {CreatePublicationSql(publication, tables)};");
        }

        // before anything is created: a published table without a replica identity breaks the application's UPDATE/DELETE
        var keyless = await FindTablesPublishingWouldBreakAsync(dataSource, tables, cancellationToken);
        if (keyless.Count > 0)
        {
            throw new CaptureStoppedException(KeylessPublicationRefusal(publication, tables, keyless));
        }

        // PostgreSQL refuses an unlogged table in a publication ("cannot add relation … to publication"): say why and what to do
        var unlogged = await FindUnloggedTablesAsync(dataSource, tables, cancellationToken);
        if (unlogged.Count > 0)
        {
            throw new CaptureStoppedException(
                UnloggedTablesProblem(unlogged) + $", so publication '{publication}' was not created, and nothing else was (no slot). " + UnloggedTablesWaysOn(unlogged) + " Then start again.");
        }

        await using var cmd = dataSource.CreateCommand(CreatePublicationSql(publication, tables));
        try
        {
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
        {
            return false; // created concurrently by another instance
        }

        return true;
    }

    /// <summary>The tables a publication publishes, as <c>schema.table</c>.</summary>
    public static async Task<IReadOnlyList<string>> GetPublicationTablesAsync(NpgsqlDataSource dataSource, string publication, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2");
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = publication });
        var tables = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            tables.Add(reader.GetString(0) + "." + reader.GetString(1));
        }

        return tables;
    }

    /// <summary>
    /// Of <paramref name="tables"/> (<c>schema.table</c>), the partitioned ones that <paramref name="publication"/> covers
    /// through their partitions only: the table is in it (itself, through an ancestor, its schema or FOR ALL TABLES) but it
    /// lacks publish_via_partition_root, so pg_publication_tables lists (and pgoutput sends the changes under the names of)
    /// the partitions, not the table. A publication that names only a partition (<c>FOR TABLE m_low</c>) does not hold the
    /// table at all: publish_via_partition_root does not change that, so such a table is not returned.
    /// </summary>
    public static async Task<IReadOnlyList<string>> FindPublishedViaPartitionsAsync(NpgsqlDataSource dataSource, string publication, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return [];
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await FindPublishedViaPartitionsAsync(connection, publication, tables, cancellationToken);
    }

    /// <inheritdoc cref="FindPublishedViaPartitionsAsync(NpgsqlDataSource, string, IReadOnlyList{string}, CancellationToken)"/>
    public static async Task<IReadOnlyList<string>> FindPublishedViaPartitionsAsync(NpgsqlConnection connection, string publication, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return [];
        }

        // FOR TABLES IN SCHEMA (pg_publication_namespace) came with PostgreSQL 15; before it a table is in a publication only
        // itself, through an ancestor or FOR ALL TABLES, and naming the catalog would fail the query
        var sql = PublishedViaPartitionsSql.Replace("{schemas}", connection.PostgreSqlVersion.Major >= 15 ? SchemaPublishedSql : "", StringComparison.Ordinal);
        await using var cmd = new NpgsqlCommand(sql, connection);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = publication });
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(QuoteTable).ToArray() });
        return await ListedTablesAsync(cmd, tables, cancellationToken);
    }

    private const string PublishedViaPartitionsSql = """
        SELECT n::int FROM unnest($2::text[]) WITH ORDINALITY AS u(t, n)
        WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass(u.t)) p
                      JOIN pg_catalog.pg_class c ON c.oid = p.relid
                      JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
                      JOIN pg_catalog.pg_publication_tables pt ON pt.pubname = $1 AND pt.schemaname = ns.nspname AND pt.tablename = c.relname
                      WHERE p.level > 0)
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_publication pub
                      WHERE pub.pubname = $1
                        AND (pub.puballtables
                             OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r
                                        JOIN pg_catalog.pg_partition_ancestors(pg_catalog.to_regclass(u.t)) a ON a.relid = r.prrelid
                                        WHERE r.prpubid = pub.oid){schemas}))
        ORDER BY n
        """;

    private const string SchemaPublishedSql = """

                             OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_namespace pn
                                        JOIN pg_catalog.pg_class c ON c.relnamespace = pn.pnnspid
                                        WHERE pn.pnpubid = pub.oid AND c.oid = pg_catalog.to_regclass(u.t))
        """;

    public static async Task<ReplicationSlotInfo?> GetSlotAsync(NpgsqlDataSource dataSource, string slot, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT slot_name, plugin, database, active, restart_lsn::text, confirmed_flush_lsn::text, " +
            "(pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, wal_status, " +
            "(pg_catalog.pg_current_wal_lsn() - restart_lsn)::bigint, safe_wal_size, " +
            "(SELECT NULLIF(setting::bigint, -1) * 1048576 FROM pg_catalog.pg_settings WHERE name = 'max_slot_wal_keep_size') " +
            "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1");
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = slot });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new ReplicationSlotInfo(
            reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetBoolean(3),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            reader.IsDBNull(6) ? null : reader.GetInt64(6),
            reader.IsDBNull(7) ? null : reader.GetString(7),
            reader.IsDBNull(8) ? null : reader.GetInt64(8),
            reader.IsDBNull(9) ? null : reader.GetInt64(9),
            reader.IsDBNull(10) ? null : reader.GetInt64(10));
    }

    /// <summary>
    /// A process holding a replication slot (pg_replication_slots.active_pid), as pg_stat_replication shows it: its
    /// <paramref name="State"/> is null for a holder that is not a WAL sender (a SQL function consuming the slot) or whose state
    /// this role may not see (another role's, without pg_read_all_stats). <paramref name="Streams"/>: it runs START_REPLICATION.
    /// </summary>
    public sealed record SlotHolder(int Pid, string? ApplicationName, string? ClientAddress, string? State, bool Streams);

    /// <summary>
    /// Drops a slot that a start created without recording it, ending first the WAL sender still creating it (its client gone
    /// unnoticed: CREATE_REPLICATION_SLOT holds the slot until it answers; a slot created and answered is let go). A WAL sender
    /// that has begun streaming (START_REPLICATION: state catchup or streaming), or any other holder, is not that creation's: it
    /// is left alone and returned, nothing dropped. Whether the holder streams is read in the statement that ends it, and read
    /// again while the slot is let go, so a consumer that begins streaming meanwhile is returned, not ended. Null: dropped, or gone.
    /// </summary>
    public static async Task<SlotHolder?> DropUnrecordedSlotAsync(NpgsqlDataSource dataSource, string slot, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            await using (var holder = dataSource.CreateCommand("""
                WITH h AS (
                  SELECT s.active_pid AS pid, r.application_name, host(r.client_addr) AS client, r.state,
                         COALESCE(r.state IN ('catchup', 'streaming')
                                  OR pg_catalog.ltrim(a.query) ILIKE 'start\_replication%', false) AS streams
                  FROM pg_catalog.pg_replication_slots s
                  LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
                  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
                  WHERE s.slot_name = $1 AND s.active_pid IS NOT NULL)
                SELECT pid, application_name, client, state, streams,
                       CASE WHEN state = 'startup' AND NOT streams THEN pg_catalog.pg_terminate_backend(pid) END
                FROM h
                """))
            {
                holder.Parameters.Add(new NpgsqlParameter<string> { TypedValue = slot });
                await using var reader = await holder.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken) && reader.IsDBNull(5))
                {
                    return new SlotHolder(
                        reader.GetInt32(0),
                        reader.IsDBNull(1) ? null : reader.GetString(1),
                        reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3),
                        reader.GetBoolean(4));
                }
            }

            try
            {
                await DropOnceAsync(dataSource, slot, cancellationToken);
                return null;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 50)
            {
                // the ended WAL sender takes a moment to let the slot go (or a consumer took it since: the next round says so)
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    /// <summary>Drops a slot (only ever on a user's request). An active slot is first released by terminating its walsender when <paramref name="force"/>.</summary>
    public static async Task<bool> DropSlotAsync(NpgsqlDataSource dataSource, string slot, bool force, CancellationToken cancellationToken)
    {
        if (force)
        {
            await using var kill = dataSource.CreateCommand(
                "SELECT pg_catalog.pg_terminate_backend(active_pid) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL");
            kill.Parameters.Add(new NpgsqlParameter<string> { TypedValue = slot });
            await kill.ExecuteNonQueryAsync(cancellationToken);
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await DropOnceAsync(dataSource, slot, cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && force && attempt < 50)
            {
                // the terminated walsender takes a moment to release the slot
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    /// <summary>Drops the slot if it exists (false: it does not); a slot still held fails with 55006 (ObjectInUse), the callers' to wait on.</summary>
    private static async Task<bool> DropOnceAsync(NpgsqlDataSource dataSource, string slot, CancellationToken cancellationToken)
    {
        await using var drop = dataSource.CreateCommand(
            "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1");
        drop.Parameters.Add(new NpgsqlParameter<string> { TypedValue = slot });
        return await drop.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>
    /// The tables a publication created by <see cref="CreatePublicationSql"/> for <paramref name="tables"/> would publish (FOR ALL
    /// TABLES when none are given: every permanent table of the database outside the system schemas; a partitioned table with its
    /// partitions) that have no usable replica identity: no primary key and REPLICA IDENTITY DEFAULT, or NOTHING. Once such a table
    /// is published, PostgreSQL refuses UPDATE and DELETE on it ("cannot delete from table … because it does not have a replica
    /// identity and publishes deletes"); USING INDEX and FULL are fine.
    /// </summary>
    public static async Task<IReadOnlyList<string>> FindTablesPublishingWouldBreakAsync(NpgsqlDataSource dataSource, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await FindTablesPublishingWouldBreakAsync(connection, tables, cancellationToken);
    }

    /// <inheritdoc cref="FindTablesPublishingWouldBreakAsync(NpgsqlDataSource, IReadOnlyList{string}, CancellationToken)"/>
    public static async Task<IReadOnlyList<string>> FindTablesPublishingWouldBreakAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT n.nspname || '.' || c.relname
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND c.relpersistence = 'p'
              AND CASE WHEN pg_catalog.cardinality($1::text[]) = 0
                       THEN c.oid >= 16384 AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
                       ELSE c.oid IN (SELECT pg_catalog.to_regclass(u.t) FROM pg_catalog.unnest($1::text[]) AS u(t)
                                      UNION ALL -- a partitioned table's partitions (none for a plain table)
                                      SELECT p.relid FROM pg_catalog.unnest($1::text[]) AS u(t),
                                      pg_catalog.pg_partition_tree(pg_catalog.to_regclass(u.t)) AS p) END
              AND c.relreplident <> 'f'
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
                              AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)))
            ORDER BY 1
            """, connection);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(QuoteTable).ToArray() });
        var result = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(reader.GetString(0));
        }

        return result;
    }

    /// <summary>
    /// A leaf partition of a partitioned table (<c>schema.table</c>), its REPLICA IDENTITY (<c>d</c>, <c>f</c>, <c>i</c>, <c>n</c>)
    /// and whether that identifies its rows (<paramref name="Keyed"/>: a primary key under DEFAULT, the index under USING INDEX, or FULL).
    /// </summary>
    public sealed record PartitionIdentity(string Name, char Identity, bool Keyed);

    /// <summary>
    /// The leaf partitions of <paramref name="table"/> (<c>schema.table</c>; none for a table that is not partitioned) with their
    /// replica identity. It is the partition's identity that PostgreSQL checks on an UPDATE/DELETE of a published partitioned table
    /// and writes to the WAL, and <c>ALTER TABLE … REPLICA IDENTITY</c> on the partitioned table does not reach its partitions.
    /// </summary>
    public static async Task<IReadOnlyList<PartitionIdentity>> GetPartitionIdentitiesAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken) =>
        (await GetPartitionIdentitiesAsync(connection, [table], cancellationToken)).GetValueOrDefault(table) ?? [];

    /// <summary>
    /// <see cref="GetPartitionIdentitiesAsync(NpgsqlConnection, string, CancellationToken)"/> for each of <paramref name="tables"/> in one
    /// query: the partitioned ones (as listed) with their leaf partitions; a table that is not partitioned (or not there) is absent.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, IReadOnlyList<PartitionIdentity>>> GetPartitionIdentitiesAsync(NpgsqlConnection connection, IReadOnlyList<string> tables,
        CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, List<PartitionIdentity>>(StringComparer.Ordinal);
        if (tables.Count == 0)
        {
            return new Dictionary<string, IReadOnlyList<PartitionIdentity>>();
        }

        await using var cmd = new NpgsqlCommand("""
            SELECT u.n::int, n.nspname || '.' || c.relname, c.relreplident,
                   CASE c.relreplident
                        WHEN 'f' THEN true
                        WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
                        WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
                        ELSE false END
            FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(t, n)
            CROSS JOIN LATERAL pg_catalog.pg_partition_tree(pg_catalog.to_regclass(u.t)) p
            JOIN pg_catalog.pg_class c ON c.oid = p.relid
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE p.level > 0 AND c.relkind = 'r'
            ORDER BY 1, 2
            """, connection);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(QuoteTable).ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var table = tables[reader.GetInt32(0) - 1];
            if (!found.TryGetValue(table, out var partitions))
            {
                found[table] = partitions = [];
            }

            partitions.Add(new PartitionIdentity(reader.GetString(1), reader.GetChar(2), reader.GetBoolean(3)));
        }

        return found.ToDictionary(kv => kv.Key, IReadOnlyList<PartitionIdentity> (kv) => kv.Value, StringComparer.Ordinal);
    }

    /// <summary>
    /// Of <paramref name="tables"/> (<c>schema.table</c>), the UNLOGGED ones, in their order: PostgreSQL writes none of their changes
    /// to the WAL, so logical replication cannot capture them, and it refuses them in a publication.
    /// </summary>
    public static async Task<IReadOnlyList<string>> FindUnloggedTablesAsync(NpgsqlDataSource dataSource, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return [];
        }

        await using var cmd = dataSource.CreateCommand("""
            SELECT n::int FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(t, n)
            JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(u.t)
            WHERE c.relpersistence = 'u'
            ORDER BY n
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(QuoteTable).ToArray() });
        return await ListedTablesAsync(cmd, tables, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="cmd"/>, a query answering the 1-based positions of <paramref name="tables"/> it selects (<c>unnest(…) WITH
    /// ORDINALITY</c>), and gives those tables as they were listed.
    /// </summary>
    internal static async Task<IReadOnlyList<string>> ListedTablesAsync(NpgsqlCommand cmd, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        var result = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(tables[reader.GetInt32(0) - 1]);
        }

        return result;
    }

    /// <summary>Why <paramref name="unlogged"/> (listed in source.postgres.tables) cannot be captured (the start of a one-line message).</summary>
    public static string UnloggedTablesProblem(IReadOnlyList<string> unlogged) =>
        unlogged.Count == 1
            ? $"table {unlogged[0]} in source.postgres.tables is UNLOGGED: PostgreSQL writes none of its changes to the WAL, so they cannot be captured, and no publication may hold it"
            : $"tables {string.Join(", ", unlogged)} in source.postgres.tables are UNLOGGED: PostgreSQL writes none of their changes to the WAL, so they cannot be captured, and no publication may hold them";

    /// <summary>The ways on from <see cref="UnloggedTablesProblem"/>.</summary>
    public static string UnloggedTablesWaysOn(IReadOnlyList<string> unlogged) =>
        $"Remove {(unlogged.Count == 1 ? "it" : "them")} from source.postgres.tables; or, to capture {(unlogged.Count == 1 ? "it" : "them")}, run " +
        string.Join(" ", unlogged.Select(t => $"ALTER TABLE {QuoteTable(t)} SET LOGGED;")) +
        " (it rewrites the whole table and writes it all to the WAL under an ACCESS EXCLUSIVE lock, so the application waits: a maintenance window).";

    /// <summary>Why a publication over <paramref name="keyless"/> is not created, and the three ways on (one line).</summary>
    public static string KeylessPublicationRefusal(string publication, IReadOnlyList<string> tables, IReadOnlyList<string> keyless) =>
        KeylessPublicationProblem(publication, tables, keyless) + ", so nothing was created (no publication, no slot). " + KeylessPublicationWaysOn(tables, keyless) + " Then start again.";

    /// <summary>
    /// Why creating <paramref name="publication"/> for <paramref name="tables"/> would break the application (the start of
    /// <see cref="KeylessPublicationRefusal"/>; <c>db check</c> says it before any start).
    /// </summary>
    public static string KeylessPublicationProblem(string publication, IReadOnlyList<string> tables, IReadOnlyList<string> keyless) =>
        $"publication '{publication}' does not exist, and creating it " +
        (tables.Count == 0 ? "FOR ALL TABLES (source.postgres.tables is empty) " : "") +
        $"would publish {(keyless.Count == 1 ? "a table" : "tables")} without a replica identity (no primary key and REPLICA IDENTITY DEFAULT, or NOTHING): {string.Join(", ", keyless)}; " +
        "from then on PostgreSQL would refuse the application's UPDATE and DELETE on " + (keyless.Count == 1 ? "it" : "them");

    /// <summary>The three ways on from <see cref="KeylessPublicationProblem"/> (the end of <see cref="KeylessPublicationRefusal"/>).</summary>
    public static string KeylessPublicationWaysOn(IReadOnlyList<string> tables, IReadOnlyList<string> keyless)
    {
        var alters = string.Join(" ", keyless.Select(t => $"ALTER TABLE {QuoteTable(t)} REPLICA IDENTITY FULL;"));
        return "Either, as the table owner, run " + alters +
               " (each UPDATE/DELETE then writes the whole old row to the WAL: more WAL, and the change events carry the old values); " +
               (tables.Count == 0
                   ? "or list only the tables to capture in source.postgres.tables; "
                   : "or remove " + (keyless.Count == 1 ? "the table" : "the tables") + " from source.postgres.tables; ") +
               $"or have the DBA run cdcpipeline db prepare (--replica-identity-full {string.Join(",", keyless)} to capture {(keyless.Count == 1 ? "it" : "them")}; " +
               "without it db prepare leaves such tables out of the publication) to create the publication, and set createPublicationIfMissing: false.";
    }

    /// <summary>Published tables that have neither a primary key nor REPLICA IDENTITY FULL (their updates/deletes carry no key).</summary>
    public static async Task<IReadOnlyList<string>> FindTablesWithoutReplicaIdentityAsync(NpgsqlDataSource dataSource, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT n.nspname || '.' || c.relname
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE (n.nspname || '.' || c.relname) = ANY($1) AND c.relkind IN ('r', 'p')
              AND c.relreplident <> 'f'
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
                              AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)))
            ORDER BY 1
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.ToArray() });
        var result = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(reader.GetString(0));
        }

        return result;
    }
}
