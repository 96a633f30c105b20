using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary><c>db check</c> against a real server: ready, missing replica identity, missing REPLICATION, unreachable.</summary>
public sealed class DbCheckTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    [Fact]
    public async Task A_ready_database_passes_with_exit_0_and_the_json_says_ready()
    {
        await Db.ExecuteAsync("ALTER TABLE tb_aud_log REPLICA IDENTITY FULL");
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_cust_mst, tb_ord_mst, tb_ord_dtl, tb_aud_log");
        var config = Path.Combine(Path.GetTempPath(), $"cdc-check-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: check-test
            source:
              postgres:
                connectionString: "{Db.ConnectionString}"
                publication: {Db.Publication}
                slot: {Db.Slot}
                tables: [{TableList.Replace(",", ", ", StringComparison.Ordinal)}]
            """, Ct);
        try
        {
            var result = await Cli.RunAsync("db", "check", "--config", config, "--json");

            Assert.Equal(0, result.Code);
            using var json = JsonDocument.Parse(result.Stdout);
            var root = json.RootElement;
            Assert.True(root.GetProperty("ready").GetBoolean());
            Assert.Equal(0, root.GetProperty("summary").GetProperty("fail").GetInt32());
            Assert.Equal(Db.Name, root.GetProperty("target").GetProperty("database").GetString());
            var tables = root.GetProperty("tables").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
            Assert.Equal(LegacyTables.Order(), tables.Keys.Order());
            Assert.All(tables.Values, t => Assert.True(t.GetProperty("keyOnUpdateDelete").GetBoolean()));
            Assert.All(tables.Values, t => Assert.True(t.GetProperty("published").GetBoolean()));
            Assert.Equal("full", tables["public.tb_aud_log"].GetProperty("replicaIdentity").GetString());
            Assert.False(tables["public.tb_aud_log"].GetProperty("primaryKey").GetBoolean());
            Assert.Equal(["ord_memo"], tables["public.tb_ord_mst"].GetProperty("toastableColumns").EnumerateArray().Select(c => c.GetString()));
            Assert.Empty(tables["public.tb_cust_mst"].GetProperty("toastableColumns").EnumerateArray()); // bounded columns, a narrow row
            var findings = root.GetProperty("findings").EnumerateArray().ToList();
            Assert.Contains(findings, f => f.GetProperty("check").GetString() == "wal_level" && f.GetProperty("status").GetString() == "ok");
            Assert.Contains(findings, f => f.GetProperty("check").GetString() == "publication" && f.GetProperty("status").GetString() == "ok");
            Assert.DoesNotContain("Password", result.Stdout, StringComparison.OrdinalIgnoreCase);
            var keep = Assert.Single(findings, f => f.GetProperty("check").GetString() == "max_slot_wal_keep_size");
            if (await Db.ScalarAsync<string>("SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size'") == "-1")
            {
                // a warning, not a failure: the database is ready, but an abandoned slot could fill the disk
                Assert.Equal("warn", keep.GetProperty("status").GetString());
                Assert.StartsWith("ALTER SYSTEM SET max_slot_wal_keep_size = ", keep.GetProperty("action").GetString(), StringComparison.Ordinal);
            }

            var text = await Cli.RunAsync("db", "check", "--config", config);
            Assert.Equal(0, text.Code);
            Assert.Contains("READY: 0 failed", text.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task A_table_without_key_or_full_identity_fails_with_the_exact_sql_that_fixes_it()
    {
        var result = await Cli.RunAsync("db", "check", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication, "--slot", Db.Slot, "--json");

        Assert.Equal(1, result.Code);
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.False(json.RootElement.GetProperty("ready").GetBoolean());
        var finding = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("status").GetString() == "fail" && f.GetProperty("check").GetString() == "key");
        Assert.Equal("public.tb_aud_log", finding.GetProperty("subject").GetString());
        var action = finding.GetProperty("action").GetString()!;
        Assert.StartsWith("ALTER TABLE \"public\".\"tb_aud_log\" REPLICA IDENTITY FULL;", action, StringComparison.Ordinal);

        // the printed SQL is exact: running it fixes the finding
        await Db.ExecuteAsync(action[..(action.IndexOf(';', StringComparison.Ordinal) + 1)]);
        var again = await Cli.RunAsync("db", "check", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication, "--slot", Db.Slot, "--json");
        using var json2 = JsonDocument.Parse(again.Stdout);
        Assert.DoesNotContain(json2.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key" && f.GetProperty("status").GetString() == "fail");
    }

    [Fact]
    public async Task A_partitioned_table_published_only_through_its_partitions_fails_with_the_publish_via_partition_root_fix()
    {
        // PostgreSQL lists (and pgoutput sends) the partitions instead of the table unless publish_via_partition_root is set
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100); " +
                              $"CREATE PUBLICATION {Db.Publication} FOR TABLE m");
        string[] args = ["db", "check", "--connection", Db.ConnectionString, "--tables", "public.m", "--publication", Db.Publication, "--slot", Db.Slot, "--json"];

        var result = await Cli.RunAsync(args);

        using var json = JsonDocument.Parse(result.Stdout);
        var publication = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "publication");
        // before the fix: "does not publish public.m" with an ALTER PUBLICATION ... ADD TABLE that PostgreSQL refuses (already a member)
        Assert.Equal("fail", publication.GetProperty("status").GetString());
        var action = publication.GetProperty("action").GetString()!;
        Assert.StartsWith($"ALTER PUBLICATION \"{Db.Publication}\" SET (publish_via_partition_root = true);", action, StringComparison.Ordinal);
        Assert.False(Assert.Single(json.RootElement.GetProperty("tables").EnumerateArray()).GetProperty("published").GetBoolean());

        await Db.ExecuteAsync(action[..(action.IndexOf(';', StringComparison.Ordinal) + 1)]);
        var again = await Cli.RunAsync(args);
        using var json2 = JsonDocument.Parse(again.Stdout);
        Assert.Equal("ok", Assert.Single(json2.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "publication").GetProperty("status").GetString());
        Assert.True(Assert.Single(json2.RootElement.GetProperty("tables").EnumerateArray()).GetProperty("published").GetBoolean());
    }

    [Fact]
    public async Task A_partitioned_table_full_only_on_the_parent_fails_naming_its_partitions_and_the_printed_fix_keeps_the_application_working()
    {
        // ALTER TABLE … REPLICA IDENTITY does not recurse, and PostgreSQL checks the partition an UPDATE touches
        await Db.ExecuteAsync("CREATE TABLE m (id int, taken date NOT NULL) PARTITION BY RANGE (taken); " +
                              "CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); " +
                              "CREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); " +
                              "ALTER TABLE m REPLICA IDENTITY FULL; INSERT INTO m VALUES (1, '2025-03-01'), (2, '2026-03-01')");
        string[] args = ["db", "check", "--connection", Db.ConnectionString, "--tables", "public.m", "--publication", Db.Publication, "--slot", Db.Slot, "--json"];

        var result = await Cli.RunAsync(args);

        using var json = JsonDocument.Parse(result.Stdout);
        // before the fix: ok, "replica identity: full"
        var key = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key");
        Assert.Equal("fail", key.GetProperty("status").GetString());
        Assert.Contains("public.m_2025, public.m_2026", key.GetProperty("what").GetString(), StringComparison.Ordinal);
        var action = key.GetProperty("action").GetString()!;
        Assert.False(Assert.Single(json.RootElement.GetProperty("tables").EnumerateArray()).GetProperty("keyOnUpdateDelete").GetBoolean());

        // the printed SQL, as printed, then the publication: the application's UPDATE and DELETE still work
        await Db.ExecuteAsync(action);
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE m WITH (publish_via_partition_root = true)");
        await Db.ExecuteAsync("UPDATE m SET id = id + 1; DELETE FROM m WHERE id = 2");
        var again = await Cli.RunAsync(args);
        using var json2 = JsonDocument.Parse(again.Stdout);
        Assert.Equal("ok", Assert.Single(json2.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key").GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_unlogged_table_fails_and_the_printed_create_publication_leaves_it_out_so_it_runs_as_printed()
    {
        await Db.ExecuteAsync("CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, data text)");
        string[] args = ["db", "check", "--connection", Db.ConnectionString, "--tables", "public.sessions,public.tb_ord_mst", "--publication", Db.Publication, "--slot", Db.Slot, "--json"];

        var result = await Cli.RunAsync(args);

        Assert.Equal(1, result.Code);
        using var json = JsonDocument.Parse(result.Stdout);
        var findings = json.RootElement.GetProperty("findings").EnumerateArray().ToList();
        // before the fix: every finding of public.sessions was ok
        var unlogged = Assert.Single(findings, f => f.GetProperty("subject").GetString() == "public.sessions" && f.GetProperty("status").GetString() == "fail");
        Assert.Contains("UNLOGGED", unlogged.GetProperty("what").GetString(), StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"sessions\" SET LOGGED;", unlogged.GetProperty("action").GetString(), StringComparison.Ordinal);
        var create = Assert.Single(findings, f => f.GetProperty("check").GetString() == "publication").GetProperty("action").GetString()!;
        Assert.DoesNotContain("sessions", create[..(create.IndexOf(';', StringComparison.Ordinal) + 1)], StringComparison.Ordinal);
        // before the fix: cannot add relation "sessions" to publication
        await Db.ExecuteAsync(create[..(create.IndexOf(';', StringComparison.Ordinal) + 1)]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("orders-cdc")]
    public async Task The_pipelines_own_active_slot_is_ok_naming_its_holder_and_another_holder_is_a_warning(string? applicationName)
    {
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_ord_mst");
        var connection = applicationName is null
            ? Db.ConnectionString
            : new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = applicationName }.ConnectionString;
        var config = Path.Combine(Path.GetTempPath(), $"cdc-check-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: check-holder
            source:
              postgres:
                connectionString: "{connection}"
                publication: {Db.Publication}
                slot: {Db.Slot}
                tables: [public.tb_ord_mst]
            """, Ct);
        var state = Path.Combine(Path.GetTempPath(), "cdc-state-" + Guid.NewGuid().ToString("N")[..8]);
        string[] check = ["db", "check", "--config", config, "--json"];
        try
        {
            // the pipeline itself streams from its slot: the normal state
            await using (var reader = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
            {
                ConnectionString = connection,
                Publication = Db.Publication,
                Slot = Db.Slot,
                Tables = ["public.tb_ord_mst"],
                Snapshot = SnapshotMode.Initial,
                StateDirectory = state,
                HeartbeatInterval = TimeSpan.Zero,
            }), Ct))
            {
                await reader.TakeAsync(2, e => e.Operation == ChangeOperation.Read);
                await WaitUntilSlotActiveAsync(() => reader.NextAsync(TimeSpan.FromMilliseconds(50)));

                var ours = SlotFinding(await Cli.RunAsync(check));
                // before the fix: "warn", "ACTIVE: in use by pid …: only one consumer can read a slot"
                Assert.Equal("ok", ours.GetProperty("status").GetString());
                var pid = await Db.ScalarAsync<int>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'");
                var what = ours.GetProperty("what").GetString()!;
                Assert.Contains($"pid {pid}", what, StringComparison.Ordinal);
                Assert.Contains($"application_name '{applicationName ?? "cdcpipeline-" + Db.Slot}'", what, StringComparison.Ordinal);
            }

            // something else holds the pipeline's slot: the pipeline could not start
            await using var stranger = new LogicalReplicationConnection(
                new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = "other-consumer" }.ConnectionString);
            await stranger.Open(Ct);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var reading = Task.Run(async () =>
            {
                try
                {
                    await foreach (var _ in stranger.StartReplication(new PgOutputReplicationSlot(Db.Slot), new PgOutputReplicationOptions(Db.Publication, PgOutputProtocolVersion.V1), stop.Token))
                    {
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }, CancellationToken.None);
            await WaitUntilSlotActiveAsync(() => Task.Delay(20, Ct));

            var theirs = SlotFinding(await Cli.RunAsync(check));
            Assert.Equal("warn", theirs.GetProperty("status").GetString());
            Assert.Contains("application_name 'other-consumer'", theirs.GetProperty("what").GetString()!, StringComparison.Ordinal);
            Assert.Contains("stop the other consumer", theirs.GetProperty("action").GetString()!, StringComparison.Ordinal);
            await stop.CancelAsync();
            await reading;
        }
        finally
        {
            File.Delete(config);
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }

    private async Task WaitUntilSlotActiveAsync(Func<Task> meanwhile)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await Db.ScalarAsync<bool>($"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'), false)"))
        {
            Assert.True(DateTime.UtcNow < deadline, "nothing took the slot in time");
            await meanwhile();
        }
    }

    private static JsonElement SlotFinding(CliResult result)
    {
        using var json = JsonDocument.Parse(result.Stdout);
        return Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "slot").Clone();
    }

    [Fact]
    public async Task A_missing_publication_over_a_keyless_table_fails_with_the_refusal_run_would_give()
    {
        var result = await Cli.RunAsync("db", "check", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication, "--slot", Db.Slot, "--json");

        Assert.Equal(1, result.Code);
        using var json = JsonDocument.Parse(result.Stdout);
        var publication = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "publication");
        // before the fix: "warn", "does not exist; the pipeline will create it at start"
        Assert.Equal("fail", publication.GetProperty("status").GetString());
        var what = publication.GetProperty("what").GetString()!;
        Assert.Contains("public.tb_aud_log", what, StringComparison.Ordinal);
        Assert.Contains("refuse", what, StringComparison.Ordinal);
        var action = publication.GetProperty("action").GetString()!;
        Assert.Contains("ALTER TABLE \"public\".\"tb_aud_log\" REPLICA IDENTITY FULL;", action, StringComparison.Ordinal);
        Assert.Contains("source.postgres.tables", action, StringComparison.Ordinal);
        Assert.Contains("db prepare", action, StringComparison.Ordinal);

        // what run says when it refuses, word for word
        await using var reader = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
        {
            ConnectionString = Db.ConnectionString,
            Publication = Db.Publication,
            Slot = Db.Slot,
            Tables = LegacyTables,
            StateDirectory = Path.Combine(Path.GetTempPath(), "cdc-state-" + Guid.NewGuid().ToString("N")[..8]),
        }), Ct);
        var refusal = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(action, refusal.Message, StringComparison.Ordinal);
        Assert.Contains(what[..what.IndexOf(':', StringComparison.Ordinal)], refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_publication_of_one_partition_only_fails_saying_the_partitioned_table_is_not_in_it()
    {
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100); " +
                              "CREATE TABLE m_high PARTITION OF m FOR VALUES FROM (100) TO (200); " +
                              $"CREATE PUBLICATION {Db.Publication} FOR TABLE m_low");
        string[] args = ["db", "check", "--connection", Db.ConnectionString, "--tables", "public.m", "--publication", Db.Publication, "--slot", Db.Slot, "--json"];

        var result = await Cli.RunAsync(args);

        using var json = JsonDocument.Parse(result.Stdout);
        var publication = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "publication");
        Assert.Equal("fail", publication.GetProperty("status").GetString());
        // before the fix: "publishes public.m only through the partitions" with SET (publish_via_partition_root = true) alone, after which m was still not published
        Assert.Contains("does not publish public.m", publication.GetProperty("what").GetString()!, StringComparison.Ordinal);
        var action = publication.GetProperty("action").GetString()!;
        Assert.StartsWith($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"m\"; ALTER PUBLICATION \"{Db.Publication}\" SET (publish_via_partition_root = true);", action, StringComparison.Ordinal);

        // the printed fix is exact: running it makes the table published under its own name
        await Db.ExecuteAsync(action[..action.IndexOf("  --", StringComparison.Ordinal)]);
        var again = await Cli.RunAsync(args);
        using var json2 = JsonDocument.Parse(again.Stdout);
        Assert.Equal("ok", Assert.Single(json2.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "publication").GetProperty("status").GetString());
        Assert.True(Assert.Single(json2.RootElement.GetProperty("tables").EnumerateArray()).GetProperty("published").GetBoolean());
    }

    [Fact]
    public async Task A_published_table_without_key_is_reported_as_breaking_the_application_now()
    {
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_aud_log");

        // what the finding warns about: PostgreSQL itself now refuses the application's DELETE
        var refused = await Assert.ThrowsAsync<PostgresException>(() => Db.ExecuteAsync("DELETE FROM tb_aud_log"));
        Assert.Equal(PostgresErrorCodes.ObjectNotInPrerequisiteState, refused.SqlState);

        var result = await Cli.RunAsync("db", "check", "--connection", Db.ConnectionString, "--tables", "public.tb_aud_log", "--publication", Db.Publication, "--slot", Db.Slot);
        Assert.Equal(1, result.Code);
        Assert.Contains("FAIL in the application right now", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("fix: ALTER TABLE \"public\".\"tb_aud_log\" REPLICA IDENTITY FULL;", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_role_without_replication_fails_and_the_fix_makes_it_pass()
    {
        var role = NewRoleName("norepl");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-{role}'");
        await Db.ExecuteAsync($"GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{role}\"; ALTER TABLE tb_aud_log REPLICA IDENTITY FULL; " +
                              $"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_cust_mst, tb_ord_mst, tb_ord_dtl, tb_aud_log");
        var asRole = ConnectionStringAs(role, "pw-" + role);

        var result = await Cli.RunAsync("db", "check", "--connection", asRole, "--tables", TableList, "--publication", Db.Publication, "--slot", Db.Slot, "--json");

        Assert.Equal(1, result.Code);
        using var json = JsonDocument.Parse(result.Stdout);
        var findings = json.RootElement.GetProperty("findings").EnumerateArray().ToList();
        var roleFinding = Assert.Single(findings, f => f.GetProperty("check").GetString() == "role");
        Assert.Equal("fail", roleFinding.GetProperty("status").GetString());
        Assert.Equal(role, roleFinding.GetProperty("subject").GetString());
        var fix = roleFinding.GetProperty("action").GetString()!;
        Assert.StartsWith($"ALTER ROLE \"{role}\" WITH REPLICATION;", fix, StringComparison.Ordinal);
        // the slot cannot be created by this role either
        Assert.Contains(findings, f => f.GetProperty("check").GetString() == "slot" && f.GetProperty("status").GetString() == "fail");

        await AdminExecuteAsync(fix[..(fix.IndexOf(';', StringComparison.Ordinal) + 1)]);
        var again = await Cli.RunAsync("db", "check", "--connection", asRole, "--tables", TableList, "--publication", Db.Publication, "--slot", Db.Slot, "--json");
        Assert.Equal(0, again.Code);
    }

    /// <summary>
    /// <c>--connection</c> replaces the configuration's connection string, login included, and db check reads the privileges of
    /// the role it connects as (README). Run as the database's admin with --config naming the pipeline's role, it said "ready"
    /// with no word that the pipeline's role, which cannot read a table, was not what it checked. Now it says whose privileges
    /// they are and which role the pipeline logs in as (a warning: what it checked is still true of that role).
    /// </summary>
    [Fact]
    public async Task With_connection_as_another_role_than_the_configurations_it_says_whose_privileges_it_checked()
    {
        var role = NewRoleName("cfgrole");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" LOGIN REPLICATION PASSWORD 'pw'");
        await Db.ExecuteAsync($"GRANT SELECT ON tb_cust_mst, tb_ord_mst, tb_aud_log TO \"{role}\"");
        await Db.ExecuteAsync("ALTER TABLE tb_aud_log REPLICA IDENTITY FULL");
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_cust_mst, tb_ord_mst, tb_ord_dtl, tb_aud_log");
        var admin = new NpgsqlConnectionStringBuilder(Db.ConnectionString).Username!;
        var config = Path.Combine(Path.GetTempPath(), $"cdc-check-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: check-test
            source:
              postgres:
                connectionString: "{ConnectionStringAs(role, "pw")}"
                publication: {Db.Publication}
                slot: {Db.Slot}
                tables: [{TableList.Replace(",", ", ", StringComparison.Ordinal)}]
            """, Ct);
        try
        {
            var asAdmin = await Cli.RunAsync("db", "check", "--config", config, "--connection", Db.ConnectionString, "--json");

            Assert.True(asAdmin.Code == 0, asAdmin.Stdout + asAdmin.Stderr);
            using (var json = JsonDocument.Parse(asAdmin.Stdout))
            {
                var warn = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(),
                    f => f.GetProperty("check").GetString() == "role" && f.GetProperty("status").GetString() == "warn");
                Assert.Equal(admin, warn.GetProperty("subject").GetString());
                var what = warn.GetProperty("what").GetString()!;
                Assert.StartsWith($"checked as role {admin} (--connection), but the pipeline logs in as role {role} (source.postgres.connectionString (", what, StringComparison.Ordinal);
                Assert.Contains($"{Path.GetFileName(config)}:4)): ", what, StringComparison.Ordinal);
                Assert.EndsWith($"every privilege this report shows is {admin}'s, not {role}'s", what, StringComparison.Ordinal);
                Assert.Contains($"Username={role}", warn.GetProperty("action").GetString(), StringComparison.Ordinal);
            }

            var text = await Cli.RunAsync("db", "check", "--config", config, "--connection", Db.ConnectionString);
            Assert.Matches($@"WARN\s+role\s+{admin}\s+checked as role {admin} \(--connection\)", text.Stdout);
            Assert.Contains($"the pipeline logs in as role {role}", text.Stdout, StringComparison.Ordinal);

            // as the configuration says (no --connection): that role's own privileges, no such warning
            var asRole = await Cli.RunAsync("db", "check", "--config", config, "--json");
            Assert.Equal(1, asRole.Code);
            using var own = JsonDocument.Parse(asRole.Stdout);
            var findings = own.RootElement.GetProperty("findings").EnumerateArray().ToList();
            Assert.DoesNotContain(findings, f => f.GetProperty("check").GetString() == "role" && f.GetProperty("status").GetString() == "warn");
            Assert.Equal("public.tb_ord_dtl", Assert.Single(findings, f => f.GetProperty("check").GetString() == "select" && f.GetProperty("status").GetString() == "fail")
                .GetProperty("subject").GetString());
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task The_key_fix_for_a_table_of_another_owner_runs_as_printed_naming_the_owner_in_its_comment()
    {
        var role = NewRoleName("notowner");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" LOGIN REPLICATION PASSWORD 'pw'");
        await Db.ExecuteAsync($"GRANT SELECT ON tb_aud_log TO \"{role}\"");
        var owner = await Db.ScalarAsync<string>("SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'tb_aud_log'");

        var result = await Cli.RunAsync("db", "check", "--connection", ConnectionStringAs(role, "pw"), "--tables", "public.tb_aud_log", "--publication", Db.Publication, "--slot", Db.Slot, "--json");

        using var json = JsonDocument.Parse(result.Stdout);
        var key = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key");
        var action = key.GetProperty("action").GetString()!;
        // before the fix: ALTER TABLE … REPLICA IDENTITY FULL; (as its owner …)  -- …, which psql refuses at "(as"
        Assert.StartsWith($"ALTER TABLE \"public\".\"tb_aud_log\" REPLICA IDENTITY FULL;  -- as its owner {owner};", action, StringComparison.Ordinal);
        await Db.ExecuteAsync(action);
        Assert.Equal("f", await Db.ScalarAsync<string>("SELECT relreplident::text FROM pg_class WHERE relname = 'tb_aud_log'"));
    }

    [Fact]
    public async Task A_table_without_key_but_a_unique_index_on_not_null_columns_is_offered_replica_identity_using_that_index_which_runs_as_printed()
    {
        await Db.ExecuteAsync("CREATE TABLE \"Cust\" (cust_no int NOT NULL, region text NOT NULL, name text, nick text); " +
                              "CREATE UNIQUE INDEX \"Cust_nick\" ON \"Cust\" (nick); " + // a nullable column: PostgreSQL refuses it
                              "CREATE UNIQUE INDEX \"Cust_No\" ON \"Cust\" (cust_no, region); INSERT INTO \"Cust\" VALUES (1, 'n', 'a', 'x')");
        string[] args = ["db", "check", "--connection", Db.ConnectionString, "--tables", "public.Cust", "--publication", Db.Publication, "--slot", Db.Slot, "--json"];

        var result = await Cli.RunAsync(args);

        using var json = JsonDocument.Parse(result.Stdout);
        var key = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key");
        Assert.Equal("fail", key.GetProperty("status").GetString());
        var action = key.GetProperty("action").GetString()!;
        // before the fix: FULL only, every UPDATE/DELETE writing the whole old row to the WAL
        Assert.StartsWith("ALTER TABLE \"public\".\"Cust\" REPLICA IDENTITY USING INDEX \"Cust_No\";", action, StringComparison.Ordinal);
        Assert.Contains("REPLICA IDENTITY FULL;", action, StringComparison.Ordinal);
        await Db.ExecuteAsync(action);
        Assert.Equal("i", await Db.ScalarAsync<string>("SELECT relreplident::text FROM pg_class WHERE relname = 'Cust'"));
        var again = await Cli.RunAsync(args);
        using var json2 = JsonDocument.Parse(again.Stdout);
        Assert.Equal("ok", Assert.Single(json2.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key").GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_role_that_cannot_read_a_table_fails_with_the_grant()
    {
        var role = NewRoleName("noselect");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" LOGIN REPLICATION PASSWORD 'pw'");
        await Db.ExecuteAsync($"GRANT SELECT ON tb_cust_mst, tb_ord_mst, tb_aud_log TO \"{role}\"");

        var result = await Cli.RunAsync("db", "check", "--connection", ConnectionStringAs(role, "pw"), "--tables", TableList, "--publication", Db.Publication, "--slot", Db.Slot, "--json");

        Assert.Equal(1, result.Code);
        using var json = JsonDocument.Parse(result.Stdout);
        var select = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("check").GetString() == "select" && f.GetProperty("status").GetString() == "fail");
        Assert.Equal("public.tb_ord_dtl", select.GetProperty("subject").GetString());
        Assert.Equal($"GRANT SELECT ON \"public\".\"tb_ord_dtl\" TO \"{role}\";", select.GetProperty("action").GetString());
        // no publication and the role owns no table: it cannot create it, so the publication check fails too
        Assert.Contains(json.RootElement.GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("check").GetString() == "publication" && f.GetProperty("status").GetString() == "fail");
    }

    [Fact]
    public async Task An_unreachable_server_exits_2_naming_host_port_and_database_but_never_the_password()
    {
        Fixture.RequireServer();
        const string password = "Sup3r-Secret-Pw";
        var port = FreePorts.Next();
        var connection = $"Host=127.0.0.1;Port={port};Database=legacy_nowhere;Username=cdc;Password={password};Timeout=3";

        foreach (var args in new[]
                 {
                     new[] { "db", "check", "--connection", connection, "--tables", TableList },
                     ["db", "check", "--connection", connection, "--json"],
                     ["db", "prepare", "--connection", connection, "--tables", TableList],
                     ["slot", "list", "--connection", connection],
                     ["slot", "lag", "--connection", connection],
                 })
        {
            var result = await Cli.RunAsync(args);
            Assert.Equal(2, result.Code);
            Assert.Contains($"127.0.0.1:{port}", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("legacy_nowhere", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(password, result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(password, result.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_role_that_does_not_exist_is_named_even_when_its_password_is_the_same_word()
    {
        // The demo's credentials (user and password cdc) before the role exists: it said role "***" does not exist, on the
        // line that says "as cdc", hiding nothing and telling the reader that the password is the user name.
        var role = NewRoleName("samepw");
        var connection = ConnectionStringAs(role, role);

        var result = await Cli.RunAsync("db", "check", "--connection", connection);

        Assert.Equal(2, result.Code);
        Assert.Contains($"as {role}", result.Stderr, StringComparison.Ordinal);
        Assert.Contains($"role \"{role}\" does not exist", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("***", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_exits_2_without_echoing_it()
    {
        var role = NewRoleName("badpw");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" LOGIN PASSWORD 'right-one'");
        // a database that does not exist fails at login under any authentication method (trust included)
        var connection = new NpgsqlConnectionStringBuilder(ConnectionStringAs(role, "Wr0ng-Pw-Value")) { Database = Db.Name + "_missing" }.ConnectionString;

        var result = await Cli.RunAsync("db", "check", "--connection", connection);

        Assert.Equal(2, result.Code);
        Assert.Contains(Db.Name + "_missing", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Wr0ng-Pw-Value", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_login_says_the_server_refused_that_users_credentials_not_to_check_that_it_is_up()
    {
        // The test server trusts local TCP, so no password is checked here (28P01: see the private cluster's test below); a role
        // that may not log in is refused under any method: 28000, the other credentials refusal. It said "check that the server is up".
        const string password = "Wr0ng-Pw-Value";
        var role = NewRoleName("nologin");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" NOLOGIN PASSWORD 'right-one'");
        var connection = ConnectionStringAs(role, password);

        foreach (var args in new[] { new[] { "db", "check", "--connection", connection, "--tables", TableList }, ["slot", "list", "--connection", connection] })
        {
            var result = await Cli.RunAsync(args);
            Assert.Equal(2, result.Code);
            Assert.Contains($"the server refused the credentials of user {role}: check the user and password in the connection string and the server's pg_hba.conf", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("server is up", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(password, result.Stderr + result.Stdout, StringComparison.Ordinal);
        }

        // run's line, for the failure as the source meets it.
        var config = Path.Combine(Path.GetTempPath(), $"cdc-refused-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: refused
            source:
              postgres:
                connectionString: "{connection}"
                tables: [public.tb_ord_mst]
            sinks:
              - name: screen
                console: {"{}"}
            """, Ct);
        try
        {
            var configuration = Assert.IsType<CdcPipeline.Core.Configuration.PipelineConfiguration>(CdcPipeline.Commands.ConfigFile.TryLoad(new FileInfo(config), TextWriter.Null));
            var refused = await Assert.ThrowsAsync<PostgresException>(async () =>
            {
                await using var login = new NpgsqlConnection(connection);
                await login.OpenAsync(Ct);
            });
            Assert.Equal(PostgresErrorCodes.InvalidAuthorizationSpecification, refused.SqlState);
            var line = CdcPipeline.Commands.RunCommand.FailureLine(refused, configuration);
            Assert.EndsWith(
                $"; the server refused the credentials of user {role}: check the user and password in source.postgres.connectionString ({config}:4) and the server's pg_hba.conf",
                line,
                StringComparison.Ordinal);
            Assert.DoesNotContain(password, line, StringComparison.Ordinal);

            // 28P01 (a wrong password, provoked for real in the private cluster's test below) is the same refusal in run's line,
            // which that test does not run; a connection refused still says to check the server.
            var wrongPassword = new PostgresException($"password authentication failed for user \"{role}\"", "FATAL", "FATAL", PostgresErrorCodes.InvalidPassword);
            Assert.Contains($"refused the credentials of user {role}", CdcPipeline.Commands.RunCommand.FailureLine(wrongPassword, configuration), StringComparison.Ordinal);
            var down = new NpgsqlException("Failed to connect to 127.0.0.1:1", new System.Net.Sockets.SocketException(111));
            Assert.Contains("check that the server is up", CdcPipeline.Commands.RunCommand.FailureLine(down, configuration), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Settings_altered_and_reloaded_but_not_yet_restarted_say_the_value_waits_for_a_restart_instead_of_asking_for_alter_system_again()
    {
        // It reported wal_level 'replica' with "ALTER SYSTEM SET wal_level = logical; -- then restart" after the DBA had run
        // exactly that and reloaded: nothing said the change was made and only the restart was pending.
        await using var cluster = await PrivateCluster.StartAsync("dbcheck-pending", new Dictionary<string, string> { ["wal_level"] = "replica", ["max_wal_senders"] = "0" }, Ct);
        await cluster.Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        await cluster.Db.ExecuteAsync("ALTER SYSTEM SET wal_level = logical");
        await cluster.Db.ExecuteAsync("ALTER SYSTEM SET max_wal_senders = 12");
        Assert.True(await cluster.Db.ScalarAsync<bool>("SELECT pg_reload_conf()"));

        // a superuser reads the new value in pg_file_settings; a replication role without it sees pg_settings.pending_restart only
        await cluster.Db.ExecuteAsync("CREATE ROLE pending_repl LOGIN REPLICATION; GRANT SELECT ON t TO pending_repl");
        var replicator = new NpgsqlConnectionStringBuilder(cluster.Db.ConnectionString) { Username = "pending_repl" }.ConnectionString;
        foreach (var (connection, superuser) in new[] { (cluster.Db.ConnectionString, true), (replicator, false) })
        {
            // the reload is a signal: wait until the server has read the file
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!await cluster.Db.ScalarAsync<bool>("SELECT pending_restart FROM pg_settings WHERE name = 'wal_level'"))
            {
                Assert.True(DateTime.UtcNow < deadline, "wal_level not pending_restart 10 s after pg_reload_conf()");
                await Task.Delay(100, Ct);
            }

            var result = await Cli.RunAsync("db", "check", "--connection", connection, "--tables", "public.t", "--json");
            TestContext.Current.TestOutputHelper?.WriteLine(result.Stdout + result.Stderr);
            Assert.Equal(1, result.Code);
            using var json = JsonDocument.Parse(result.Stdout);
            var findings = json.RootElement.GetProperty("findings").EnumerateArray().ToList();
            var wal = Assert.Single(findings, f => f.GetProperty("check").GetString() == "wal_level");
            var senders = Assert.Single(findings, f => f.GetProperty("check").GetString() == "wal senders");
            Assert.Equal("fail", wal.GetProperty("status").GetString());
            Assert.Equal("fail", senders.GetProperty("status").GetString());
            var walAction = wal.GetProperty("action").GetString()!;
            var sendersAction = senders.GetProperty("action").GetString()!;
            Assert.StartsWith("restart PostgreSQL", walAction, StringComparison.Ordinal);
            Assert.StartsWith("restart PostgreSQL", sendersAction, StringComparison.Ordinal);
            if (superuser)
            {
                Assert.DoesNotContain("ALTER SYSTEM SET", walAction + sendersAction, StringComparison.Ordinal);
                Assert.Contains("'logical' is set in ", wal.GetProperty("what").GetString(), StringComparison.Ordinal);
                Assert.Contains("postgresql.auto.conf, waiting for a restart", wal.GetProperty("what").GetString(), StringComparison.Ordinal);
                Assert.Contains("'12' is set in ", senders.GetProperty("what").GetString(), StringComparison.Ordinal);
            }
            else
            {
                Assert.Contains("a new value is set, waiting for a restart (pg_settings.pending_restart", wal.GetProperty("what").GetString(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task A_wrong_password_under_scram_authentication_is_refused_credentials_and_the_password_is_never_shown()
    {
        // scripts/pg-start.sh runs initdb with trust: a cluster of the test's own checks passwords on TCP (the admin
        // user stays trusted, for the set-up and the cluster's stop), so a wrong one is the server's 28P01.
        const string password = "Wr0ng-Pw-Value";
        await using var cluster = await PrivateCluster.StartAsync("dbcheck-scram", new Dictionary<string, string>(), Ct);
        const string role = "scram_user";
        await cluster.Db.ExecuteAsync($"SET password_encryption = 'scram-sha-256'; CREATE ROLE {role} LOGIN PASSWORD 'right-one'");
        await File.WriteAllTextAsync(Path.Combine(cluster.DataDirectory, "pg_hba.conf"), """
            local all all trust
            host all postgres 127.0.0.1/32 trust
            host all postgres ::1/128 trust
            host all all 127.0.0.1/32 scram-sha-256
            host all all ::1/128 scram-sha-256
            """, Ct);
        Assert.True(await cluster.Db.ScalarAsync<bool>("SELECT pg_reload_conf()"));
        var connection = new NpgsqlConnectionStringBuilder(cluster.Db.ConnectionString) { Username = role, Password = password }.ConnectionString;

        // the reload is a signal: the refusal is 28P01 once the postmaster has read the file
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                await using var login = new NpgsqlConnection(connection);
                await login.OpenAsync(Ct);
                Assert.True(DateTime.UtcNow < deadline, "a wrong password was still accepted 10 s after pg_hba.conf asked for scram-sha-256");
                await Task.Delay(100, Ct);
            }
            catch (PostgresException e)
            {
                Assert.Equal(PostgresErrorCodes.InvalidPassword, e.SqlState);
                break;
            }
        }

        // the right password gets in, so the refusal is the password's
        await using (var right = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connection) { Password = "right-one" }.ConnectionString))
        {
            await right.OpenAsync(Ct);
        }

        foreach (var args in new[] { new[] { "db", "check", "--connection", connection, "--tables", "public.t" }, ["slot", "list", "--connection", connection] })
        {
            var result = await Cli.RunAsync(args);
            Assert.Equal(2, result.Code);
            Assert.Contains($"the server refused the credentials of user {role}: check the user and password in the connection string and the server's pg_hba.conf", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("server is up", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(password, result.Stderr + result.Stdout, StringComparison.Ordinal);
        }
    }
}
