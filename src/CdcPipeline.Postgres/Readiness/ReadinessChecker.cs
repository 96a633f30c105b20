using System.Globalization;
using System.Text;
using CdcPipeline.Postgres.Setup;
using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// <c>db check</c>: reads the catalog (never writes) and says whether logical capture can start on this database,
/// and, for every problem, the SQL that fixes it.
/// </summary>
public static class ReadinessChecker
{
    /// <summary>
    /// A row bigger than this (TOAST_TUPLE_THRESHOLD with 8 kB pages) gets its largest varlena values compressed
    /// or moved out of line; only then can an UPDATE that leaves them alone send them as "unchanged TOAST".
    /// </summary>
    private const int ToastTupleThreshold = 2032;

    /// <summary>The pipeline's own slot, inactive, keeping more WAL than this gets a warning (the pipeline is not reading it).</summary>
    private const long InactiveRetainedWarnBytes = 1L << 30;

    /// <summary>Where the Debezium path's table list is set, as findings name it.</summary>
    private const string DebeziumTablesSetting = "source.kafka.debezium";

    /// <summary>PostgreSQL keeps <c>application_name</c> to NAMEDATALEN - 1 bytes.</summary>
    private const int ApplicationNameMaxBytes = 63;

    public static async Task<ReadinessReport> CheckAsync(NpgsqlConnection connection, ReadinessCheckOptions options, CancellationToken cancellationToken)
    {
        var findings = new List<ReadinessFinding>();
        var settings = await ReadSettingsAsync(connection, cancellationToken);
        var role = await ReadRoleAsync(connection, cancellationToken);
        var slots = await SlotInventory.ListAsync(connection, null, cancellationToken);
        var walSenders = await ScalarAsync<long>(connection, "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'", cancellationToken);
        var publication = await ReadPublicationAsync(connection, options.Publication, cancellationToken);

        CheckServer(findings, settings, slots, walSenders, options.Slot);
        var canReplicate = role.Superuser || role.Replication;
        var connect = options.KafkaConnect;
        findings.Add(canReplicate
            ? new(ReadinessStatus.Ok, "role", role.Name, role.Superuser ? "superuser (a dedicated LOGIN REPLICATION role is enough and safer)" : "has REPLICATION")
            : new(ReadinessStatus.Fail, "role", role.Name, "has neither REPLICATION nor superuser: it cannot create or read a replication slot",
                $"ALTER ROLE {ReplicationSetup.QuoteIdentifier(role.Name)} WITH REPLICATION;  -- or run: " + (connect is null ? "cdcpipeline db prepare --role cdc" : "connector-config/postgres-setup.sql")));
        if (options.ConfiguredRole is { Length: > 0 } configured && !string.Equals(configured, role.Name, StringComparison.Ordinal))
        {
            // --connection overrides the configuration's login: what follows is this role's, not the one that will log in
            var consumer = connect is null ? "the pipeline" : "the connector";
            findings.Add(new(ReadinessStatus.Warn, "role", role.Name,
                $"checked as role {role.Name} (--connection), but {consumer} logs in as role {configured} ({options.ConfiguredRoleSetting ?? "the configuration"}): " +
                $"every privilege this report shows is {role.Name}'s, not {configured}'s",
                $"check {configured}'s privileges: run db check as {configured} (--connection with Username={configured}, or --config without --connection)"));
        }

        if (connect is not null && !role.CanLogin)
        {
            // only when checked through --connection as this role by another one's session: Connect logs in as it
            findings.Add(new(ReadinessStatus.Fail, "role", role.Name, "has no LOGIN: Kafka Connect cannot connect as it",
                $"ALTER ROLE {ReplicationSetup.QuoteIdentifier(role.Name)} WITH LOGIN;"));
        }

        var tableNames = options.Tables.Count > 0
            ? options.Tables.Select(ReplicationSetup.NormalizeTableName).Distinct(StringComparer.Ordinal).ToList()
            : publication?.Tables.ToList() ?? [];
        if (connect is not null && options.Tables.Count > 0)
        {
            // the tables Debezium captures for the list: it matches table.include.list in any case
            tableNames = await ResolveAnyCaseAsync(connection, tableNames, cancellationToken);
        }

        // Debezium's own tables: the connector writes heartbeats and reads signals (and incremental-snapshot watermarks)
        // from the change stream, so they are checked (and, when the DBA creates the publication, published) like the captured ones.
        var connectorTables = new Dictionary<string, string>(StringComparer.Ordinal);
        // INSERT … ON CONFLICT (id) DO UPDATE needs SELECT on the conflict column besides INSERT and UPDATE (PostgreSQL refuses it without)
        foreach (var (table, privileges) in new[] { (connect?.HeartbeatTable, "INSERT, UPDATE, SELECT"), (connect?.SignalTable, "INSERT, SELECT, DELETE") })
        {
            if (!string.IsNullOrEmpty(table) && tableNames.Count > 0)
            {
                connectorTables[ReplicationSetup.NormalizeTableName(table)] = privileges;
            }
        }

        tableNames.AddRange(connectorTables.Keys.Where(t => !tableNames.Contains(t)));
        if (tableNames.Count == 0)
        {
            findings.Add(new(ReadinessStatus.Warn, "tables", "-",
                publication is null ? "no tables given and the publication does not exist: nothing to check per table" : "the publication has no tables",
                "name the tables: --tables public.t1,public.t2 (or source.postgres.tables in the config)"));
        }

        // A table in a schema this role has no USAGE on cannot be read (nor named: to_regclass fails on it); its findings say so,
        // and the lookups below that resolve a name leave it out instead of stopping the whole check.
        var schemaDenied = await FindSchemaDeniedAsync(connection, tableNames, cancellationToken);
        var resolvable = tableNames.Where(t => !schemaDenied.Contains(t)).ToList();

        // partitioned tables of a publication without publish_via_partition_root: listed and sent as their partitions, so not captured by name
        var viaPartitions = publication is null ? [] : (await ReplicationSetup.FindPublishedViaPartitionsAsync(connection, options.Publication, resolvable, cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var tables = new List<TableReadiness>();
        foreach (var name in tableNames)
        {
            var table = await ReadTableAsync(connection, name, publication, cancellationToken);
            if (viaPartitions.Contains(name))
            {
                table = table with { Published = false };
            }

            tables.Add(table);
            CheckTable(findings, table, publication, role.Name, connect is null ? "source.postgres.tables / --tables" : DebeziumTablesSetting, connectorTables.ContainsKey(name));
            if (connectorTables.TryGetValue(name, out var privileges) && table.Exists)
            {
                var missing = table.SchemaUsage ? await ReadMissingPrivilegesAsync(connection, name, privileges, cancellationToken) : [.. privileges.Split(", ")];
                var purpose = name == ReplicationSetup.NormalizeTableName(connect!.HeartbeatTable ?? "") ? "the heartbeat action query (INSERT … ON CONFLICT DO UPDATE)" : "signals and incremental-snapshot watermarks";
                findings.Add(missing.Count == 0
                    ? new(ReadinessStatus.Ok, "connector table", name, $"this role has {privileges} for {purpose}")
                    : new(ReadinessStatus.Fail, "connector table", name,
                        $"role {role.Name} lacks {(table.SchemaUsage ? "" : $"USAGE on its schema and ")}{string.Join(", ", missing)}, which {purpose} needs: the connector fails when it writes there",
                        $"{SchemaUsageGrant(table, role.Name)}GRANT {string.Join(", ", missing)} ON {ReplicationSetup.QuoteTable(name)} TO {ReplicationSetup.QuoteIdentifier(role.Name)};  -- or run connector-config/postgres-setup.sql"));
            }
        }

        // run refuses to create a publication that would publish a table without a replica identity: say so before it starts
        var keyless = publication is null && options.CreatePublicationIfMissing && connect is null
            ? await ReplicationSetup.FindTablesPublishingWouldBreakAsync(connection, resolvable, cancellationToken)
            : [];
        var partitioned = await FindPartitionedAsync(connection, resolvable, cancellationToken);
        if (publication is not null && viaPartitions.Count > 0)
        {
            // The partitions a publication without publish_via_partition_root lists for a captured partitioned table are that
            // table's finding (publish_via_partition_root), not tables published beyond the captured ones: the DROP TABLE the
            // latter prints would fail on them (relation "…" is not part of the publication), as they are not named in it.
            var leaves = (await ReplicationSetup.GetPartitionIdentitiesAsync(connection, [.. viaPartitions], cancellationToken)).Values
                .SelectMany(partitions => partitions).Select(p => p.Name).Where(p => !tableNames.Contains(p)).ToHashSet(StringComparer.Ordinal);

            publication = publication with { Tables = [.. publication.Tables.Where(t => !leaves.Contains(t))] };
        }

        CheckPublication(findings, options, publication, tables, viaPartitions, partitioned, keyless, role);
        CheckSlots(findings, options.Slot, connect is not null, options.ApplicationName ?? PgOutputChangeSource.ReplicationApplicationName("", options.Slot), slots, role.Database, canReplicate,
            settings.GetValueOrDefault("max_slot_wal_keep_size", "-1"));

        return new ReadinessReport(ConnectionTarget.From(connection.ConnectionString), settings.GetValueOrDefault("server_version", "?"), role.Name, findings, tables, slots);
    }

    private static void CheckServer(List<ReadinessFinding> findings, Dictionary<string, string> settings, IReadOnlyList<ReplicationSlotStatus> slots, long walSenders, string slotName)
    {
        var walLevel = settings.GetValueOrDefault("wal_level", "?");
        findings.Add(walLevel == "logical"
            ? new(ReadinessStatus.Ok, "wal_level", "server", "logical" + PendingRestart(settings, "wal_level"))
            : new(ReadinessStatus.Fail, "wal_level", "server", $"is '{walLevel}': logical decoding needs 'logical'" + PendingRestart(settings, "wal_level"),
                settings.ContainsKey(PendingKey("wal_level"))
                    ? RestartFix(settings, "wal_level", v => v == "logical", "ALTER SYSTEM SET wal_level = logical;")
                    : "ALTER SYSTEM SET wal_level = logical;  -- then restart PostgreSQL (a reload is not enough)"));

        var maxSlots = int.Parse(settings.GetValueOrDefault("max_replication_slots", "0"), CultureInfo.InvariantCulture);
        var slotExists = slots.Any(s => s.Name == slotName);
        var freeSlots = maxSlots - slots.Count;
        var slotsWhat = string.Create(CultureInfo.InvariantCulture, $"{slots.Count} of {maxSlots} used, {freeSlots} free");
        var slotsPending = PendingRestart(settings, "max_replication_slots");
        bool MoreSlots(string v, int free) => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n - slots.Count >= free;
        var slotsFix = string.Create(CultureInfo.InvariantCulture, $"ALTER SYSTEM SET max_replication_slots = {maxSlots + 4};");
        findings.Add(freeSlots > 0 || slotExists
            ? new(freeSlots > 1 || slotExists ? ReadinessStatus.Ok : ReadinessStatus.Warn, "replication slots", "server",
                slotsWhat + (freeSlots > 1 || slotExists ? "" : ": the last free one; a second consumer will not find a slot") + slotsPending,
                freeSlots > 1 || slotExists ? null : RestartFix(settings, "max_replication_slots", v => MoreSlots(v, 2), slotsFix))
            : new(ReadinessStatus.Fail, "replication slots", "server", slotsWhat + $": slot '{slotName}' cannot be created" + slotsPending,
                RestartFix(settings, "max_replication_slots", v => MoreSlots(v, 1), slotsFix) + "; or drop an abandoned slot: cdcpipeline slot list"));

        var maxSenders = int.Parse(settings.GetValueOrDefault("max_wal_senders", "0"), CultureInfo.InvariantCulture);
        var freeSenders = maxSenders - walSenders;
        var sendersPending = PendingRestart(settings, "max_wal_senders");
        findings.Add(freeSenders > 0
            ? new(ReadinessStatus.Ok, "wal senders", "server", string.Create(CultureInfo.InvariantCulture, $"{walSenders} of {maxSenders} used, {freeSenders} free") + sendersPending)
            : new(ReadinessStatus.Fail, "wal senders", "server",
                string.Create(CultureInfo.InvariantCulture, $"{walSenders} of {maxSenders} used: no replication connection can be opened") + sendersPending,
                RestartFix(settings, "max_wal_senders",
                    v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > walSenders,
                    string.Create(CultureInfo.InvariantCulture, $"ALTER SYSTEM SET max_wal_senders = {maxSenders + 4};"))));

        var keep = settings.GetValueOrDefault("max_slot_wal_keep_size", "-1");
        findings.Add(keep == "-1"
            ? new(ReadinessStatus.Warn, "max_slot_wal_keep_size", "server",
                "unset (-1): a slot whose consumer stops keeps WAL forever and can fill the disk",
                "ALTER SYSTEM SET max_slot_wal_keep_size = '20GB'; SELECT pg_reload_conf();  -- size it to the disk; a slot past it is lost and must be re-snapshotted")
            : new(ReadinessStatus.Ok, "max_slot_wal_keep_size", "server", keep + " MB"));
    }

    private static void CheckTable(List<ReadinessFinding> findings, TableReadiness table, PublicationInfo? publication, string role, string tablesSetting, bool connectorTable)
    {
        var quoted = ReplicationSetup.QuoteTable(table.Name);
        if (!table.Exists)
        {
            findings.Add(new(ReadinessStatus.Fail, "table", table.Name, "does not exist (or is not a table, or this role cannot see it)",
                connectorTable ? "create it: connector-config/postgres-setup.sql does"
                    : tablesSetting == DebeziumTablesSetting ? $"check the name in {tablesSetting} (schema.table; Debezium matches it in any case, as this check does)"
                    : $"check the name in {tablesSetting} (schema.table, lower case as stored)"));
            return;
        }

        // the connector's own tables are not snapshotted: their grants are a finding of their own
        if (!connectorTable)
        {
            findings.Add(table.CanSelect
                ? new(ReadinessStatus.Ok, "select", table.Name, "this role can read it (snapshot)")
                : new(ReadinessStatus.Fail, "select", table.Name,
                    table.SchemaUsage
                        ? $"role {role} cannot SELECT it: the snapshot would fail"
                        : $"role {role} has no USAGE on its schema, so it cannot SELECT it even where granted: the snapshot would fail (permission denied for schema)",
                    $"{SchemaUsageGrant(table, role)}GRANT SELECT ON {quoted} TO {ReplicationSetup.QuoteIdentifier(role)};"));
        }

        if (table.Unlogged)
        {
            findings.Add(new(ReadinessStatus.Fail, "logged", table.Name,
                "UNLOGGED: PostgreSQL writes none of its changes to the WAL, so they can never be captured, and it refuses to add the table to a publication " +
                "(cannot add relation … to publication)",
                $"leave it out of {tablesSetting}; or, to capture it: ALTER TABLE {quoted} SET LOGGED;  -- rewrites the whole table and writes it all to the WAL under an " +
                "ACCESS EXCLUSIVE lock (the application waits): a maintenance window"));
        }

        var identity = $"primary key: {(table.HasPrimaryKey ? "yes" : "no")}, replica identity: {table.ReplicaIdentity}";
        var keylessPartitions = table.PartitionsWithoutKey ?? [];
        if (keylessPartitions.Count > 0 && !table.KeyOnUpdateDelete)
        {
            identity += $"; partition{(keylessPartitions.Count == 1 ? "" : "s")} {string.Join(", ", keylessPartitions)} without a replica identity " +
                        "(ALTER TABLE … REPLICA IDENTITY on the partitioned table does not reach its partitions, and PostgreSQL checks the partition an UPDATE/DELETE touches)";
        }

        if (table.KeyOnUpdateDelete)
        {
            var how = table.ReplicaIdentity switch
            {
                "full" => "updates/deletes carry the whole old row",
                "index" => "updates/deletes carry the replica identity index columns",
                _ => "updates/deletes carry the primary key",
            };
            findings.Add(new(ReadinessStatus.Ok, "key", table.Name, identity + "; " + how));
        }
        else
        {
            // PostgreSQL refuses UPDATE/DELETE on a published table without replica identity, so publishing
            // such a table breaks the legacy application, not just the capture.
            var consequence = table.Published == true && publication is { Update: true } or { Delete: true }
                ? "updates/deletes carry no key, and since it is published, UPDATE/DELETE on it FAIL in the application right now"
                : "updates/deletes would carry no key, and once published, UPDATE/DELETE on it would FAIL in the application";
            // the comment says who runs it: the SQL before it runs as printed
            var owner = table.OwnedByCurrentRole ? "" : $"as its owner {table.Owner}; ";
            var alters = (table.ReplicaIdentity == "full" ? [] : new[] { table.Name }).Concat(keylessPartitions)
                .Select(t => $"ALTER TABLE {ReplicationSetup.QuoteTable(t)} REPLICA IDENTITY FULL;");
            findings.Add(new(ReadinessStatus.Fail, "key", table.Name, identity + "; " + consequence,
                table.IdentityIndexCandidate is { } index
                    // PostgreSQL's own choice for a table with a unique index over NOT NULL columns: only those columns go to the WAL
                    ? $"ALTER TABLE {quoted} REPLICA IDENTITY USING INDEX {ReplicationSetup.QuoteIdentifier(index)};  -- {owner}brief ACCESS EXCLUSIVE lock, no rewrite; " +
                      $"updates/deletes then carry that unique index's columns, less WAL than FULL; if consumers need the whole old row: ALTER TABLE {quoted} REPLICA IDENTITY FULL; " +
                      $"(or cdcpipeline db prepare --replica-identity-full {table.Name})"
                    : $"{string.Join(" ", alters)}  -- {owner}brief ACCESS EXCLUSIVE lock, no rewrite; or: cdcpipeline db prepare --replica-identity-full {table.Name}" +
                      (keylessPartitions.Count > 0 ? "; a partition attached later needs it too" : "")));
        }

        // the connector's own tables carry no data anyone reads as a column value
        if (table.ToastableColumns.Count > 0 && !connectorTable && !table.Unlogged)
        {
            var columns = string.Join(", ", table.ToastableColumns);
            findings.Add(table.ReplicaIdentity == "full"
                ? new(ReadinessStatus.Ok, "toast", table.Name, $"TOAST-able: {columns}; REPLICA IDENTITY FULL sends them in every update")
                : new(ReadinessStatus.Warn, "toast", table.Name,
                    $"TOAST-able: {columns}; an UPDATE that leaves a large value alone sends it as unavailable ({{\"$unavailable\":true}})",
                    $"if consumers need the value: source.postgres.reselectToastTables: [{table.Name}], or ALTER TABLE {quoted} REPLICA IDENTITY FULL;"));
        }
    }

    /// <summary><c>GRANT USAGE ON SCHEMA …;</c> (with a trailing space) when the role lacks it on the table's schema, else nothing.</summary>
    private static string SchemaUsageGrant(TableReadiness table, string role) =>
        table.SchemaUsage ? "" : $"GRANT USAGE ON SCHEMA {ReplicationSetup.QuoteIdentifier(ReplicationSetup.SplitTableName(table.Name).Schema)} TO {ReplicationSetup.QuoteIdentifier(role)}; ";

    private static void CheckPublication(List<ReadinessFinding> findings, ReadinessCheckOptions options, PublicationInfo? publication, List<TableReadiness> tables,
        HashSet<string> viaPartitions, HashSet<string> partitionedTables, IReadOnlyList<string> keyless, RoleInfo role)
    {
        var quotedPub = ReplicationSetup.QuoteIdentifier(options.Publication);
        // an unlogged table cannot be published (its own finding says so): the SQL printed here must run as printed
        var existing = tables.Where(t => t.Exists && !t.Unlogged).Select(t => t.Name).ToList();
        if (publication is null)
        {
            var notOwned = tables.Where(t => t.Exists && !t.OwnedByCurrentRole).Select(t => t.Name).ToList();
            var canCreate = role.Superuser || (role.CreateOnDatabase && notOwned.Count == 0);
            var create = ReplicationSetup.CreatePublicationSql(options.Publication, existing) + ";";
            if (options.KafkaConnect is { } connect)
            {
                // Debezium's publication.autocreate.mode, not the pipeline's createPublicationIfMissing
                findings.Add(connect.PublicationMustExist
                    ? new(ReadinessStatus.Fail, "publication", options.Publication,
                        "does not exist, and the connector does not create it (publicationAutocreateMode: disabled): it fails when it starts",
                        create + "  -- as the tables' owner or a superuser; or run connector-config/postgres-setup.sql")
                    : canCreate
                        ? new(ReadinessStatus.Ok, "publication", options.Publication,
                            $"does not exist; the connector creates it when it starts (publicationAutocreateMode: {connect.PublicationAutocreateMode})")
                        : new(ReadinessStatus.Fail, "publication", options.Publication,
                            $"does not exist, and the connector (publicationAutocreateMode: {connect.PublicationAutocreateMode}) cannot create it as role {role.Name}: " +
                            (role.CreateOnDatabase ? $"it does not own {string.Join(", ", notOwned)}" : $"it lacks CREATE on database {role.Database}"),
                            create + "  -- as the tables' owner or a superuser, and set publicationAutocreateMode: disabled; or run connector-config/postgres-setup.sql"));
                return;
            }

            if (canCreate && options.CreatePublicationIfMissing && keyless.Count > 0)
            {
                // the same words as run's refusal (ReplicationSetup.KeylessPublicationRefusal)
                var tableList = tables.Select(t => t.Name).ToList(); // none: run creates it FOR ALL TABLES
                findings.Add(new(ReadinessStatus.Fail, "publication", options.Publication,
                    ReplicationSetup.KeylessPublicationProblem(options.Publication, tableList, keyless) +
                    "; so run (createPublicationIfMissing: true) will REFUSE to create it and stop, exit 1, creating nothing",
                    ReplicationSetup.KeylessPublicationWaysOn(tableList, keyless)));
            }
            else if (canCreate && options.CreatePublicationIfMissing)
            {
                findings.Add(new(ReadinessStatus.Warn, "publication", options.Publication,
                    "does not exist; the pipeline will create it at start (it is better created by the tables' owner)", create));
            }
            else
            {
                var why = !options.CreatePublicationIfMissing ? "creating it is not allowed (createPublicationIfMissing: false)"
                    : !role.CreateOnDatabase && !role.Superuser ? $"role {role.Name} lacks CREATE on database {role.Database}"
                    : $"role {role.Name} does not own {string.Join(", ", notOwned)} (CREATE PUBLICATION … FOR TABLE needs ownership)";
                findings.Add(new(ReadinessStatus.Fail, "publication", options.Publication, "does not exist and " + why,
                    create + "  -- as the tables' owner or a superuser; or: cdcpipeline db prepare --apply"));
            }

            return;
        }

        var missing = publication.AllTables ? [] : existing.Where(t => !publication.Tables.Contains(t) && !viaPartitions.Contains(t)).ToList();
        if (options.KafkaConnect is { PublicationMustExist: true } && !publication.AllTables)
        {
            // the DBA's publication is the second table list: one that also names other tables makes the slot decode their changes for nothing
            var extra = publication.Tables.Where(t => !tables.Any(c => c.Name == t)).ToList();
            if (extra.Count > 0)
            {
                findings.Add(new(ReadinessStatus.Warn, "publication", options.Publication,
                    $"also publishes {string.Join(", ", extra)}, which the connector does not capture (source.kafka.debezium.tables): the slot decodes their changes for nothing",
                    $"ALTER PUBLICATION {quotedPub} DROP TABLE {string.Join(", ", extra.Select(ReplicationSetup.QuoteTable))};  -- as the publication's owner {publication.Owner}; or keep connector-config/postgres-setup.sql's list equal to the tables and run it again"));
            }
        }

        var partitioned = existing.Where(viaPartitions.Contains).ToList();
        // Debezium (filtered) sets the publication's tables itself at every start: a missing table is its to add, if it may
        var connectorSets = options.KafkaConnect is { SetsPublicationTables: true } && !publication.AllTables;
        if (connectorSets)
        {
            CheckPublicationTheConnectorSets(findings, options, publication, tables, existing, missing, role);
        }
        else if (options.KafkaConnect is { SetsPublicationTables: true })
        {
            // Debezium 2.4+ (DBZ-6577) refuses a FOR ALL TABLES publication in filtered mode before it would run SET TABLE,
            // which PostgreSQL refuses on it anyway: the connector cannot start on this publication as it is
            findings.Add(new(ReadinessStatus.Fail, "publication", options.Publication,
                "exists FOR ALL TABLES, and publicationAutocreateMode: filtered makes the connector narrow it to its tables at every start, which it cannot: " +
                "Debezium stops at once (\"A logical publication for all tables … can not be altered\"), and PostgreSQL refuses ALTER PUBLICATION … SET TABLE on it " +
                $"(publication \"{options.Publication}\" is defined as FOR ALL TABLES), so the connector fails when it starts",
                "set publicationAutocreateMode: all_tables (or disabled), so the connector uses it as it is (every table's changes are decoded for the slot); " +
                $"or, to publish only the captured tables: DROP PUBLICATION {quotedPub};  -- as its owner {publication.Owner}, once no other subscriber uses it; " +
                $"then the connector creates it when it starts, or create it yourself: {ReplicationSetup.CreatePublicationSql(options.Publication, existing)};  -- as the tables' owner or a superuser"));
        }
        else if (missing.Count == 0 && partitioned.Count == 0)
        {
            findings.Add(new(ReadinessStatus.Ok, "publication", options.Publication,
                publication.AllTables ? "exists, FOR ALL TABLES" : $"exists, covers all {existing.Count} tables"));
        }

        if (partitioned.Count > 0)
        {
            findings.Add(new(ReadinessStatus.Fail, "publication", options.Publication,
                $"publishes {string.Join(", ", partitioned)} only through the partitions (publish_via_partition_root is off): their changes arrive under the partitions' names, not captured",
                $"{ReplicationSetup.PublishViaPartitionRootSql(options.Publication)};  -- as the publication's owner {publication.Owner}"));
        }

        if (missing.Count > 0 && !connectorSets)
        {
            // a publication of a partition (FOR TABLE m_low) does not hold the partitioned table; publish_via_partition_root alone does not add it
            var missingPartitioned = missing.Where(partitionedTables.Contains).ToList();
            var rootNeeded = missingPartitioned.Count > 0 && !publication.ViaRoot;
            findings.Add(new(ReadinessStatus.Fail, "publication", options.Publication,
                $"does not publish {string.Join(", ", missing)}" + (missingPartitioned.Count == 0 ? "" :
                    $" ({string.Join(", ", missingPartitioned)} {(missingPartitioned.Count == 1 ? "is a partitioned table" : "are partitioned tables")}: " +
                    "publishing some of its partitions does not publish the table; it must be in the publication itself" +
                    (rootNeeded ? ", with publish_via_partition_root so its changes arrive under its own name)" : ")")),
                $"ALTER PUBLICATION {quotedPub} ADD TABLE {string.Join(", ", missing.Select(ReplicationSetup.QuoteTable))};" +
                (rootNeeded ? $" {ReplicationSetup.PublishViaPartitionRootSql(options.Publication)};" : "") +
                $"  -- as the publication's owner {publication.Owner}; or: " + (options.KafkaConnect is null ? "cdcpipeline db prepare --sync-publication" : "add it to connector-config/postgres-setup.sql's list and run it again")));
        }

        var actions = new List<string>();
        if (publication.Insert) { actions.Add("insert"); }
        if (publication.Update) { actions.Add("update"); }
        if (publication.Delete) { actions.Add("delete"); }
        if (publication.Truncate) { actions.Add("truncate"); }
        var all = $"ALTER PUBLICATION {quotedPub} SET (publish = 'insert, update, delete, truncate');";
        if (!publication.Insert || !publication.Update || !publication.Delete)
        {
            findings.Add(new(ReadinessStatus.Fail, "publish", options.Publication,
                $"publishes only {(actions.Count == 0 ? "nothing" : string.Join(", ", actions))}: some row changes would never be captured", all));
        }
        else
        {
            findings.Add(publication.Truncate
                ? new(ReadinessStatus.Ok, "publish", options.Publication, string.Join(", ", actions))
                : new(ReadinessStatus.Warn, "publish", options.Publication, string.Join(", ", actions) + ": TRUNCATE is not captured", all));
        }
    }

    /// <summary>
    /// <c>publicationAutocreateMode: filtered</c> and the publication exists: Debezium 2.5's PostgresReplicationConnection.initPublication
    /// does not use it as it is but runs <c>ALTER PUBLICATION … SET TABLE</c> with every captured table at each start
    /// (createOrUpdatePublicationModeFiltered; a failure stops the connector: "Unable to update filtered publication …").
    /// PostgreSQL lets only the publication's owner run that, and only when it owns every table in the list too, the ones
    /// already published included ("must be owner of table …"). So a table missing is fine when the connector's role may do
    /// that (the connector adds it), and a complete publication is not when it may not.
    /// </summary>
    private static void CheckPublicationTheConnectorSets(List<ReadinessFinding> findings, ReadinessCheckOptions options, PublicationInfo publication,
        List<TableReadiness> tables, List<string> existing, List<string> missing, RoleInfo role)
    {
        var quotedPub = ReplicationSetup.QuoteIdentifier(options.Publication);
        var set = $"ALTER PUBLICATION {quotedPub} SET TABLE {string.Join(", ", existing.Select(ReplicationSetup.QuoteTable))};";
        var notOwned = tables.Where(t => t.Exists && !t.OwnedByCurrentRole).Select(t => t.Name).ToList();
        var lacking = new List<string>();
        if (!publication.OwnedByCurrentRole)
        {
            lacking.Add($"the publication (its owner is {publication.Owner})");
        }

        if (notOwned.Count > 0)
        {
            lacking.Add(string.Join(", ", notOwned));
        }

        var notPublished = missing.Count == 0 ? "" : $"does not publish {string.Join(", ", missing)}; ";
        if (lacking.Count == 0)
        {
            findings.Add(new(ReadinessStatus.Ok, "publication", options.Publication,
                (missing.Count == 0 ? $"exists, covers all {existing.Count} tables; " : notPublished + $"the connector adds {(missing.Count == 1 ? "it" : "them")} when it starts: ") +
                $"publicationAutocreateMode: filtered runs {set} at every start, and role {role.Name} owns the publication and the tables, as that needs"));
        }
        else
        {
            findings.Add(new(ReadinessStatus.Fail, "publication", options.Publication,
                notPublished + $"publicationAutocreateMode: filtered makes the connector run {set} at every start, which needs ownership of the publication " +
                $"and of every table in it; role {role.Name} does not own {string.Join(" nor ", lacking)}, so the connector fails when it starts (Unable to update filtered publication)",
                (missing.Count == 0 ? "" : $"ALTER PUBLICATION {quotedPub} ADD TABLE {string.Join(", ", missing.Select(ReplicationSetup.QuoteTable))};  -- as the publication's owner {publication.Owner}; then ") +
                "set publicationAutocreateMode: disabled, so the connector uses the publication as it is (or let the connector's role own the publication and the tables)"));
        }

        // SET TABLE also takes out what it does not list: other subscribers of this publication stop receiving those tables
        var extra = publication.Tables.Where(t => !tables.Any(c => c.Name == t)).ToList();
        if (extra.Count > 0 && lacking.Count == 0)
        {
            findings.Add(new(ReadinessStatus.Warn, "publication", options.Publication,
                $"also publishes {string.Join(", ", extra)}, which the connector's ALTER PUBLICATION … SET TABLE takes out when it starts (publicationAutocreateMode: filtered): another subscriber of {options.Publication} stops receiving it",
                "give the connector a publication of its own (source.kafka.debezium.publication), or set publicationAutocreateMode: disabled"));
        }
    }

    private static void CheckSlots(List<ReadinessFinding> findings, string slotName, bool kafkaConnect, string applicationName, IReadOnlyList<ReplicationSlotStatus> slots, string database, bool canReplicate,
        string maxSlotWalKeepSizeMb)
    {
        var ours = slots.FirstOrDefault(s => s.Name == slotName);
        var consumer = kafkaConnect ? "the connector" : "the pipeline";
        if (ours is null)
        {
            findings.Add(canReplicate
                ? new(ReadinessStatus.Ok, "slot", slotName, kafkaConnect
                    ? "does not exist yet; Kafka Connect creates it when the connector starts"
                    : "does not exist yet; the pipeline creates it at start (with an exported snapshot)")
                : new(ReadinessStatus.Fail, "slot", slotName, "does not exist, and this role cannot create it (see role)"));
        }
        else if (ours.SlotType != "logical" || ours.Plugin != "pgoutput" || ours.Database != database)
        {
            findings.Add(new(ReadinessStatus.Fail, "slot", slotName,
                $"exists but is {ours.SlotType} slot with plugin {ours.Plugin ?? "-"} on database {ours.Database ?? "-"}; the capture needs a pgoutput slot on {database}",
                $"choose another slot name, or drop it if abandoned: cdcpipeline slot drop {slotName}"));
        }
        else if (ours.WalStatus == "lost")
        {
            findings.Add(new(ReadinessStatus.Fail, "slot", slotName,
                "wal_status lost: WAL it needed was removed (max_slot_wal_keep_size); capture cannot resume from it",
                kafkaConnect
                    ? $"cdcpipeline slot drop {slotName}  -- then register the connector anew (new name or cleared offsets) with snapshot.mode initial to read the tables again"
                    : $"cdcpipeline slot drop {slotName}  -- then start with snapshot: when_needed to re-read the tables (or delete the pipeline's state file, {slotName}.snapshot.json with its .lock and .lock.owner files, to accept the gap)"));
        }
        else
        {
            var state = $"exists (pgoutput), confirmed {ours.ConfirmedFlushLsn}, lag {ByteSize.Format(ours.LagBytes)}, retains {ByteSize.Format(ours.RetainedBytes)} of WAL, wal_status {ours.WalStatus}";
            var holder = $"pid {ours.ActivePid}, application_name '{ours.ApplicationName}', client {ours.ClientAddress ?? "local socket (or not visible to this role)"}";
            if (ours.WalStatus == "unreserved")
            {
                // The last state before "lost": whether active or not, the next checkpoint removes WAL the slot needs.
                findings.Add(new(ReadinessStatus.Warn, "slot", slotName,
                    state + $"; {(ours.Active ? $"active ({holder})" : "inactive")}: it keeps more WAL than max_slot_wal_keep_size ({maxSlotWalKeepSizeMb} MB) allows, " +
                    $"so the next checkpoint removes WAL it still needs and the slot is lost ({consumer} then stops until it is dropped and the tables read again)",
                    $"start {consumer} now (or fix the sink holding it back) so it confirms what it read, or raise the limit before the next checkpoint: " +
                    "ALTER SYSTEM SET max_slot_wal_keep_size = '<more than the lag>'; SELECT pg_reload_conf();"));
            }
            else if (ours.Active && kafkaConnect)
            {
                // Debezium's application_name is its own: which connector holds the slot, Connect says
                findings.Add(new(ReadinessStatus.Warn, "slot", slotName,
                    state + $"; ACTIVE ({holder}): the connector already streams from it, or another consumer does; only one consumer can read a slot",
                    "cdcpipeline connector status --config … shows whether the connector runs; if it does not, stop the other consumer (cdcpipeline slot list shows it)"));
            }
            else if (ours.Active && IsPipeline(ours.ApplicationName, applicationName))
            {
                // the normal state while the pipeline runs
                findings.Add(new(ReadinessStatus.Ok, "slot", slotName, state + $"; active: the pipeline streams from it ({holder})"));
            }
            else if (ours.Active && ours.ApplicationName is null)
            {
                findings.Add(new(ReadinessStatus.Warn, "slot", slotName,
                    state + $"; ACTIVE, held by pid {ours.ActivePid}, whose application_name this role cannot see: it is the pipeline only if that is '{applicationName}'; " +
                    "only one consumer can read a slot",
                    "run db check as the pipeline's role (or one with pg_read_all_stats) to see who holds it; if it is not the pipeline, stop that consumer (cdcpipeline slot list shows it)"));
            }
            else if (ours.Active)
            {
                findings.Add(new(ReadinessStatus.Warn, "slot", slotName,
                    state + $"; ACTIVE, held by another consumer ({holder}), not the pipeline (application_name '{applicationName}'): " +
                    "only one consumer can read a slot, so the pipeline cannot stream while it holds it",
                    "stop the other consumer first (cdcpipeline slot list shows it)"));
            }
            else if (ours.RetainedBytes > InactiveRetainedWarnBytes)
            {
                findings.Add(new(ReadinessStatus.Warn, "slot", slotName,
                    state + $"; inactive: nothing reads it, and it keeps that WAL until {consumer} runs again or the slot is dropped",
                    $"start {consumer}; if it is retired: cdcpipeline slot drop {slotName}"));
            }
            else
            {
                findings.Add(new(ReadinessStatus.Ok, "slot", slotName, state + "; inactive"));
            }
        }

        foreach (var other in slots.Where(s => s.Name != slotName && s.Database == database))
        {
            var what = $"{other.SlotType} slot, plugin {other.Plugin ?? "-"}, {(other.Active ? $"active (pid {other.ActivePid})" : "inactive")}, "
                + $"lag {ByteSize.Format(other.LagBytes)}, retains {ByteSize.Format(other.RetainedBytes)} of WAL, wal_status {other.WalStatus ?? "-"}";
            findings.Add(other.Active
                ? new(ReadinessStatus.Ok, "other slot", other.Name, what)
                : new(ReadinessStatus.Warn, "other slot", other.Name, what + ": an inactive slot keeps WAL until it is used or dropped",
                    $"if abandoned: SELECT pg_drop_replication_slot('{other.Name.Replace("'", "''", StringComparison.Ordinal)}');  -- or cdcpipeline slot drop {other.Name}"));
        }
    }

    /// <summary>Whether <paramref name="reported"/> (pg_stat_replication, cut to 63 bytes) is the pipeline's <paramref name="applicationName"/>.</summary>
    private static bool IsPipeline(string? reported, string applicationName) =>
        !string.IsNullOrEmpty(reported)
        && (reported == applicationName
            || (Encoding.UTF8.GetByteCount(applicationName) > ApplicationNameMaxBytes && applicationName.StartsWith(reported, StringComparison.Ordinal)));

    /// <summary>
    /// Each of <paramref name="tables"/> (<c>schema.table</c>) as the tables it names when matched in any case, as Debezium
    /// matches <c>table.include.list</c> (<c>PUBLIC.TB_ORD_MST</c> is <c>public.tb_ord_mst</c>, <c>sales.orderlines</c> is
    /// <c>Sales.OrderLines</c>), with their names as stored; one that matches none is kept as given (it does not exist).
    /// </summary>
    private static async Task<List<string>> ResolveAnyCaseAsync(NpgsqlConnection connection, List<string> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return tables;
        }

        await using var cmd = new NpgsqlCommand("""
            SELECT u.n::int, ns.nspname::text || '.' || c.relname::text
            FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS u(s, t, n)
            JOIN pg_catalog.pg_namespace ns ON pg_catalog.lower(ns.nspname) = pg_catalog.lower(u.s)
            JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND pg_catalog.lower(c.relname) = pg_catalog.lower(u.t) AND c.relkind IN ('r', 'p')
            ORDER BY 1, 2
            """, connection);
        var split = tables.Select(ReplicationSetup.SplitTableName).ToList();
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = split.Select(t => t.Schema).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = split.Select(t => t.Table).ToArray() });
        var found = new Dictionary<int, List<string>>();
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var index = reader.GetInt32(0) - 1;
                if (!found.TryGetValue(index, out var names))
                {
                    found[index] = names = [];
                }

                names.Add(reader.GetString(1));
            }
        }

        return tables.SelectMany((t, i) => found.TryGetValue(i, out var names) ? names : [t]).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Of <paramref name="tables"/> (<c>schema.table</c>), those in an existing schema this role has no USAGE on.</summary>
    private static async Task<HashSet<string>> FindSchemaDeniedAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return [];
        }

        await using var cmd = new NpgsqlCommand("""
            SELECT u.n::int FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(s, n)
            JOIN pg_catalog.pg_namespace ns ON ns.nspname = u.s
            WHERE NOT pg_catalog.has_schema_privilege(ns.oid, 'USAGE')
            """, connection);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(t => ReplicationSetup.SplitTableName(t).Schema).ToArray() });
        return (await ReplicationSetup.ListedTablesAsync(cmd, tables, cancellationToken)).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Of <paramref name="tables"/> (<c>schema.table</c>), the partitioned ones.</summary>
    private static async Task<HashSet<string>> FindPartitionedAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return [];
        }

        await using var cmd = new NpgsqlCommand("""
            SELECT n::int FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(t, n)
            JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(u.t)
            WHERE c.relkind = 'p'
            """, connection);
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables.Select(ReplicationSetup.QuoteTable).ToArray() });
        return (await ReplicationSetup.ListedTablesAsync(cmd, tables, cancellationToken)).ToHashSet(StringComparer.Ordinal);
    }

    private static async Task<Dictionary<string, string>> ReadSettingsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        var pending = new List<string>();
        var overridden = new HashSet<string>(StringComparer.Ordinal); // the server's command line wins over the files
        bool canReadFiles;
        await using (var cmd = new NpgsqlCommand(
            "SELECT name, setting, pending_restart, pg_catalog.has_function_privilege('pg_catalog.pg_show_all_file_settings()', 'EXECUTE'), " +
            "source IN ('command line', 'environment variable') " +
            "FROM pg_catalog.pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'max_slot_wal_keep_size', 'server_version')",
            connection))
        {
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            canReadFiles = false;
            while (await reader.ReadAsync(cancellationToken))
            {
                settings[reader.GetString(0)] = reader.GetString(1);
                if (reader.GetBoolean(2))
                {
                    pending.Add(reader.GetString(0));
                }

                canReadFiles = reader.GetBoolean(3);
                if (reader.GetBoolean(4))
                {
                    overridden.Add(reader.GetString(0));
                }
            }
        }

        // A value set with ALTER SYSTEM (or in postgresql.conf) that takes effect only at server start: the configuration
        // files' last entry for the name, when it differs from the running value (pg_file_settings reads the files now, so
        // this holds before a reload too); without the right to read them, pg_settings.pending_restart (after a reload) only.
        if (canReadFiles)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT DISTINCT ON (f.name) f.name, f.setting, f.sourcefile
                FROM pg_catalog.pg_file_settings f
                WHERE f.name IN ('wal_level', 'max_replication_slots', 'max_wal_senders') AND f.setting IS NOT NULL
                ORDER BY f.name, f.seqno DESC
                """, connection);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            var files = new List<(string Name, string Setting, string File)>();
            while (await reader.ReadAsync(cancellationToken))
            {
                files.Add((reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? "the configuration files" : reader.GetString(2)));
            }

            foreach (var (name, setting, file) in files)
            {
                if (!overridden.Contains(name) && !string.Equals(setting, settings.GetValueOrDefault(name), StringComparison.OrdinalIgnoreCase))
                {
                    settings[PendingKey(name)] = setting;
                    settings[PendingFileKey(name)] = file;
                }
            }
        }
        else
        {
            foreach (var name in pending)
            {
                settings[PendingKey(name)] = "";
            }
        }

        return settings;
    }

    private static string PendingKey(string name) => "pending:" + name;

    private static string PendingFileKey(string name) => "pending-file:" + name;

    /// <summary>
    /// What <c>db check</c> adds to a finding on a server setting that waits for a restart: the value and the file it is set in,
    /// or, where this role cannot read pg_file_settings, that one is pending. Empty when none is.
    /// </summary>
    private static string PendingRestart(Dictionary<string, string> settings, string name) =>
        settings.TryGetValue(PendingKey(name), out var value)
            ? value.Length > 0
                ? $"; '{value}' is set in {settings[PendingFileKey(name)]}, waiting for a restart"
                : "; a new value is set, waiting for a restart (pg_settings.pending_restart; this role cannot read pg_file_settings to show it)"
            : "";

    /// <summary>
    /// The fix of a server setting that takes effect only at a restart: when the value <paramref name="fixes"/> accepts is already
    /// set in the files, only the restart (running ALTER SYSTEM again changes nothing); when a new unknown value is pending, the
    /// restart first, then <paramref name="alter"/> if it is still needed.
    /// </summary>
    private static string RestartFix(Dictionary<string, string> settings, string name, Func<string, bool> fixes, string alter)
    {
        if (!settings.TryGetValue(PendingKey(name), out var value))
        {
            return alter + "  -- then restart PostgreSQL";
        }

        return value.Length == 0
            ? $"restart PostgreSQL to apply the pending {name}, then run db check again; if it is still reported: {alter}  -- then restart PostgreSQL"
            : fixes(value)
                ? $"restart PostgreSQL: {name} = '{value}' is already set in {settings[PendingFileKey(name)]}; a reload does not apply it, and ALTER SYSTEM again changes nothing"
                : $"{alter}  -- then restart PostgreSQL ('{value}', set in {settings[PendingFileKey(name)]} and waiting for a restart, is not enough)";
    }

    private static async Task<RoleInfo> ReadRoleAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT current_user::text, r.rolsuper, r.rolreplication, pg_catalog.has_database_privilege(current_database(), 'CREATE'), current_database()::text, r.rolcanlogin " +
            "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new RoleInfo(reader.GetString(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3), reader.GetString(4), reader.GetBoolean(5));
    }

    private static async Task<PublicationInfo?> ReadPublicationAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        PublicationInfo? info;
        await using (var cmd = new NpgsqlCommand(
            "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, pg_catalog.pg_get_userbyid(pubowner)::text, pubviaroot, pg_catalog.pg_has_role(pubowner, 'USAGE') " +
            "FROM pg_catalog.pg_publication WHERE pubname = $1",
            connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            info = new PublicationInfo(reader.GetBoolean(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3), reader.GetBoolean(4), reader.GetString(5), reader.GetBoolean(6), reader.GetBoolean(7), new HashSet<string>(StringComparer.Ordinal));
        }

        await using (var cmd = new NpgsqlCommand("SELECT schemaname || '.' || tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1", connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                info.Tables.Add(reader.GetString(0));
            }
        }

        return info;
    }

    private static async Task<TableReadiness> ReadTableAsync(NpgsqlConnection connection, string name, PublicationInfo? publication, CancellationToken cancellationToken)
    {
        var (schema, table) = ReplicationSetup.SplitTableName(name);
        uint oid;
        string owner;
        bool owns, canSelect, hasPk, hasIdentityIndex, partitioned, unlogged, schemaUsage;
        char identity;
        await using (var cmd = new NpgsqlCommand("""
            SELECT c.oid, pg_catalog.pg_get_userbyid(c.relowner)::text, pg_catalog.pg_has_role(c.relowner, 'USAGE'),
                   pg_catalog.has_table_privilege(c.oid, 'SELECT'), c.relreplident,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                   EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
                   c.relkind = 'p', c.relpersistence = 'u', pg_catalog.has_schema_privilege(n.oid, 'USAGE')
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
            """, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = schema });
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = table });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return new TableReadiness(name, false, null, false, false, false, null, false, [], null);
            }

            oid = reader.GetFieldValue<uint>(0);
            owner = reader.GetString(1);
            owns = reader.GetBoolean(2);
            canSelect = reader.GetBoolean(3);
            identity = reader.GetChar(4);
            hasPk = reader.GetBoolean(5);
            hasIdentityIndex = reader.GetBoolean(6);
            partitioned = reader.GetBoolean(7);
            unlogged = reader.GetBoolean(8);
            schemaUsage = reader.GetBoolean(9);
        }

        // PostgreSQL checks (and logs) the replica identity of the partition a row is in, which the partitioned table's does not set
        // (without USAGE on the schema the partitions cannot be named: the select finding asks for it first)
        var partitionsWithoutKey = partitioned && schemaUsage
            ? (await ReplicationSetup.GetPartitionIdentitiesAsync(connection, name, cancellationToken)).Where(p => !p.Keyed).Select(p => p.Name).ToList()
            : [];

        var toastable = await ReadToastableColumnsAsync(connection, oid, cancellationToken);
        // a table without a key may have a unique index PostgreSQL takes as its replica identity: less WAL than FULL
        var indexCandidate = partitioned || identity is 'f' || (identity is 'd' && hasPk) || (identity is 'i' && hasIdentityIndex)
            ? null
            : await ReadIdentityIndexCandidateAsync(connection, oid, cancellationToken);
        var identityName = identity switch { 'd' => "default", 'f' => "full", 'i' => "index", 'n' => "nothing", _ => identity.ToString() };
        var keyed = identity switch { 'f' => true, 'd' => hasPk, 'i' => hasIdentityIndex, _ => false };
        var published = publication is null ? (bool?)null : publication.AllTables || publication.Tables.Contains(name);
        return new TableReadiness(name, true, owner, owns, canSelect && schemaUsage, hasPk, identityName, keyed && partitionsWithoutKey.Count == 0, toastable, published,
            unlogged, partitionsWithoutKey, indexCandidate, schemaUsage);
    }

    /// <summary>
    /// Varlena columns with storage extended/external. Bounded ones (varchar(n), char(n)) only count when the row could
    /// outgrow the TOAST threshold: a narrow legacy table never sends an unchanged-TOAST marker.
    /// </summary>
    private static async Task<IReadOnlyList<string>> ReadToastableColumnsAsync(NpgsqlConnection connection, uint oid, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT a.attname::text, a.attstorage, a.attlen, a.atttypmod, t.typname::text,
                   pg_catalog.pg_encoding_max_length(pg_catalog.pg_char_to_encoding(pg_catalog.getdatabaseencoding()))
            FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, connection);
        cmd.Parameters.Add(new NpgsqlParameter<uint> { TypedValue = oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        var unbounded = new List<string>();
        var bounded = new List<string>();
        long maxRow = 24; // tuple header
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var column = reader.GetString(0);
            var storage = reader.GetChar(1);
            var length = reader.GetInt16(2);
            var typmod = reader.GetInt32(3);
            var type = reader.GetString(4);
            var maxChar = reader.GetInt32(5);
            if (length > 0)
            {
                maxRow += length;
                continue;
            }

            if (type is "varchar" or "bpchar" && typmod > 4)
            {
                maxRow += 4 + ((long)(typmod - 4) * maxChar);
                if (storage is 'x' or 'e')
                {
                    bounded.Add(column);
                }
            }
            else if (storage is 'x' or 'e')
            {
                unbounded.Add(column);
            }
            else
            {
                maxRow += 64; // numeric and other 'main' varlenas: small, stay inline
            }
        }

        return unbounded.Count > 0 || maxRow > ToastTupleThreshold
            ? [.. unbounded, .. maxRow > ToastTupleThreshold ? bounded : []]
            : [];
    }

    /// <summary>
    /// A unique index of table <paramref name="oid"/> that REPLICA IDENTITY USING INDEX accepts (not partial, not on expressions,
    /// not deferrable, valid, every column NOT NULL): the one with the fewest columns, then by name; null when there is none.
    /// </summary>
    private static async Task<string?> ReadIdentityIndexCandidateAsync(NpgsqlConnection connection, uint oid, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT ic.relname::text
            FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = $1 AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(i.indkey::int2[]) AS k(attnum)
                              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                              WHERE NOT a.attnotnull)
            ORDER BY i.indnkeyatts, 1
            LIMIT 1
            """, connection);
        cmd.Parameters.Add(new NpgsqlParameter<uint> { TypedValue = oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        return await cmd.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>Of <paramref name="privileges"/> (comma-separated), those this role lacks on <paramref name="table"/>.</summary>
    private static async Task<List<string>> ReadMissingPrivilegesAsync(NpgsqlConnection connection, string table, string privileges, CancellationToken cancellationToken)
    {
        var missing = new List<string>();
        foreach (var privilege in privileges.Split(", "))
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_catalog.has_table_privilege($1::regclass, $2)", connection);
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ReplicationSetup.QuoteTable(table) });
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = privilege });
            if (!(bool)(await cmd.ExecuteScalarAsync(cancellationToken))!)
            {
                missing.Add(privilege);
            }
        }

        return missing;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (T)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    private sealed record RoleInfo(string Name, bool Superuser, bool Replication, bool CreateOnDatabase, string Database, bool CanLogin);

    /// <param name="OwnedByCurrentRole">Whether the checking role has the owner's privileges (its owner, a member of it, a superuser): ALTER PUBLICATION needs them.</param>
    private sealed record PublicationInfo(bool AllTables, bool Insert, bool Update, bool Delete, bool Truncate, string Owner, bool ViaRoot, bool OwnedByCurrentRole, HashSet<string> Tables);
}
