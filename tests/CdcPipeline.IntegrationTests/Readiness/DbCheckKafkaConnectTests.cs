using System.Text.Json;
using System.Text.RegularExpressions;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary>
/// <c>db check --config pipeline.kafka.yaml</c>: the database Debezium in Kafka Connect reads, described by the sample's
/// <c>source.kafka.debezium</c> section and set up by connector-config/postgres-setup.sql, checked before the connector
/// is registered.
/// </summary>
public sealed partial class DbCheckKafkaConnectTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    private static readonly string[] ConnectorTables = ["public.debezium_heartbeat", "public.debezium_signal"];

    [Fact]
    public async Task The_samples_kafka_config_is_checked_after_the_setup_script_through_its_debezium_section_and_env_password()
    {
        var (role, password) = await SetUpAsDbaAsync();
        var variable = "CDC_TEST_DBZ_PW_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var config = await WriteSampleConfigAsync(role, $"${{env:{variable}}}");
        Environment.SetEnvironmentVariable(variable, password);
        try
        {
            // before: "no source.postgres section … give --connection instead", exit 2
            var result = await Cli.RunAsync("db", "check", "--config", config, "--json");

            Assert.True(result.Code == 0, result.Stdout + result.Stderr);
            Assert.DoesNotContain(password, result.Stdout + result.Stderr, StringComparison.Ordinal);
            using var json = JsonDocument.Parse(result.Stdout);
            var root = json.RootElement;
            Assert.Equal(Db.Name, root.GetProperty("target").GetProperty("database").GetString());
            Assert.Equal(role, root.GetProperty("target").GetProperty("user").GetString());
            var tables = root.GetProperty("tables").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).Order(StringComparer.Ordinal);
            Assert.Equal(LegacyTables.Concat(ConnectorTables).Order(StringComparer.Ordinal), tables);
            var findings = root.GetProperty("findings").EnumerateArray().ToList();
            var slot = Assert.Single(findings, f => f.GetProperty("check").GetString() == "slot");
            Assert.Equal("ok", slot.GetProperty("status").GetString());
            Assert.Contains("Kafka Connect creates it when the connector starts", slot.GetProperty("what").GetString(), StringComparison.Ordinal);
            Assert.Equal("debezium_legacy_pub", Assert.Single(findings, f => f.GetProperty("check").GetString() == "publication").GetProperty("subject").GetString());
            var connectorTables = findings.Where(f => f.GetProperty("check").GetString() == "connector table").ToList();
            Assert.Equal(ConnectorTables, connectorTables.Select(f => f.GetProperty("subject").GetString()));
            Assert.All(connectorTables, f => Assert.Equal("ok", f.GetProperty("status").GetString()));
            Assert.DoesNotContain(findings, f => f.GetProperty("check").GetString() is "toast" or "select" && ConnectorTables.Contains(f.GetProperty("subject").GetString()));

            var text = await Cli.RunAsync("db", "check", "--config", config);
            Assert.Equal(0, text.Code);
            Assert.Contains("checked for Debezium in Kafka Connect", text.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("the pipeline creates it", text.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
            File.Delete(config);
        }
    }

    [Fact]
    public async Task An_unset_password_variable_exits_2_naming_it_before_connecting_and_db_prepare_points_to_the_DBA_script()
    {
        var variable = "CDC_TEST_DBZ_UNSET_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var config = await WriteSampleConfigAsync("cdc", $"${{env:{variable}}}");
        try
        {
            var result = await Cli.RunAsync("db", "check", "--config", config);

            Assert.Equal(2, result.Code);
            Assert.Contains($"source.kafka.debezium.database.password", result.Stderr, StringComparison.Ordinal);
            Assert.Contains($"{variable} is not set", result.Stderr, StringComparison.Ordinal);

            // db prepare's SQL is the embedded source's (its own schema's heartbeat and signal tables): it points to the DBA script instead
            var prepare = await Cli.RunAsync("db", "prepare", "--config", config);
            Assert.Equal(2, prepare.Code);
            Assert.Contains("connector-config/postgres-setup.sql", prepare.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task With_connection_the_sections_publication_slot_and_connector_tables_are_checked_and_the_gaps_named_with_their_fix()
    {
        var (role, password) = await SetUpAsDbaAsync();
        // the DBA's publication lacks the signal table and names a table the connector does not capture
        await Db.ExecuteAsync("CREATE TABLE public.not_captured (id int PRIMARY KEY); " +
                              "ALTER PUBLICATION debezium_legacy_pub DROP TABLE public.debezium_signal; ALTER PUBLICATION debezium_legacy_pub ADD TABLE public.not_captured; " +
                              $"REVOKE UPDATE ON public.debezium_heartbeat FROM \"{role}\"");
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Db.Slot}', 'pgoutput')");
        var config = await WriteSampleConfigAsync("nobody", "literal-not-used");
        string[] check = ["db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json"];
        try
        {
            var result = await Cli.RunAsync(check);

            Assert.Equal(1, result.Code);
            using var json = JsonDocument.Parse(result.Stdout);
            var findings = json.RootElement.GetProperty("findings").EnumerateArray().ToList();
            var publication = findings.Where(f => f.GetProperty("check").GetString() == "publication").ToList();
            var missing = Assert.Single(publication, f => f.GetProperty("status").GetString() == "fail");
            Assert.StartsWith("does not publish public.debezium_signal", missing.GetProperty("what").GetString(), StringComparison.Ordinal);
            var extra = Assert.Single(publication, f => f.GetProperty("status").GetString() == "warn");
            Assert.StartsWith("also publishes public.not_captured", extra.GetProperty("what").GetString(), StringComparison.Ordinal);
            var heartbeat = Assert.Single(findings, f => f.GetProperty("check").GetString() == "connector table" && f.GetProperty("status").GetString() == "fail");
            Assert.Equal("public.debezium_heartbeat", heartbeat.GetProperty("subject").GetString());
            var slot = Assert.Single(findings, f => f.GetProperty("check").GetString() == "slot");
            Assert.Equal("ok", slot.GetProperty("status").GetString());
            Assert.Matches("lag .*wal_status reserved; inactive$", slot.GetProperty("what").GetString()!);

            // every printed fix is exact: run as the tables' owner, they clear the findings
            foreach (var finding in new[] { missing, extra, heartbeat })
            {
                var action = finding.GetProperty("action").GetString()!;
                await Db.ExecuteAsync(action[..(action.IndexOf(';', StringComparison.Ordinal) + 1)]);
            }

            var again = await Cli.RunAsync(check);
            Assert.True(again.Code == 0, again.Stdout + again.Stderr);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Slot_list_and_lag_read_the_debezium_sections_database_so_the_owner_can_alert_on_the_connectors_slot()
    {
        var (role, password) = await SetUpAsDbaAsync();
        var variable = "CDC_TEST_DBZ_PW_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var config = await WriteSampleConfigAsync(role, $"${{env:{variable}}}");
        Environment.SetEnvironmentVariable(variable, password);
        try
        {
            // the slot Kafka Connect would have made, with WAL written since that it has not confirmed
            await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Db.Slot}', 'pgoutput')");
            await Db.ExecuteAsync("CREATE TABLE public.lag_source (id int PRIMARY KEY); INSERT INTO public.lag_source SELECT g FROM generate_series(1, 1000) g");

            // before: "no source.postgres section … give --connection instead", exit 2
            var list = await Cli.RunAsync("slot", "list", "--config", config);
            Assert.True(list.Code == 0, list.Stdout + list.Stderr);
            Assert.Contains(Db.Slot, list.Stdout, StringComparison.Ordinal);

            var lag = await Cli.RunAsync("slot", "lag", Db.Slot, "--config", config, "--max-lag", "1");
            Assert.True(lag.Code == 1, lag.Stdout + lag.Stderr);
            Assert.Contains("OVER --max-lag", lag.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(password, list.Stdout + list.Stderr + lag.Stdout + lag.Stderr, StringComparison.Ordinal);

            // dropping the connector's slot is not ours to do from its configuration
            var drop = await Cli.RunAsync("slot", "drop", Db.Slot, "--config", config);
            Assert.Equal(2, drop.Code);
            Assert.Contains("no source.postgres section", drop.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
            File.Delete(config);
        }
    }

    /// <summary>
    /// <c>publicationAutocreateMode: filtered</c> with the publication there but a table missing from it was failed as for
    /// <c>disabled</c>. Debezium's PostgresReplicationConnection.initPublication (createOrUpdatePublicationModeFiltered) runs
    /// <c>ALTER PUBLICATION … SET TABLE</c> with the captured tables at every start: the table missing is its to add when its role
    /// owns the publication and every table (what PostgreSQL asks of that statement), and the start fails when it does not,
    /// whether a table is missing or not. The statement the finding names is run as the role to show which way PostgreSQL goes.
    /// </summary>
    [Fact]
    public async Task In_filtered_mode_a_table_missing_from_the_publication_is_the_connectors_to_add_when_its_role_owns_the_publication_and_tables()
    {
        var (role, password) = await SetUpAsDbaAsync();
        await Db.ExecuteAsync("ALTER PUBLICATION debezium_legacy_pub DROP TABLE public.debezium_signal");
        var config = await WriteSampleConfigAsync(role, "literal-not-used", publicationAutocreateMode: "filtered");
        string[] check = ["db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json"];
        try
        {
            // the setup script's role owns neither the publication nor the tables: the connector's SET TABLE fails at its start
            var notOwner = await Cli.RunAsync(check);

            Assert.True(notOwner.Code == 1, notOwner.Stdout + notOwner.Stderr);
            var fail = Assert.Single(PublicationFindings(notOwner.Stdout));
            Assert.Equal("fail", fail.Status);
            Assert.StartsWith("does not publish public.debezium_signal; publicationAutocreateMode: filtered makes the connector run ALTER PUBLICATION \"debezium_legacy_pub\" SET TABLE ", fail.What, StringComparison.Ordinal);
            Assert.Contains($"role {role} does not own the publication (its owner is ", fail.What, StringComparison.Ordinal);
            Assert.Contains("publicationAutocreateMode: disabled", fail.Action, StringComparison.Ordinal);
            var start = fail.What.IndexOf("ALTER PUBLICATION", StringComparison.Ordinal);
            var statement = fail.What[start..(fail.What.IndexOf(';', start) + 1)];
            var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsAsync(role, password, statement));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);

            // the role given the publication and the tables (as Debezium's documentation has it): the connector adds the table itself
            var owned = string.Join("; ", LegacyTables.Concat(ConnectorTables).Select(t => $"ALTER TABLE {t} OWNER TO \"{role}\""));
            await Db.ExecuteAsync($"ALTER PUBLICATION debezium_legacy_pub OWNER TO \"{role}\"; {owned}");
            var owner = await Cli.RunAsync(check);

            Assert.True(owner.Code == 0, owner.Stdout + owner.Stderr);
            var ok = Assert.Single(PublicationFindings(owner.Stdout));
            Assert.Equal("ok", ok.Status);
            Assert.StartsWith("does not publish public.debezium_signal; the connector adds it when it starts: publicationAutocreateMode: filtered runs ALTER PUBLICATION", ok.What, StringComparison.Ordinal);
            Assert.EndsWith($"role {role} owns the publication and the tables, as that needs", ok.What, StringComparison.Ordinal);

            // a table published beyond the connector's (no need to own it): that SET TABLE takes it out, another subscriber loses it
            await Db.ExecuteAsync("CREATE TABLE public.not_captured (id int PRIMARY KEY); ALTER PUBLICATION debezium_legacy_pub ADD TABLE public.not_captured");
            var extra = await Cli.RunAsync(check);
            Assert.True(extra.Code == 0, extra.Stdout + extra.Stderr);
            var warn = Assert.Single(PublicationFindings(extra.Stdout), f => f.Status == "warn");
            Assert.StartsWith("also publishes public.not_captured, which the connector's ALTER PUBLICATION … SET TABLE takes out when it starts", warn.What, StringComparison.Ordinal);

            await ExecuteAsAsync(role, password, statement);
            var published = await Db.ScalarAsync<string>("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'debezium_legacy_pub'");
            Assert.Contains("debezium_signal", published, StringComparison.Ordinal);
            Assert.DoesNotContain("not_captured", published, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>
    /// <c>publicationAutocreateMode: filtered</c> with an existing publication made FOR ALL TABLES was reported ok ("exists, FOR ALL
    /// TABLES"), but the connector cannot start on it: Debezium 2.5 refuses it at once (DBZ-6577: "A logical publication for all
    /// tables … can not be altered"), and the SET TABLE it would otherwise run is refused by PostgreSQL, shown here as a
    /// superuser. The finding fails and names the two ways on; <c>all_tables</c> and <c>disabled</c> use it as it is.
    /// </summary>
    [Fact]
    public async Task In_filtered_mode_a_publication_for_all_tables_fails_since_the_connector_cannot_narrow_it()
    {
        var (role, password) = await SetUpAsDbaAsync();
        await Db.ExecuteAsync("DROP PUBLICATION debezium_legacy_pub; CREATE PUBLICATION debezium_legacy_pub FOR ALL TABLES");
        var config = await WriteSampleConfigAsync(role, "literal-not-used", publicationAutocreateMode: "filtered");
        try
        {
            // before: exit 0, "exists, FOR ALL TABLES"
            var result = await Cli.RunAsync("db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json");

            Assert.True(result.Code == 1, result.Stdout + result.Stderr);
            var fail = Assert.Single(PublicationFindings(result.Stdout), f => f.Status == "fail");
            Assert.StartsWith("exists FOR ALL TABLES, and publicationAutocreateMode: filtered makes the connector narrow it to its tables at every start", fail.What, StringComparison.Ordinal);
            Assert.Contains("can not be altered", fail.What, StringComparison.Ordinal);
            Assert.Contains("is defined as FOR ALL TABLES", fail.What, StringComparison.Ordinal);
            Assert.Contains("set publicationAutocreateMode: all_tables (or disabled)", fail.Action, StringComparison.Ordinal);
            Assert.Contains("DROP PUBLICATION \"debezium_legacy_pub\";", fail.Action, StringComparison.Ordinal);
            Assert.Contains("CREATE PUBLICATION \"debezium_legacy_pub\" FOR TABLE ", fail.Action, StringComparison.Ordinal);

            // what the finding says PostgreSQL answers, even to a superuser (only one may own a FOR ALL TABLES publication)
            var refused = await Assert.ThrowsAsync<PostgresException>(() => Db.ExecuteAsync(
                $"ALTER PUBLICATION debezium_legacy_pub SET TABLE {string.Join(", ", LegacyTables)}"));
            Assert.Equal(PostgresErrorCodes.ObjectNotInPrerequisiteState, refused.SqlState);
            Assert.Contains("is defined as FOR ALL TABLES", refused.MessageText, StringComparison.Ordinal);

            // modes that use an existing publication as it is: fine
            foreach (var mode in new[] { "all_tables", "disabled" })
            {
                var other = await WriteSampleConfigAsync(role, "literal-not-used", publicationAutocreateMode: mode);
                try
                {
                    var asItIs = await Cli.RunAsync("db", "check", "--config", other, "--connection", ConnectionStringAs(role, password), "--json");
                    Assert.True(asItIs.Code == 0, mode + ": " + asItIs.Stdout + asItIs.Stderr);
                    Assert.Equal("exists, FOR ALL TABLES", Assert.Single(PublicationFindings(asItIs.Stdout)).What);
                }
                finally
                {
                    File.Delete(other);
                }
            }
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>
    /// <c>db check --config … --connection</c> as another role than the section's <c>database.user</c> checked the connecting
    /// role's privileges and said nothing of it: it now says whose they are and which role the connector logs in as.
    /// </summary>
    [Fact]
    public async Task With_connection_as_another_role_than_the_sections_user_it_says_whose_privileges_it_checked()
    {
        var (role, password) = await SetUpAsDbaAsync();
        var config = await WriteSampleConfigAsync("dbz_connector_user", "literal-not-used");
        try
        {
            var result = await Cli.RunAsync("db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json");

            Assert.True(result.Code == 0, result.Stdout + result.Stderr);
            using var json = JsonDocument.Parse(result.Stdout);
            var warn = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(),
                f => f.GetProperty("check").GetString() == "role" && f.GetProperty("status").GetString() == "warn");
            Assert.Equal(role, warn.GetProperty("subject").GetString());
            Assert.StartsWith($"checked as role {role} (--connection), but the connector logs in as role dbz_connector_user (source.kafka.debezium.database.user (",
                warn.GetProperty("what").GetString(), StringComparison.Ordinal);
            Assert.EndsWith($"every privilege this report shows is {role}'s, not dbz_connector_user's", warn.GetProperty("what").GetString(), StringComparison.Ordinal);
            Assert.Contains("Username=dbz_connector_user", warn.GetProperty("action").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>
    /// The heartbeat action query is an upsert (INSERT … ON CONFLICT (id) DO UPDATE), and PostgreSQL refuses it to a role without
    /// SELECT on the table. db check asked only for INSERT and UPDATE, so it passed a role whose every heartbeat would fail.
    /// </summary>
    [Fact]
    public async Task A_role_without_SELECT_on_the_heartbeat_table_fails_the_check_as_the_heartbeat_action_query_fails()
    {
        var (role, password) = await SetUpAsDbaAsync();
        await Db.ExecuteAsync($"REVOKE SELECT ON public.debezium_heartbeat FROM \"{role}\"");
        var config = await WriteSampleConfigAsync(role, "literal-not-used");
        string[] check = ["db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json"];
        try
        {
            // what the connector runs every heartbeat.interval.ms, as rendered from the same file
            var (_, connector) = CdcPipeline.Commands.ConnectorCommand.Build(new FileInfo(config), format: null);
            var heartbeatQuery = (string)connector["heartbeat.action.query"]!;
            var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsAsync(role, password, heartbeatQuery));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);

            var result = await Cli.RunAsync(check);

            Assert.True(result.Code == 1, result.Stdout + result.Stderr);
            using (var json = JsonDocument.Parse(result.Stdout))
            {
                var heartbeat = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(),
                    f => f.GetProperty("check").GetString() == "connector table" && f.GetProperty("status").GetString() == "fail");
                Assert.Equal("public.debezium_heartbeat", heartbeat.GetProperty("subject").GetString());
                Assert.StartsWith($"role {role} lacks SELECT, which the heartbeat action query", heartbeat.GetProperty("what").GetString(), StringComparison.Ordinal);
                var action = heartbeat.GetProperty("action").GetString()!;
                await Db.ExecuteAsync(action[..(action.IndexOf(';', StringComparison.Ordinal) + 1)]);
            }

            await ExecuteAsAsync(role, password, heartbeatQuery);
            var again = await Cli.RunAsync(check);
            Assert.True(again.Code == 0, again.Stdout + again.Stderr);
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>
    /// A captured table in a schema of its own (a legacy "Sales" schema, mixed-case names) that the connector's role has no
    /// USAGE on: db check stopped at its first lookup with "db check: permission denied for schema Sales" and no finding at all.
    /// It now fails that table's select finding with the GRANT USAGE and GRANT SELECT to run, and checks the rest.
    /// </summary>
    [Fact]
    public async Task A_captured_table_in_a_schema_the_role_may_not_use_is_a_finding_with_its_grants_not_an_aborted_check()
    {
        var (role, password) = await SetUpAsDbaAsync();
        await Db.ExecuteAsync("CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\".\"OrderLines\" (\"Id\" int PRIMARY KEY, \"Qty\" int); " +
                              "ALTER PUBLICATION debezium_legacy_pub ADD TABLE \"Sales\".\"OrderLines\"");
        var config = await WriteSampleConfigAsync(role, "literal-not-used", extraTable: "Sales.OrderLines");
        string[] check = ["db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json"];
        try
        {
            var result = await Cli.RunAsync(check);

            Assert.True(result.Code == 1, result.Stdout + result.Stderr);
            Assert.DoesNotContain("permission denied", result.Stderr, StringComparison.Ordinal);
            using (var json = JsonDocument.Parse(result.Stdout))
            {
                var findings = json.RootElement.GetProperty("findings").EnumerateArray().ToList();
                var failed = Assert.Single(findings, f => f.GetProperty("status").GetString() == "fail");
                Assert.Equal("select", failed.GetProperty("check").GetString());
                Assert.Equal("Sales.OrderLines", failed.GetProperty("subject").GetString());
                Assert.Contains("no USAGE on its schema", failed.GetProperty("what").GetString(), StringComparison.Ordinal);
                var action = failed.GetProperty("action").GetString()!;
                Assert.Equal($"GRANT USAGE ON SCHEMA \"Sales\" TO \"{role}\"; GRANT SELECT ON \"Sales\".\"OrderLines\" TO \"{role}\";", action);
                // the rest was checked: the legacy tables, the key of the new one, the publication
                Assert.Contains(findings, f => f.GetProperty("check").GetString() == "key" && f.GetProperty("subject").GetString() == "Sales.OrderLines");
                Assert.Equal("ok", Assert.Single(findings, f => f.GetProperty("check").GetString() == "publication").GetProperty("status").GetString());
                await Db.ExecuteAsync(action);
            }

            var again = await Cli.RunAsync(check);
            Assert.True(again.Code == 0, again.Stdout + again.Stderr);
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>
    /// A captured partitioned table the DBA added to the publication, which lacks publish_via_partition_root: besides that
    /// failure, db check warned that the publication "also publishes" the table's partition, with an ALTER PUBLICATION … DROP
    /// TABLE of the partition that PostgreSQL refuses (the partition is not named in the publication, its parent is).
    /// </summary>
    [Fact]
    public async Task A_captured_partitioned_table_published_through_its_partitions_is_one_failure_whose_fix_runs_not_a_warning_about_the_partitions()
    {
        var (role, password) = await SetUpAsDbaAsync();
        await Db.ExecuteAsync("CREATE TABLE public.tb_evt_log (id bigint, log_dt date NOT NULL, msg text) PARTITION BY RANGE (log_dt); " +
                              "CREATE TABLE public.tb_evt_log_2024 PARTITION OF public.tb_evt_log FOR VALUES FROM ('2024-01-01') TO ('2025-01-01'); " +
                              "ALTER TABLE public.tb_evt_log REPLICA IDENTITY FULL; ALTER TABLE public.tb_evt_log_2024 REPLICA IDENTITY FULL; " +
                              $"GRANT SELECT ON public.tb_evt_log TO \"{role}\"; ALTER PUBLICATION debezium_legacy_pub ADD TABLE public.tb_evt_log; " +
                              // as an earlier postgres-setup.sql (or a DBA by hand) created it
                              "ALTER PUBLICATION debezium_legacy_pub SET (publish_via_partition_root = false)");
        var config = await WriteSampleConfigAsync(role, "literal-not-used", extraTable: "public.tb_evt_log");
        string[] check = ["db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json"];
        try
        {
            var result = await Cli.RunAsync(check);

            Assert.True(result.Code == 1, result.Stdout + result.Stderr);
            var publication = PublicationFindings(result.Stdout);
            var fail = Assert.Single(publication, f => f.Status == "fail");
            Assert.StartsWith("publishes public.tb_evt_log only through the partitions", fail.What, StringComparison.Ordinal);
            Assert.DoesNotContain(publication, f => f.What.Contains("tb_evt_log_2024", StringComparison.Ordinal));
            await Db.ExecuteAsync(fail.Action[..(fail.Action.IndexOf(';', StringComparison.Ordinal) + 1)]);

            var again = await Cli.RunAsync(check);
            Assert.True(again.Code == 0, again.Stdout + again.Stderr);
            Assert.Equal("ok", Assert.Single(PublicationFindings(again.Stdout)).Status);
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>
    /// Debezium matches table.include.list in any case (connector-config/README.md): PUBLIC.TB_CUST_MST captures
    /// public.tb_cust_mst, sales.orderlines captures "Sales"."OrderLines". db check looked the names up exactly and failed
    /// both as "does not exist", advising "lower case as stored", which is wrong for "Sales"."OrderLines".
    /// </summary>
    [Fact]
    public async Task Table_names_are_matched_in_any_case_as_Debezium_matches_the_include_list()
    {
        var (role, password) = await SetUpAsDbaAsync();
        await Db.ExecuteAsync("CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\".\"OrderLines\" (\"Id\" int PRIMARY KEY, \"Qty\" int); " +
                              $"ALTER PUBLICATION debezium_legacy_pub ADD TABLE \"Sales\".\"OrderLines\"; GRANT USAGE ON SCHEMA \"Sales\" TO \"{role}\"; GRANT SELECT ON \"Sales\".\"OrderLines\" TO \"{role}\"");
        var config = await WriteSampleConfigAsync(role, "literal-not-used", extraTable: "sales.orderlines");
        var yaml = await File.ReadAllTextAsync(config, Ct);
        Assert.Contains("[public.tb_cust_mst,", yaml, StringComparison.Ordinal);
        await File.WriteAllTextAsync(config, yaml.Replace("[public.tb_cust_mst,", "[PUBLIC.TB_CUST_MST,", StringComparison.Ordinal), Ct);
        try
        {
            var result = await Cli.RunAsync("db", "check", "--config", config, "--connection", ConnectionStringAs(role, password), "--json");

            Assert.True(result.Code == 0, result.Stdout + result.Stderr);
            using var json = JsonDocument.Parse(result.Stdout);
            var tables = json.RootElement.GetProperty("tables").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
            Assert.Contains("public.tb_cust_mst", tables);
            Assert.Contains("Sales.OrderLines", tables);

            // what the rendered connector captures, matching its include list as Debezium does (in any case, whole)
            var (_, connector) = CdcPipeline.Commands.ConnectorCommand.Build(new FileInfo(config), format: null);
            var include = ((string)connector["table.include.list"]!).Split(',');
            Assert.All(tables.Where(t => !ConnectorTables.Contains(t)), t =>
                Assert.Contains(include, p => Regex.IsMatch(t, "^(?:" + p + ")$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)));
        }
        finally
        {
            File.Delete(config);
        }
    }

    private static List<(string Status, string What, string Action)> PublicationFindings(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("findings").EnumerateArray()
            .Where(f => f.GetProperty("check").GetString() == "publication")
            .Select(f => (f.GetProperty("status").GetString()!, f.GetProperty("what").GetString()!,
                f.TryGetProperty("action", out var action) && action.ValueKind == JsonValueKind.String ? action.GetString()! : ""))
            .ToList();
    }

    private async Task ExecuteAsAsync(string role, string password, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionStringAs(role, password));
        await connection.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(Ct);
    }

    /// <summary>Runs connector-config/postgres-setup.sql for a role of this test's own (the script's 'cdc' is shared by the suite).</summary>
    private async Task<(string Role, string Password)> SetUpAsDbaAsync()
    {
        var role = NewRoleName("dbz");
        var password = "pw-" + Guid.NewGuid().ToString("N")[..12];
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" WITH LOGIN REPLICATION PASSWORD '{password}'");
        var script = await File.ReadAllTextAsync(Path.Combine(PostgresFixture.RepoRoot, "connector-config", "postgres-setup.sql"), Ct);
        Assert.Contains("ON DATABASE legacy ", script, StringComparison.Ordinal);
        await Db.ExecuteAsync(GranteeCdc().Replace(script.Replace("ON DATABASE legacy ", $"ON DATABASE \"{Db.Name}\" ", StringComparison.Ordinal), $"TO \"{role}\""));
        return (role, password);
    }

    /// <summary>The sample's pipeline.kafka.yaml with its database, user and password aimed at this test's database, and a slot of its own.</summary>
    private async Task<string> WriteSampleConfigAsync(string user, string password, string publicationAutocreateMode = "disabled", string? extraTable = null)
    {
        var sample = await File.ReadAllTextAsync(Path.Combine(PostgresFixture.RepoRoot, "samples", "legacy-orders", "pipeline.kafka.yaml"), Ct);
        Assert.Contains("publicationAutocreateMode: disabled", sample, StringComparison.Ordinal);
        if (extraTable is not null)
        {
            Assert.Contains("public.tb_aud_log]", sample, StringComparison.Ordinal);
            sample = sample.Replace("public.tb_aud_log]", $"public.tb_aud_log, {extraTable}]", StringComparison.Ordinal);
        }

        sample = sample.Replace("publicationAutocreateMode: disabled", $"publicationAutocreateMode: {publicationAutocreateMode}", StringComparison.Ordinal);
        var server = new NpgsqlConnectionStringBuilder(Db.ConnectionString);
        var database = $"database: {{ hostname: {server.Host}, port: {server.Port}, user: {user}, password: \"{password}\", dbname: {Db.Name} }}";
        var yaml = DatabaseLine().Replace(sample, database, 1);
        yaml = SlotLine().Replace(yaml, $"slot: {Db.Slot}", 1);
        Assert.Contains(database, yaml, StringComparison.Ordinal);
        Assert.Contains($"slot: {Db.Slot}", yaml, StringComparison.Ordinal);
        var path = Path.Combine(Path.GetTempPath(), $"cdc-check-dbz-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(path, yaml, Ct);
        return path;
    }

    [GeneratedRegex(@"database: \{.*\}")]
    private static partial Regex DatabaseLine();

    [GeneratedRegex(@"(?<=\n\s*)slot: \S+")]
    private static partial Regex SlotLine();

    // GRANT … TO cdc; and, in the script's DO blocks, format('GRANT … TO cdc', …)
    [GeneratedRegex(@"TO cdc(?=[;'])")]
    private static partial Regex GranteeCdc();
}
