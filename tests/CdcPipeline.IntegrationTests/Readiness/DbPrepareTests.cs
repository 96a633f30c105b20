using System.Diagnostics;
using System.Text.Json;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres.Readiness;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary><c>db prepare</c>: printed SQL and <c>--apply</c> are idempotent, touch no legacy row, and make <c>db check</c> pass.</summary>
public sealed class DbPrepareTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    private async Task AddLegacyRowsAsync()
    {
        // a TOASTed memo (incompressible, > 2 kB) and a few more rows, so the checksum covers more than the seed
        await Db.ExecuteAsync("""
            INSERT INTO tb_ord_mst (ord_no, cust_no, ord_dt, ord_amt, ord_memo)
            VALUES (1000003, 'C0000001', '20240301', 99.00, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 120) g));
            INSERT INTO tb_ord_dtl VALUES (1000003, 1, 'ITM-0001', 3, 33.00);
            INSERT INTO tb_aud_log (log_ts, usr_id, act_cd, log_msg) VALUES ('2024-03-01 10:00', 'OPS01', 'OR', 'order 1000003 entered');
            """);
    }

    private string[] PrepareArgs(string role, string passwordEnv, bool apply) =>
    [
        "db", "prepare", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication,
        "--role", role, "--password-env", passwordEnv, "--replica-identity-full", "public.tb_cust_mst,public.tb_aud_log",
        .. apply ? new[] { "--apply" } : [],
    ];

    [Fact]
    public async Task Apply_twice_changes_nothing_the_second_time_touches_no_row_and_then_check_passes()
    {
        await AddLegacyRowsAsync();
        var role = NewRoleName("cdc");
        var passwordEnv = "CDC_TEST_PW_" + role.ToUpperInvariant();
        var password = "pw-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(passwordEnv, password);
        var before = await LegacyChecksumAsync();

        var first = await Cli.RunAsync(PrepareArgs(role, passwordEnv, apply: true));
        var second = await Cli.RunAsync(PrepareArgs(role, passwordEnv, apply: true));

        Assert.Equal(0, first.Code);
        Assert.Contains("change(s) committed", first.Stdout, StringComparison.Ordinal);
        Assert.Contains($"changed   create role {role}", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("changed   REPLICA IDENTITY FULL on public.tb_aud_log", first.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, second.Code);
        Assert.Contains("nothing to change", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("changed ", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(password, first.Stdout + first.Stderr + second.Stdout + second.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, await LegacyChecksumAsync());

        // what it made: a least-privilege role whose stored verifier is the password, FULL identity only where asked
        var roleRow = (await Db.QueryAsync($"SELECT rolsuper, rolreplication, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = '{role}'")).Single();
        Assert.Equal(new object?[] { false, true, true }, roleRow[..3]);
        Assert.True(ScramVerifier.Matches((string)roleRow[3]!, password));
        var identities = (await Db.QueryAsync("SELECT relname::text, relreplident::text FROM pg_class WHERE relname LIKE 'tb\\_%' AND relkind = 'r' ORDER BY 1"))
            .ToDictionary(r => (string)r[0]!, r => (string)r[1]!);
        Assert.Equal("f", identities["tb_cust_mst"]);
        Assert.Equal("f", identities["tb_aud_log"]);
        Assert.Equal("d", identities["tb_ord_mst"]);
        Assert.Equal("d", identities["tb_ord_dtl"]);
        var published = (await Db.QueryAsync($"SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = '{Db.Publication}'")).Select(r => (string)r[0]!);
        Assert.Equal(LegacyTables.Concat(["cdc.cdc_heartbeat", "cdc.cdc_signal"]).Order(StringComparer.Ordinal), published.Order(StringComparer.Ordinal));
        // read only on application tables
        Assert.False(await Db.ScalarAsync<bool>($"SELECT has_table_privilege('{role}', 'public.tb_ord_mst', 'INSERT') OR has_table_privilege('{role}', 'public.tb_ord_mst', 'UPDATE')"));

        var check = await Cli.RunAsync("db", "check", "--connection", ConnectionStringAs(role, password), "--tables", TableList,
            "--publication", Db.Publication, "--slot", Db.Slot, "--json");
        Assert.Equal(0, check.Code);
        using var json = JsonDocument.Parse(check.Stdout);
        Assert.True(json.RootElement.GetProperty("ready").GetBoolean());
        Assert.Equal(role, json.RootElement.GetProperty("target").GetProperty("user").GetString());
    }

    [Fact]
    public async Task The_printed_sql_never_contains_nor_sends_the_password_and_runs_twice_in_psql()
    {
        var psql = new[] { "/usr/bin/psql", "/usr/lib/postgresql/15/bin/psql" }.FirstOrDefault(File.Exists);
        await AddLegacyRowsAsync();
        var role = NewRoleName("printed");
        var passwordEnv = "CDC_TEST_PW_" + role.ToUpperInvariant();
        var password = "pw-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(passwordEnv, password);
        var before = await LegacyChecksumAsync();

        var printed = await Cli.RunAsync(PrepareArgs(role, passwordEnv, apply: false));

        Assert.Equal(0, printed.Code);
        Assert.DoesNotContain(password, printed.Stdout + printed.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(new NpgsqlConnectionStringBuilder(Db.ConnectionString).Password ?? "\0", printed.Stdout, StringComparison.Ordinal);
        Assert.Contains("CREATE PUBLICATION", printed.Stdout, StringComparison.Ordinal);
        if (psql is null)
        {
            Assert.Skip("psql not installed: the printed script was checked but not run");
        }

        var script = Path.Combine(Path.GetTempPath(), $"prepare-{role}.sql");
        await File.WriteAllTextAsync(script, printed.Stdout, Ct);
        try
        {
            for (var run = 0; run < 2; run++)
            {
                // psql -e echoes every statement it sends to the server (\\gexec's too): what log_statement=ddl would log
                var (code, stdout, stderr) = await RunPsqlAsync(psql, script, passwordEnv, password);
                Assert.True(code == 0, $"psql run {run + 1} failed ({code}): {stderr}");
                Assert.Contains("CREATE PUBLICATION", stdout, StringComparison.Ordinal);
                Assert.DoesNotContain(password, stdout + stderr, StringComparison.Ordinal);
            }
        }
        finally
        {
            File.Delete(script);
        }

        // the role's password is set from a SCRAM-SHA-256 verifier computed by db prepare, as --apply does
        Assert.Contains("PASSWORD 'SCRAM-SHA-256$", printed.Stdout, StringComparison.Ordinal);
        Assert.Equal(before, await LegacyChecksumAsync());
        var verifier = await Db.ScalarAsync<string>($"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'");
        Assert.True(ScramVerifier.Matches(verifier, password), "the role's stored verifier must be that of the password");
        await using (var asRole = new NpgsqlConnection(ConnectionStringAs(role, password)))
        {
            await asRole.OpenAsync(Ct);
            await using var who = new NpgsqlCommand("SELECT current_user::text", asRole);
            Assert.Equal(role, (string?)await who.ExecuteScalarAsync(Ct));
        }

        var apply = await Cli.RunAsync(PrepareArgs(role, passwordEnv, apply: true));
        Assert.Equal(0, apply.Code);
        Assert.Contains("nothing to change", apply.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Printing_with_a_password_variable_that_is_not_set_fails_and_names_it()
    {
        var role = NewRoleName("unset");
        var passwordEnv = "CDC_TEST_PW_" + role.ToUpperInvariant();
        Environment.SetEnvironmentVariable(passwordEnv, null);

        var printed = await Cli.RunAsync(PrepareArgs(role, passwordEnv, apply: false));

        Assert.Equal(2, printed.Code);
        Assert.Contains($"--password-env {passwordEnv}: the environment variable is not set", printed.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("CREATE ROLE", printed.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_table_without_key_that_is_not_named_for_full_identity_is_left_out_of_the_publication()
    {
        var role = NewRoleName("nokey");
        var result = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication,
            "--role", role, "--apply");

        Assert.Equal(0, result.Code);
        Assert.Contains("public.tb_aud_log has no primary key", result.Stdout, StringComparison.Ordinal);
        var published = (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}'")).Select(r => (string)r[0]!).ToList();
        Assert.DoesNotContain("tb_aud_log", published);
        Assert.Contains("tb_ord_mst", published);
        // the application can still delete from it: publishing it without identity would have broken that
        await Db.ExecuteAsync("DELETE FROM tb_aud_log WHERE usr_id = 'nobody'");
        Assert.Equal("d", await Db.ScalarAsync<string>("SELECT relreplident::text FROM pg_class WHERE relname = 'tb_aud_log'"));
    }

    [Fact]
    public async Task The_publication_it_creates_publishes_a_partitioned_table_under_its_own_name()
    {
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100)");
        var role = NewRoleName("part");
        var result = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.m,public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--apply");

        Assert.Equal(0, result.Code);
        // before the fix: m_low (publish_via_partition_root off), so the capture got m's changes under the partition's name
        var published = (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}' ORDER BY 1")).Select(r => (string)r[0]!).ToList();
        Assert.Contains("m", published);
        Assert.DoesNotContain("m_low", published);
        Assert.Contains("tb_ord_mst", published);
    }

    [Fact]
    public async Task Full_identity_on_a_partitioned_table_without_key_is_set_on_its_partitions_so_the_application_can_still_update_it()
    {
        // PostgreSQL checks the replica identity of the partition an UPDATE/DELETE touches, and ALTER TABLE … REPLICA IDENTITY
        // on the partitioned table does not recurse: FULL on m alone, once m is published, breaks UPDATE on m_2025
        await Db.ExecuteAsync("CREATE TABLE m (id int, taken date NOT NULL, v numeric) PARTITION BY RANGE (taken); " +
                              "CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); " +
                              "CREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); " +
                              "INSERT INTO m VALUES (1, '2025-03-01', 1), (2, '2026-03-01', 2)");
        var role = NewRoleName("partfull");
        string[] args = ["db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.m,public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--replica-identity-full", "public.m"];

        var printed = await Cli.RunAsync(args);
        var result = await Cli.RunAsync([.. args, "--apply"]);

        Assert.Equal(0, printed.Code);
        Assert.Contains("ALTER TABLE \"public\".\"m_2025\" REPLICA IDENTITY FULL;", printed.Stdout, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"m_2026\" REPLICA IDENTITY FULL;", printed.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, result.Code);
        Assert.Contains("m", (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}'")).Select(r => (string)r[0]!));
        // before the fix: cannot update table "m_2025" because it does not have a replica identity and publishes updates
        await Db.ExecuteAsync("UPDATE m SET v = v + 1");
        await Db.ExecuteAsync("DELETE FROM m WHERE id = 1");
        var identities = (await Db.QueryAsync("SELECT relname::text, relreplident::text FROM pg_class WHERE relname IN ('m', 'm_2025', 'm_2026')"))
            .ToDictionary(r => (string)r[0]!, r => (string)r[1]!);
        Assert.All(identities.Values, i => Assert.Equal("f", i));
        var check = await Cli.RunAsync("db", "check", "--connection", Db.ConnectionString, "--tables", "public.m", "--publication", Db.Publication, "--slot", Db.Slot, "--json");
        using var json = System.Text.Json.JsonDocument.Parse(check.Stdout);
        Assert.DoesNotContain(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("status").GetString() == "fail");
        Assert.Contains("nothing to change", (await Cli.RunAsync([.. args, "--apply"])).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_partitioned_table_full_only_on_the_parent_is_left_out_of_the_publication_when_not_named_for_full_identity()
    {
        // someone set FULL on the partitioned table only: its partitions still have no replica identity
        await Db.ExecuteAsync("CREATE TABLE m (id int, taken date NOT NULL) PARTITION BY RANGE (taken); " +
                              "CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); " +
                              "ALTER TABLE m REPLICA IDENTITY FULL; INSERT INTO m VALUES (1, '2025-03-01')");
        var role = NewRoleName("partparent");

        var result = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.m,public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--apply");

        Assert.Equal(0, result.Code);
        Assert.Contains("public.m_2025", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("m", (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}'")).Select(r => (string)r[0]!));
        await Db.ExecuteAsync("UPDATE m SET id = id + 1");
    }

    [Fact]
    public async Task An_unlogged_table_is_left_out_of_the_publication_with_a_note_instead_of_failing_the_whole_script()
    {
        // PostgreSQL refuses to publish an unlogged table (its changes are not in the WAL): before the fix CREATE PUBLICATION failed
        await Db.ExecuteAsync("CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, data text)");
        var role = NewRoleName("unlogged");

        var result = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.sessions,public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--apply");

        Assert.True(result.Code == 0, result.Stderr);
        Assert.Contains("public.sessions is UNLOGGED", result.Stdout, StringComparison.Ordinal);
        var published = (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}'")).Select(r => (string)r[0]!).ToList();
        Assert.Contains("tb_ord_mst", published);
        Assert.DoesNotContain("sessions", published);
        Assert.Equal("u", await Db.ScalarAsync<string>("SELECT relpersistence::text FROM pg_class WHERE relname = 'sessions'"));
    }

    [Fact]
    public async Task Run_again_by_a_tables_owner_who_is_not_superuser_it_plans_without_reading_into_our_schema_and_grants_the_new_table()
    {
        // the superuser's first run made schema cdc, which only the cdc role may use; the owner of a table added later runs it again
        var role = NewRoleName("cdc");
        var first = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.tb_ord_mst", "--publication", Db.Publication, "--role", role, "--apply");
        Assert.Equal(0, first.Code);
        var owner = NewRoleName("owner");
        await AdminExecuteAsync($"CREATE ROLE \"{owner}\" LOGIN PASSWORD 'pw'");
        await Db.ExecuteAsync($"CREATE TABLE shipments (id int PRIMARY KEY); ALTER TABLE shipments OWNER TO \"{owner}\"");

        var again = await Cli.RunAsync("db", "prepare", "--connection", ConnectionStringAs(owner, "pw"), "--tables", "public.tb_ord_mst,public.shipments",
            "--publication", Db.Publication, "--role", role, "--apply");

        // before the fix: exit 1, "db prepare: permission denied for schema cdc" (has_table_privilege on "cdc"."cdc_heartbeat" by name)
        Assert.True(again.Code == 0, again.Stdout + again.Stderr);
        Assert.Contains("changed   grant SELECT on public.shipments", again.Stdout, StringComparison.Ordinal);
        Assert.True(await Db.ScalarAsync<bool>($"SELECT has_table_privilege('{role}', 'public.shipments', 'SELECT')"));
    }

    [Fact]
    public async Task A_step_refused_for_want_of_privilege_says_who_may_run_it_and_for_the_password_to_leave_out_password_env()
    {
        var role = NewRoleName("cdc");
        var passwordEnv = "CDC_TEST_PW_" + role.ToUpperInvariant();
        Environment.SetEnvironmentVariable(passwordEnv, "pw-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(0, (await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--password-env", passwordEnv, "--apply")).Code);
        var owner = NewRoleName("owner");
        await AdminExecuteAsync($"CREATE ROLE \"{owner}\" LOGIN PASSWORD 'pw'");
        await Db.ExecuteAsync($"ALTER TABLE tb_ord_mst OWNER TO \"{owner}\"");

        // not superuser, it cannot read pg_authid to see the password is the same, so it sets it again, which PostgreSQL refuses
        var again = await Cli.RunAsync("db", "prepare", "--connection", ConnectionStringAs(owner, "pw"), "--tables", "public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--password-env", passwordEnv, "--apply");

        Assert.Equal(1, again.Code);
        // before the fix: the step and PostgreSQL's "must be superuser to alter replication roles …", nothing on what to do
        Assert.Contains($"step 'set the password of role {role} from ${passwordEnv}' failed", again.Stderr, StringComparison.Ordinal);
        Assert.Contains($"leave out --password-env {passwordEnv}", again.Stderr, StringComparison.Ordinal);
        Assert.Contains($"role {owner} is not", again.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await Cli.RunAsync("db", "prepare", "--connection", ConnectionStringAs(owner, "pw"), "--tables", "public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--apply")).Code);
    }

    [Fact]
    public async Task Apply_takes_the_replica_identity_lock_last_so_a_step_waiting_for_a_lock_does_not_hold_up_the_application()
    {
        // another session holds what CREATE PUBLICATION must wait for on tb_ord_mst (a manual VACUUM or ANALYZE holds the same)
        await using var vacuum = new NpgsqlConnection(Db.ConnectionString);
        await vacuum.OpenAsync(Ct);
        await using var held = await vacuum.BeginTransactionAsync(Ct);
        await using (var lockCmd = new NpgsqlCommand("LOCK TABLE tb_ord_mst IN SHARE UPDATE EXCLUSIVE MODE", vacuum, held))
        {
            await lockCmd.ExecuteNonQueryAsync(Ct);
        }

        var role = NewRoleName("locks");
        var prepare = Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication,
            "--role", role, "--replica-identity-full", "public.tb_aud_log", "--apply");
        var deadline = DateTime.UtcNow.AddSeconds(4);
        while (await Db.ScalarAsync<long>("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'tb_ord_mst'::regclass") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "db prepare --apply did not come to wait for tb_ord_mst's lock");
            await Task.Delay(50, Ct);
        }

        // meanwhile the application reads the table made FULL: before the fix its ACCESS EXCLUSIVE lock was held by then (55P03 here)
        await using (var app = new NpgsqlConnection(Db.ConnectionString))
        {
            await app.OpenAsync(Ct);
            await using var read = new NpgsqlCommand("SET lock_timeout = '500ms'; SELECT count(*) FROM tb_aud_log", app);
            await read.ExecuteScalarAsync(Ct);
        }

        var result = await prepare; // lock_timeout: nothing was changed
        Assert.Equal(1, result.Code);
        Assert.Contains("nothing was changed", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("d", await Db.ScalarAsync<string>("SELECT relreplident::text FROM pg_class WHERE relname = 'tb_aud_log'"));
    }

    [Fact]
    public async Task Sync_publication_sets_the_tables_of_an_existing_publication_only_when_asked()
    {
        var role = NewRoleName("sync");
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_ord_mst");
        string[] args = ["db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.tb_ord_mst,public.tb_ord_dtl", "--publication", Db.Publication, "--role", role, "--apply"];

        var without = await Cli.RunAsync(args);
        Assert.Equal(0, without.Code);
        Assert.Contains("--sync-publication", without.Stdout, StringComparison.Ordinal);
        Assert.Equal(1L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_publication_tables WHERE pubname = '{Db.Publication}'"));

        var with = await Cli.RunAsync([.. args, "--sync-publication"]);
        Assert.Equal(0, with.Code);
        Assert.Contains($"changed   publication {Db.Publication} publishes exactly", with.Stdout, StringComparison.Ordinal);
        Assert.Equal(4L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_publication_tables WHERE pubname = '{Db.Publication}'"));

        var again = await Cli.RunAsync([.. args, "--sync-publication"]);
        Assert.Contains("nothing to change", again.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_existing_publication_without_partition_root_gets_it_when_a_captured_table_is_partitioned()
    {
        // a DBA's publication, named so that it needs quoting, made without publish_via_partition_root
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100)");
        var publication = "Legacy \"Pub\" " + Db.Publication;
        var quoted = "\"Legacy \"\"Pub\"\" " + Db.Publication + "\"";
        await Db.ExecuteAsync($"CREATE PUBLICATION {quoted} FOR TABLE m, tb_ord_mst");
        var role = NewRoleName("viaroot");
        string[] args = ["db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.m,public.tb_ord_mst", "--publication", publication, "--role", role];

        var plan = await Cli.RunAsync(args);
        Assert.Equal(0, plan.Code);
        // before the fix: the plan said nothing about the option, and --apply left m published as m_low
        Assert.Contains($"ALTER PUBLICATION {quoted} SET (publish_via_partition_root = true);", plan.Stdout, StringComparison.Ordinal);
        Assert.Contains("public.m", plan.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("does not publish public.m", plan.Stdout, StringComparison.Ordinal);

        var apply = await Cli.RunAsync([.. args, "--apply"]);
        Assert.Equal(0, apply.Code);
        Assert.Contains($"changed   publication {publication} publishes partitioned public.m under its own name", apply.Stdout, StringComparison.Ordinal);
        Assert.True(await Db.ScalarAsync<bool>($"SELECT pubviaroot FROM pg_publication WHERE pubname = {DatabasePreparation.QuoteLiteral(publication)}"));
        var published = (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = {DatabasePreparation.QuoteLiteral(publication)} ORDER BY 1")).Select(r => (string)r[0]!).ToList();
        Assert.Contains("m", published);
        Assert.DoesNotContain("m_low", published);

        var again = await Cli.RunAsync([.. args, "--apply"]);
        Assert.Equal(0, again.Code);
        Assert.Contains("nothing to change", again.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_existing_publication_without_partition_root_is_left_as_it_is_when_no_captured_table_is_partitioned()
    {
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_ord_mst");
        var role = NewRoleName("noroot");

        var apply = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--apply");

        Assert.Equal(0, apply.Code);
        Assert.DoesNotContain("publish_via_partition_root", apply.Stdout, StringComparison.Ordinal);
        Assert.False(await Db.ScalarAsync<bool>($"SELECT pubviaroot FROM pg_publication WHERE pubname = '{Db.Publication}'"));
    }

    [Fact]
    public async Task A_publication_of_one_partition_only_is_said_to_lack_the_partitioned_table_with_the_fix()
    {
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100); " +
                              $"CREATE PUBLICATION {Db.Publication} FOR TABLE m_low, tb_ord_mst");
        var role = NewRoleName("onepart");
        string[] args = ["db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.m,public.tb_ord_mst", "--publication", Db.Publication, "--role", role];

        var plan = await Cli.RunAsync(args);

        Assert.Equal(0, plan.Code);
        // before the fix: a publish_via_partition_root step and no word that m is not in the publication (that option does not add it)
        Assert.DoesNotContain("publishes partitioned public.m under its own name", plan.Stdout, StringComparison.Ordinal);
        Assert.Contains($"publication {Db.Publication} exists and does not publish public.m", plan.Stderr, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"m\"; ALTER PUBLICATION \"{Db.Publication}\" SET (publish_via_partition_root = true);",
            plan.Stderr, StringComparison.Ordinal);
        Assert.Contains("--sync-publication", plan.Stderr, StringComparison.Ordinal);

        var apply = await Cli.RunAsync([.. args, "--apply"]);
        Assert.Equal(0, apply.Code);
        Assert.False(await Db.ScalarAsync<bool>($"SELECT pubviaroot FROM pg_publication WHERE pubname = '{Db.Publication}'")); // left as it is

        var synced = await Cli.RunAsync([.. args, "--sync-publication", "--apply"]);
        Assert.Equal(0, synced.Code);
        var published = (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}' ORDER BY 1")).Select(r => (string)r[0]!).ToList();
        Assert.Contains("m", published);
        Assert.DoesNotContain("m_low", published);
    }

    [Fact]
    public async Task Sync_publication_also_sets_partition_root_when_a_captured_table_is_partitioned()
    {
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100)");
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_ord_mst");
        var role = NewRoleName("syncroot");
        string[] args = ["db", "prepare", "--connection", Db.ConnectionString, "--tables", "public.m,public.tb_ord_mst", "--publication", Db.Publication,
            "--role", role, "--sync-publication", "--apply"];

        var with = await Cli.RunAsync(args);
        Assert.Equal(0, with.Code);
        Assert.Contains($"changed   publication {Db.Publication} publishes exactly", with.Stdout, StringComparison.Ordinal);
        // before the fix: SET TABLE only, so m was listed (and streamed) as m_low, and every re-run "changed" the tables again
        Assert.True(await Db.ScalarAsync<bool>($"SELECT pubviaroot FROM pg_publication WHERE pubname = '{Db.Publication}'"));
        var published = (await Db.QueryAsync($"SELECT tablename::text FROM pg_publication_tables WHERE pubname = '{Db.Publication}' ORDER BY 1")).Select(r => (string)r[0]!).ToList();
        Assert.Contains("m", published);
        Assert.DoesNotContain("m_low", published);

        var again = await Cli.RunAsync(args);
        Assert.Equal(0, again.Code);
        Assert.Contains("nothing to change", again.Stdout, StringComparison.Ordinal);
    }

    private async Task<(int Code, string Stdout, string Stderr)> RunPsqlAsync(string psql, string script, string passwordEnv, string password)
    {
        var cs = new NpgsqlConnectionStringBuilder(Db.ConnectionString);
        var psi = new ProcessStartInfo(psql, ["-X", "-q", "-e", "-v", "ON_ERROR_STOP=1", "-h", cs.Host!, "-p", cs.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", cs.Username!, "-d", Db.Name, "-f", script])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        psi.Environment[passwordEnv] = password;
        psi.Environment["PGPASSWORD"] = cs.Password ?? "";
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        var stdout = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, stdout, await stderr);
    }
}
