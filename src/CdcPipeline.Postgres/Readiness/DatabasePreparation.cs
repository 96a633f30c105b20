using System.Text;
using CdcPipeline.Postgres.Setup;
using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// <c>db prepare</c>: the idempotent SQL that makes a legacy database ready for capture, and <c>--apply</c> running the
/// missing part of it in one transaction. It creates only our own objects (role, schema <c>cdc</c>, heartbeat and signal
/// tables, publication) and grants; the one change to an application object is REPLICA IDENTITY FULL on the tables the
/// user named. No legacy row is read or written.
/// </summary>
public static class DatabasePreparation
{
    public static string QuoteLiteral(string value) => Core.Changes.PgNames.QuoteLiteral(value);

    /// <summary>What to do when <c>--password-env</c> names a variable that is not set (or empty).</summary>
    public static string PasswordVariableNotSet(string variable, string role) =>
        $"--password-env {variable}: the environment variable is not set (or empty). Export it with the role's password and run again " +
        "(the script and --apply set the password from its SCRAM-SHA-256 verifier, never the password itself), " +
        $"or leave --password-env out and set the password yourself afterwards (psql: \\password {role})";

    /// <summary>Reads the catalog and decides, step by step, what is missing. <paramref name="password"/> (from --password-env) is needed when the role gets one.</summary>
    public static async Task<PreparePlan> PlanAsync(NpgsqlConnection connection, PrepareOptions options, string? password, CancellationToken cancellationToken)
    {
        var role = options.Role;
        var qRole = ReplicationSetup.QuoteIdentifier(role);
        var database = await ScalarAsync<string>(connection, "SELECT current_database()::text", null, cancellationToken);
        var qDatabase = ReplicationSetup.QuoteIdentifier(database);
        var steps = new List<PrepareStep>();
        var notes = new List<string>();

        // --- the role ---------------------------------------------------------------------------------------
        var roleRow = await QueryRowAsync(connection,
            "SELECT rolcanlogin, rolreplication FROM pg_catalog.pg_roles WHERE rolname = $1", [role], cancellationToken);
        var roleExists = roleRow is not null;
        if (options.PasswordEnvironmentVariable is { } env)
        {
            // The verifier is computed here, as psql's \password does, and both the printed script and --apply set it: the
            // plain password never reaches the server, so it is in no statement log (log_statement=ddl), psql history or output.
            if (password is null)
            {
                throw new InvalidOperationException(PasswordVariableNotSet(env, role));
            }

            var qVerifier = QuoteLiteral(ScramVerifier.Create(password));
            steps.Add(new PrepareStep(
                $"create role {role} (LOGIN REPLICATION, password from ${env})",
                "DO $$\nBEGIN\n" +
                $"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {QuoteLiteral(role)}) THEN\n" +
                $"    CREATE ROLE {qRole} WITH LOGIN REPLICATION PASSWORD {qVerifier};\n" +
                "  END IF;\nEND\n$$;",
                !roleExists,
                Comment: "least privilege: LOGIN REPLICATION, not superuser, owns nothing; the password as its SCRAM-SHA-256 verifier, which PostgreSQL stores as is",
                MayRunIt: ReplicationRoleSuperuser));
            var passwordMatches = roleExists && await PasswordMatchesAsync(connection, role, password, cancellationToken);
            steps.Add(new PrepareStep(
                $"set the password of role {role} from ${env}",
                $"ALTER ROLE {qRole} PASSWORD {qVerifier};",
                roleExists && !passwordMatches,
                NotNeededBecause: !roleExists ? "set by create role" : null,
                // only a superuser reads pg_authid: anyone else cannot tell the password is already this one, so it is set again
                MayRunIt: $"only a superuser (no one else may alter a role with REPLICATION in PostgreSQL 15; when its password is already set, leave out --password-env {env})"));
        }
        else
        {
            steps.Add(new PrepareStep(
                $"create role {role} (LOGIN REPLICATION)",
                "DO $$\nBEGIN\n" +
                $"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {QuoteLiteral(role)}) THEN\n" +
                $"    CREATE ROLE {qRole} WITH LOGIN REPLICATION;\n" +
                "  END IF;\nEND\n$$;",
                !roleExists,
                Comment: $"least privilege: LOGIN REPLICATION, not superuser, owns nothing; give it a password yourself (psql: \\password {role}) or use --password-env VAR",
                MayRunIt: ReplicationRoleSuperuser));
        }

        steps.Add(new PrepareStep(
            $"role {role} may log in and replicate",
            $"ALTER ROLE {qRole} WITH LOGIN REPLICATION;",
            roleExists && !(roleRow![0] is true && roleRow[1] is true),
            NotNeededBecause: roleExists ? null : "set by create role",
            MayRunIt: ReplicationRoleSuperuser));

        // --- grants on the legacy tables (read only) --------------------------------------------------------
        steps.Add(new PrepareStep(
            $"grant CONNECT on database {database}",
            $"GRANT CONNECT ON DATABASE {qDatabase} TO {qRole};",
            !roleExists || !await PrivilegeAsync(connection, "has_database_privilege", role, database, "CONNECT", cancellationToken)));

        var tables = new List<LegacyTable>();
        foreach (var name in options.Tables.Select(ReplicationSetup.NormalizeTableName).Distinct(StringComparer.Ordinal))
        {
            var row = await QueryRowAsync(connection, """
                SELECT c.relreplident,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
                       c.relkind = 'p',
                       c.relpersistence = 'u'
                FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
                """, [ReplicationSetup.SplitTableName(name).Schema, ReplicationSetup.SplitTableName(name).Table], cancellationToken)
                ?? throw new InvalidOperationException(
                    $"table {name} does not exist in database {database} (or is not a table): check --tables / source.postgres.tables (schema.table, as stored)");
            var identity = (char)row[0]!;
            // a partitioned table's rows are in its partitions: PostgreSQL checks (and logs) the partition's replica identity
            IReadOnlyList<ReplicationSetup.PartitionIdentity> partitions = (bool)row[3]! ? await ReplicationSetup.GetPartitionIdentitiesAsync(connection, name, cancellationToken) : [];
            var ownKeyed = identity switch { 'f' => true, 'd' => (bool)row[1]!, 'i' => (bool)row[2]!, _ => false };
            tables.Add(new LegacyTable(name, identity, ownKeyed, (bool)row[3]!, options.ReplicaIdentityFull.Select(ReplicationSetup.NormalizeTableName).Contains(name, StringComparer.Ordinal),
                (bool)row[4]!, partitions));
        }

        foreach (var unknown in options.ReplicaIdentityFull.Select(ReplicationSetup.NormalizeTableName).Where(n => tables.All(t => t.Name != n)))
        {
            throw new InvalidOperationException($"--replica-identity-full names {unknown}, which is not among the captured tables ({string.Join(", ", tables.Select(t => t.Name))})");
        }

        foreach (var schema in tables.Select(t => ReplicationSetup.SplitTableName(t.Name).Schema).Distinct(StringComparer.Ordinal))
        {
            steps.Add(new PrepareStep(
                $"grant USAGE on schema {schema}",
                $"GRANT USAGE ON SCHEMA {ReplicationSetup.QuoteIdentifier(schema)} TO {qRole};",
                !roleExists || !await PrivilegeAsync(connection, "has_schema_privilege", role, schema, "USAGE", cancellationToken)));
        }

        foreach (var table in tables)
        {
            steps.Add(new PrepareStep(
                $"grant SELECT on {table.Name}",
                $"GRANT SELECT ON TABLE {ReplicationSetup.QuoteTable(table.Name)} TO {qRole};",
                !roleExists || !await TablePrivilegeAsync(connection, role, table.Name, "SELECT", cancellationToken),
                Comment: table == tables[0] ? "read only: the initial snapshot SELECTs; no INSERT/UPDATE/DELETE on application tables" : null));
        }

        // --- replica identity: the one change to application tables, only where the user asked ----------------
        var published = new List<string>();
        // planned here, added last: ALTER TABLE … REPLICA IDENTITY takes an ACCESS EXCLUSIVE lock held until COMMIT, so no later step
        // (CREATE PUBLICATION waits for a SHARE UPDATE EXCLUSIVE lock on every table it lists: a VACUUM holds one) queues the
        // application's reads and writes of that table behind it
        var identitySteps = new List<PrepareStep>();
        foreach (var table in tables)
        {
            var quoted = ReplicationSetup.QuoteTable(table.Name);
            if (table.Unlogged)
            {
                // PostgreSQL refuses it in a publication ("cannot add relation … to publication"), which would fail the whole script
                notes.Add($"{table.Name} is UNLOGGED: PostgreSQL writes none of its changes to the WAL, so they cannot be captured, and it refuses to add the table to a publication; " +
                          $"it is NOT added to the publication{(table.WantsFull ? " and its replica identity is left as it is" : "")}. To capture it, ALTER TABLE {quoted} SET LOGGED; " +
                          "(it rewrites the whole table and writes it all to the WAL under an ACCESS EXCLUSIVE lock: a maintenance window), or leave it out of the captured tables.");
            }
            else if (table.WantsFull)
            {
                identitySteps.Add(new PrepareStep(
                    $"REPLICA IDENTITY FULL on {table.Name}",
                    $"ALTER TABLE {quoted} REPLICA IDENTITY FULL;",
                    table.Identity != 'f',
                    Comment: (table.OwnKeyed && table.Identity != 'f'
                        ? "asked for: updates and deletes will carry the whole old row (before image)"
                        : table.OwnKeyed ? "asked for (already FULL)" : "no primary key: without FULL its updates/deletes carry no key, and once published UPDATE/DELETE on it would fail in the application")
                        + "; takes a brief ACCESS EXCLUSIVE lock, rewrites no rows"));
                // ALTER TABLE … REPLICA IDENTITY on a partitioned table does not reach its partitions, whose identity PostgreSQL checks
                foreach (var partition in table.Partitions)
                {
                    identitySteps.Add(new PrepareStep(
                        $"REPLICA IDENTITY FULL on {partition.Name} (partition of {table.Name})",
                        $"ALTER TABLE {ReplicationSetup.QuoteTable(partition.Name)} REPLICA IDENTITY FULL;",
                        partition.Identity != 'f',
                        Comment: partition == table.Partitions[0]
                            ? "the partitioned table's setting does not reach its partitions, and PostgreSQL checks the partition an UPDATE/DELETE touches; " +
                              "a partition attached later needs it too before the application updates it (run db prepare again)"
                            : null));
                }

                published.Add(table.Name);
            }
            else if (table.Keyed)
            {
                published.Add(table.Name);
            }
            else if (table.OwnKeyed)
            {
                var keyless = table.Partitions.Where(p => !p.Keyed).Select(p => p.Name).ToList();
                notes.Add($"{table.Name} is partitioned and its partition{(keyless.Count == 1 ? "" : "s")} {string.Join(", ", keyless)} {(keyless.Count == 1 ? "has" : "have")} no replica identity " +
                          "(ALTER TABLE … REPLICA IDENTITY on the partitioned table does not reach its partitions, and PostgreSQL checks the partition an UPDATE/DELETE touches): " +
                          "it is NOT added to the publication, because PostgreSQL would then reject UPDATE/DELETE on those partitions — the application would break. " +
                          $"Run again with --replica-identity-full {table.Name} (REPLICA IDENTITY FULL on it and on each partition) to capture it.");
            }
            else
            {
                notes.Add($"{table.Name} has no primary key (replica identity {IdentityName(table.Identity)}): it is NOT added to the publication, because " +
                          "PostgreSQL rejects UPDATE/DELETE on a published table without a replica identity — the application would break. " +
                          $"Run again with --replica-identity-full {table.Name} (ALTER TABLE {quoted} REPLICA IDENTITY FULL;) to capture it.");
            }
        }

        // --- our schema: heartbeat and signal tables ---------------------------------------------------------
        var qSchema = ReplicationSetup.QuoteIdentifier(options.Schema);
        var schemaExists = await ExistsAsync(connection, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", [options.Schema], cancellationToken);
        steps.Add(new PrepareStep(
            $"create schema {options.Schema}",
            $"CREATE SCHEMA IF NOT EXISTS {qSchema};",
            !schemaExists,
            Comment: "our own objects live here; nothing of the application's"));
        steps.Add(new PrepareStep(
            $"grant USAGE on schema {options.Schema}",
            $"GRANT USAGE ON SCHEMA {qSchema} TO {qRole};",
            !roleExists || !schemaExists || !await PrivilegeAsync(connection, "has_schema_privilege", role, options.Schema, "USAGE", cancellationToken)));

        foreach (var (table, ddl, privileges, comment) in new[]
                 {
                     (options.HeartbeatTable, "id integer PRIMARY KEY, ts timestamptz NOT NULL DEFAULT now()", new[] { "SELECT", "INSERT", "UPDATE" },
                         "heartbeat: a periodic write here (Debezium heartbeat.action.query) lets the slot advance when only unpublished tables change"),
                     (options.SignalTable, "id text PRIMARY KEY, type text, data text", new[] { "SELECT", "INSERT", "UPDATE", "DELETE" },
                         "signals (Debezium's shape): INSERT a row of type 'execute-snapshot' to re-snapshot a table while streaming"),
                 })
        {
            var exists = await ExistsAsync(connection, "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                [options.Schema, ReplicationSetup.SplitTableName(table).Table], cancellationToken);
            var quoted = ReplicationSetup.QuoteTable(table);
            steps.Add(new PrepareStep($"create table {table}", $"CREATE TABLE IF NOT EXISTS {quoted} ({ddl});", !exists, Comment: comment));
            var granted = roleExists && exists;
            foreach (var privilege in privileges)
            {
                granted = granted && await TablePrivilegeAsync(connection, role, table, privilege, cancellationToken);
            }

            steps.Add(new PrepareStep($"grant {string.Join(", ", privileges)} on {table}", $"GRANT {string.Join(", ", privileges)} ON TABLE {quoted} TO {qRole};", !granted));
            published.Add(table);
        }

        // --- the publication ----------------------------------------------------------------------------------
        var qPub = ReplicationSetup.QuoteIdentifier(options.Publication);
        var pubExists = await ExistsAsync(connection, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1", [options.Publication], cancellationToken);
        var tableList = string.Join(", ", published.Select(ReplicationSetup.QuoteTable));
        steps.Add(new PrepareStep(
            $"create publication {options.Publication} for {string.Join(", ", published)}",
            // PostgreSQL 15 has no CREATE PUBLICATION IF NOT EXISTS.
            "DO $$\nBEGIN\n" +
            $"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = {QuoteLiteral(options.Publication)}) THEN\n" +
            // publish_via_partition_root: a partitioned table's changes come under its own name, not its partitions' (as at the capture's start)
            $"    CREATE PUBLICATION {qPub} FOR TABLE {tableList} WITH (publish_via_partition_root = true);\n" +
            "  END IF;\nEND\n$$;",
            !pubExists,
            Comment: "publishes insert, update, delete, truncate; created by you (the tables' owner), so the pipeline never needs ownership"));
        if (pubExists)
        {
            // An existing publication without publish_via_partition_root lists and sends a partitioned table as its partitions,
            // so the capture (which selects by the table's name) would leave its changes out. It is set only when a published
            // captured table is partitioned: the option changes what every subscriber of the publication receives.
            var partitioned = tables.Where(t => t.Partitioned && published.Contains(t.Name, StringComparer.Ordinal)).Select(t => t.Name).ToList();
            var viaRoot = partitioned.Count > 0
                && await ScalarAsync<bool>(connection, "SELECT pubviaroot FROM pg_catalog.pg_publication WHERE pubname = $1", [options.Publication], cancellationToken);
            // in the publication but listed (and sent) as their partitions
            IReadOnlyList<string> viaPartitions = partitioned.Count == 0 || viaRoot ? [] : await ReplicationSetup.FindPublishedViaPartitionsAsync(connection, options.Publication, partitioned, cancellationToken);
            var current = await PublicationTablesAsync(connection, options.Publication, cancellationToken);
            // compared as listed now: with partitions listed for a partitioned table, SET TABLE names the table itself
            var same = current.Order(StringComparer.Ordinal).SequenceEqual(published.Order(StringComparer.Ordinal), StringComparer.Ordinal);
            // a table published only through its partitions is not missing: the step below makes it listed under its name
            var missing = published.Except(current, StringComparer.Ordinal).Except(viaPartitions, StringComparer.Ordinal).ToList();
            // a partitioned table not in the publication at all (it names only a partition, FOR TABLE m_low): publish_via_partition_root
            // does not add it, so the option is set only for the ones in it, or for all with --sync-publication (which adds them)
            var rooted = options.SyncPublication ? partitioned : partitioned.Except(missing, StringComparer.Ordinal).ToList();
            if (rooted.Count > 0)
            {
                steps.Add(new PrepareStep(
                    $"publication {options.Publication} publishes partitioned {string.Join(", ", rooted)} under {(rooted.Count == 1 ? "its own name" : "their own names")}",
                    ReplicationSetup.PublishViaPartitionRootSql(options.Publication) + ";",
                    !viaRoot,
                    Comment: "publish_via_partition_root: without it PostgreSQL lists and sends a partitioned table's changes under its partitions' names, " +
                             "which the capture leaves out; with it every subscriber of this publication gets them under the table's name, " +
                             "and a TRUNCATE of one partition alone is no longer sent (one of the table is)"));
            }

            if (options.SyncPublication)
            {
                steps.Add(new PrepareStep(
                    $"publication {options.Publication} publishes exactly {string.Join(", ", published)}",
                    $"ALTER PUBLICATION {qPub} SET TABLE {tableList};",
                    !same));
            }
            else if (missing.Count > 0)
            {
                var missingPartitioned = missing.Intersect(partitioned, StringComparer.Ordinal).ToList();
                notes.Add($"publication {options.Publication} exists and does not publish {string.Join(", ", missing)}; it is left as it is. " +
                          (missingPartitioned.Count == 0 ? "" :
                              $"{string.Join(", ", missingPartitioned)} {(missingPartitioned.Count == 1 ? "is a partitioned table" : "are partitioned tables")}: publishing some of " +
                              "its partitions does not publish the table, and publish_via_partition_root alone does not add it; as the publication's owner run " +
                              $"ALTER PUBLICATION {qPub} ADD TABLE {string.Join(", ", missingPartitioned.Select(ReplicationSetup.QuoteTable))};" +
                              (viaRoot ? "" : $" {ReplicationSetup.PublishViaPartitionRootSql(options.Publication)};") + " Or ") +
                          (missingPartitioned.Count == 0 ? "Run" : "run") + " again with --sync-publication to set its tables to exactly the captured ones.");
            }
        }

        steps.AddRange(identitySteps);
        return new PreparePlan(ConnectionTarget.From(connection.ConnectionString), database, role, steps, notes, options.PasswordEnvironmentVariable is not null);
    }

    /// <summary>The printable script: psql-runnable, idempotent, one transaction, no password in it (the role's as its SCRAM-SHA-256 verifier only).</summary>
    public static string Render(PreparePlan plan)
    {
        var sb = new StringBuilder();
        sb.Append("-- CdcPipeline: prepare database ").Append(plan.Database).Append(" for logical capture (generated by cdcpipeline db prepare)\n");
        sb.Append("-- Idempotent: running it again changes nothing. Run it as a superuser: it creates or alters role ").Append(plan.Role).Append(",\n");
        sb.Append("-- which has REPLICATION, and PostgreSQL 15 lets only a superuser do that (once the role is in place,\n");
        sb.Append("-- db prepare --apply runs only the missing steps, and the owner of the tables and the database will do):\n");
        sb.Append("--   psql -v ON_ERROR_STOP=1 -U SUPERUSER -d ").Append(plan.Database).Append(" -f prepare.sql\n");
        sb.Append("-- It creates our role, schema, heartbeat/signal tables and publication, grants read access,\n");
        sb.Append("-- and changes application tables only by REPLICA IDENTITY where asked. No row is touched.\n");
        if (plan.SetsPassword)
        {
            sb.Append("-- The role's password is in it only as its SCRAM-SHA-256 verifier (what PostgreSQL stores in pg_authid), never in\n");
            sb.Append("-- plain text; keep the script as private as pg_authid.\n");
        }

        foreach (var note in plan.Notes)
        {
            sb.Append("--\n-- NOTE: ").Append(note).Append('\n');
        }

        sb.Append("\nBEGIN;\nSET LOCAL lock_timeout = '5s';  -- never queue behind the application for long (ALTER TABLE)\n");
        foreach (var step in plan.Steps)
        {
            sb.Append("\n-- ").Append(step.Title).Append(step.Needed ? "" : $"  ({step.NotNeededBecause ?? "already in place"})").Append('\n');
            if (step.Comment is not null)
            {
                sb.Append("-- ").Append(step.Comment).Append('\n');
            }

            sb.Append(step.Sql).Append('\n');
        }

        sb.Append("\nCOMMIT;\n");
        return sb.ToString();
    }

    /// <summary>
    /// Plans and applies the missing steps in ONE transaction (all or nothing), re-reading the catalog inside it.
    /// A failing step rolls everything back and is reported with its title.
    /// </summary>
    public static async Task<(PreparePlan Plan, PrepareResult Result)> ApplyAsync(NpgsqlConnection connection, PrepareOptions options, string? password, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var timeout = new NpgsqlCommand("SET LOCAL lock_timeout = '5s'", connection, transaction))
        {
            await timeout.ExecuteNonQueryAsync(cancellationToken);
        }

        var plan = await PlanAsync(connection, options, password, cancellationToken);
        var changed = new List<string>();
        var unchanged = new List<string>();
        foreach (var step in plan.Steps)
        {
            if (!step.Needed)
            {
                unchanged.Add(step.Title);
                continue;
            }

            await using var cmd = new NpgsqlCommand(step.Sql, connection, transaction);
            try
            {
                await cmd.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e)
            {
                throw new PrepareFailedException(step.Title, e, connection.UserName, step.MayRunIt);
            }

            changed.Add(step.Title);
        }

        await transaction.CommitAsync(cancellationToken);
        return (plan, new PrepareResult(changed, unchanged));
    }

    private const string ReplicationRoleSuperuser = "only a superuser (no one else may create or alter a role with REPLICATION in PostgreSQL 15)";

    private static string IdentityName(char identity) => identity switch { 'd' => "default", 'f' => "full", 'i' => "index", 'n' => "nothing", _ => identity.ToString() };

    private static async Task<bool> PasswordMatchesAsync(NpgsqlConnection connection, string role, string password, CancellationToken cancellationToken)
    {
        // Only a superuser may read pg_authid; otherwise the password is set again (maybe to the same value).
        // Asked first, because a failed SELECT would abort the --apply transaction.
        if (!await ScalarAsync<bool>(connection, "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT')", null, cancellationToken))
        {
            return false;
        }

        var row = await QueryRowAsync(connection, "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1", [role], cancellationToken);
        return row?[0] is string verifier && ScramVerifier.Matches(verifier, password);
    }

    private static async Task<List<string>> PublicationTablesAsync(NpgsqlConnection connection, string publication, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("SELECT schemaname || '.' || tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1", connection);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = publication });
        var tables = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    /// <summary>
    /// Whether <paramref name="role"/> has <paramref name="privilege"/> on <paramref name="table"/> (<c>schema.table</c>; false when it
    /// does not exist). Asked by the table's oid: naming it would need USAGE on its schema, which the one running db prepare again
    /// (a tables' owner, not superuser) lacks on ours ("permission denied for schema cdc").
    /// </summary>
    private static async Task<bool> TablePrivilegeAsync(NpgsqlConnection connection, string role, string table, string privilege, CancellationToken cancellationToken)
    {
        var (schema, name) = ReplicationSetup.SplitTableName(table);
        return await QueryRowAsync(connection, """
            SELECT pg_catalog.has_table_privilege($1, c.oid, $4)
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $2 AND c.relname = $3
            """, [role, schema, name, privilege], cancellationToken) is [true];
    }

    private static async Task<bool> PrivilegeAsync(NpgsqlConnection connection, string function, string role, string objectName, string privilege, CancellationToken cancellationToken) =>
        await ScalarAsync<bool>(connection, $"SELECT pg_catalog.{function}($1, $2, $3)", [role, objectName, privilege], cancellationToken);

    private static async Task<bool> ExistsAsync(NpgsqlConnection connection, string sql, string[] parameters, CancellationToken cancellationToken) =>
        await QueryRowAsync(connection, sql, parameters, cancellationToken) is not null;

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, string[]? parameters, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters ?? [])
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = p });
        }

        return (T)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<object?[]?> QueryRowAsync(NpgsqlConnection connection, string sql, string[] parameters, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = p });
        }

        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var row = new object?[reader.FieldCount];
        for (var i = 0; i < row.Length; i++)
        {
            row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
        }

        return row;
    }

    private sealed record LegacyTable(string Name, char Identity, bool OwnKeyed, bool Partitioned, bool WantsFull, bool Unlogged, IReadOnlyList<ReplicationSetup.PartitionIdentity> Partitions)
    {
        // its rows are identified on UPDATE/DELETE: by its own replica identity and, partitioned, by each partition's
        public bool Keyed => OwnKeyed && Partitions.All(p => p.Keyed);
    }
}
