using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using CdcPipeline.Commands;
using CdcPipeline.IntegrationTests.Readiness;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres.Readiness;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// connector-config/postgres-setup.sql runs as the compose stack's (and the Testcontainers suite's) third
/// init script, after the sample schema and seed; the image's entrypoint stops at the first error, so the
/// whole stack fails to start if this script does. Here it runs the same way on a fresh database.
/// </summary>
public sealed class PostgresSetupScriptTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    [Fact]
    public async Task The_DBA_setup_script_runs_after_the_sample_schema_and_again_without_error()
    {
        await RunSetupScriptAsync();

        // A DBA may run it twice (e.g. after adding a table): it must stay idempotent.
        await RunSetupScriptAsync();

        // The signal table too: Debezium reads signals and incremental-snapshot watermarks from the change stream.
        var published = (await Db.QueryAsync("SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 'debezium_legacy_pub' ORDER BY 1"))
            .Select(r => (string)r[0]!).ToList();
        Assert.Equal(LegacyTables.Append("public.debezium_heartbeat").Append("public.debezium_signal").Order(StringComparer.Ordinal), published);
    }

    /// <summary>
    /// With publication.autocreate.mode disabled the script's CREATE PUBLICATION is the second table list: Debezium
    /// streams only published tables, so a table added to source.kafka.debezium.tables (and to the rendered
    /// table.include.list) but not here would be snapshotted and then never streamed, without an error. The script
    /// must publish exactly what the rendered connector captures, writes its heartbeats to and reads signals from.
    /// </summary>
    [Fact]
    public async Task The_DBA_setup_script_publishes_what_the_rendered_connector_captures()
    {
        await RunSetupScriptAsync();

        var config = Path.Combine(PostgresFixture.RepoRoot, "samples", "legacy-orders", "pipeline.kafka.yaml");
        var (_, connector) = ConnectorCommand.Build(new FileInfo(config), format: null);
        Assert.Equal("disabled", (string?)connector["publication.autocreate.mode"]);
        var heartbeat = Regex.Match((string)connector["heartbeat.action.query"]!, @"^INSERT INTO (\S+) ");
        Assert.True(heartbeat.Success, (string?)connector["heartbeat.action.query"]);
        var expected = ((string)connector["table.include.list"]!).Split(',').Select(Regex.Unescape)
            .Append(heartbeat.Groups[1].Value)
            .Append((string)connector["signal.data.collection"]!)
            .Select(t => t.ToLowerInvariant())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();

        var publication = (string)connector["publication.name"]!;
        var published = (await Db.QueryAsync($"SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = '{publication}' ORDER BY 1"))
            .Select(r => (string)r[0]!).ToList();
        Assert.True(
            expected.SequenceEqual(published),
            $"connector-config/postgres-setup.sql publishes [{string.Join(", ", published)}] as {publication}; the connector rendered from {Path.GetFileName(config)} needs [{string.Join(", ", expected)}]");
        Assert.True(await Db.ScalarAsync<bool>("SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = 'cdc'"));
        // each one (has_table_privilege with a list is true when the role has any of them); the heartbeat's upsert needs SELECT too
        foreach (var (table, privilege) in new[] { ("debezium_heartbeat", "INSERT"), ("debezium_heartbeat", "UPDATE"), ("debezium_heartbeat", "SELECT"), ("debezium_signal", "INSERT"), ("debezium_signal", "SELECT"), ("debezium_signal", "DELETE") })
        {
            Assert.True(await Db.ScalarAsync<bool>($"SELECT has_table_privilege('cdc', 'public.{table}', '{privilege}')"), $"cdc lacks {privilege} on {table}");
        }

        Assert.True(await Db.ScalarAsync<bool>("SELECT has_table_privilege('cdc', 'public.tb_ord_mst', 'SELECT')"));
        var identities = (await Db.QueryAsync("SELECT relname || '=' || relreplident::text FROM pg_class WHERE relname IN ('tb_aud_log', 'tb_ord_mst', 'tb_cust_mst') ORDER BY 1"))
            .Select(r => (string)r[0]!).ToList();
        Assert.Equal(["tb_aud_log=f", "tb_cust_mst=f", "tb_ord_mst=f"], identities);
    }

    /// <summary>
    /// connector-config/README.md tells the DBA to add a table to the script's publication and run it again, on a
    /// database whose slot Debezium is reading. pgoutput decodes each change with the publications as they were when the
    /// change was written: one written while the publication did not exist (the script dropped it to create it again)
    /// stops the slot at that change for good ("publication … does not exist"), and only a new slot and snapshot get
    /// the connector going again. Here the legacy application writes while the script, run by psql as the image and a
    /// DBA run it (a transaction per statement), waits for a table lock between its publication statements.
    /// </summary>
    [Fact]
    public async Task Running_the_DBA_setup_script_again_while_the_legacy_application_writes_leaves_the_connectors_slot_readable()
    {
        var psql = PsqlOrSkip();
        await RunSetupScriptAsync();
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Db.Slot}', 'pgoutput')");
        var script = Path.Combine(Path.GetTempPath(), $"postgres-setup-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(script, (await File.ReadAllTextAsync(SetupScript, Ct)).Replace("ON DATABASE legacy ", $"ON DATABASE \"{Db.Name}\" ", StringComparison.Ordinal), Ct);
        try
        {
            // A session that holds a lock the publication's table list needs (as a running VACUUM or ANALYZE would).
            await using var holder = new NpgsqlConnection(Db.ConnectionString);
            await holder.OpenAsync(Ct);
            await using (var lockTable = new NpgsqlCommand("BEGIN; LOCK TABLE public.debezium_signal IN SHARE UPDATE EXCLUSIVE MODE", holder))
            {
                await lockTable.ExecuteNonQueryAsync(Ct);
            }

            var admin = new NpgsqlConnectionStringBuilder(Fixture.AdminConnectionString);
            var run = RunPasswordScriptAsync(psql, "", [psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "--username", admin.Username!, "--dbname", Db.Name, "-f", script]);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE datname = '{Db.Name}' AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE '%PUBLICATION%'") == 0)
            {
                if (run.IsCompleted)
                {
                    Assert.Fail("the setup script ended before it waited for the table lock: " + (await run).Stderr);
                }

                Assert.True(DateTime.UtcNow < deadline, "the setup script's publication statement never waited for the table lock");
                await Task.Delay(100, Ct);
            }

            // Flushed at its commit even on a cluster with synchronous_commit = off, so the peek below decodes it.
            await Db.ExecuteAsync("BEGIN; SET LOCAL synchronous_commit = on; INSERT INTO public.tb_aud_log (usr_id, act_cd, log_msg) VALUES ('U0000001', 'UP', 'written during the setup script'); COMMIT");
            await using (var commit = new NpgsqlCommand("COMMIT", holder))
            {
                await commit.ExecuteNonQueryAsync(Ct);
            }

            var (exitCode, _, stderr) = await run;
            Assert.True(exitCode == 0, $"postgres-setup.sql failed ({exitCode}): {stderr}");

            // What Debezium's walsender does with the slot: decode from its start with the connector's publication.
            var streamed = (await Db.QueryAsync(
                    $"SELECT encode(data, 'escape') FROM pg_logical_slot_peek_binary_changes('{Db.Slot}', NULL, NULL, 'proto_version', '1', 'publication_names', 'debezium_legacy_pub')"))
                .Select(r => (string)r[0]!).ToList();
            Assert.True(
                streamed.Any(m => m.Contains("written during the setup script", StringComparison.Ordinal)),
                $"the slot does not stream the row written while the setup script ran; pgoutput sent {streamed.Count} message(s): {string.Join(", ", streamed.Select(m => m[..1]))}");
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>
    /// The script granted SELECT on every table of schema public (and, by ALTER DEFAULT PRIVILEGES, on every table the DBA
    /// creates there later) and USAGE on public only: more than the connector reads, and nothing it needs for a captured
    /// table in a legacy schema of its own. It now grants SELECT on exactly the tables it publishes, and USAGE on their schemas.
    /// </summary>
    [Fact]
    public async Task The_DBA_setup_script_grants_SELECT_on_the_published_tables_only_and_USAGE_on_their_schemas()
    {
        await Db.ExecuteAsync("CREATE TABLE public.payroll (id int PRIMARY KEY, salary numeric); " +
                              "CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\".\"OrderLines\" (\"Id\" int PRIMARY KEY, \"Qty\" int)");
        var script = await File.ReadAllTextAsync(SetupScript, Ct);
        const string list = "public.debezium_heartbeat, public.debezium_signal;";
        Assert.Contains(list, script, StringComparison.Ordinal);
        // a DBA adding a table to the publication, as the script's comment says to write it
        await RunSetupScriptAsync(script.Replace(list, "public.debezium_heartbeat, public.debezium_signal, \"Sales\".\"OrderLines\";", StringComparison.Ordinal));

        Assert.False(await Db.ScalarAsync<bool>("SELECT has_table_privilege('cdc', 'public.payroll', 'SELECT')"), "cdc may read a table the connector does not capture");
        Assert.True(await Db.ScalarAsync<bool>("SELECT has_schema_privilege('cdc', 'Sales', 'USAGE')"), "cdc has no USAGE on the schema of a published table");
        Assert.True(await Db.ScalarAsync<bool>("SELECT has_table_privilege('cdc', '\"Sales\".\"OrderLines\"', 'SELECT')"));
        foreach (var table in LegacyTables)
        {
            Assert.True(await Db.ScalarAsync<bool>($"SELECT has_table_privilege('cdc', '{table}', 'SELECT')"), $"cdc cannot read {table}");
        }

        // as the connector's snapshot reads it: the role's own session
        await Db.ExecuteAsync("BEGIN; SET LOCAL ROLE cdc; SELECT count(*) FROM \"Sales\".\"OrderLines\"; COMMIT");
    }

    /// <summary>
    /// A partitioned legacy table added to the script's list was published through its partitions (the publication had no
    /// publish_via_partition_root): its changes arrived under the partitions' names, which table.include.list (the table's
    /// own name) does not capture, and db check failed it. The publication the script creates now sends them under the table's name.
    /// </summary>
    [Fact]
    public async Task A_partitioned_table_added_to_the_scripts_list_is_published_under_its_own_name()
    {
        await Db.ExecuteAsync("CREATE TABLE public.tb_evt_log (id bigint, log_dt date NOT NULL) PARTITION BY RANGE (log_dt); " +
                              "CREATE TABLE public.tb_evt_log_2024 PARTITION OF public.tb_evt_log FOR VALUES FROM ('2024-01-01') TO ('2025-01-01'); " +
                              "ALTER TABLE public.tb_evt_log REPLICA IDENTITY FULL; ALTER TABLE public.tb_evt_log_2024 REPLICA IDENTITY FULL");
        var script = await File.ReadAllTextAsync(SetupScript, Ct);
        const string list = "public.debezium_heartbeat, public.debezium_signal;";
        Assert.Contains(list, script, StringComparison.Ordinal);

        await RunSetupScriptAsync(script.Replace(list, "public.debezium_heartbeat, public.debezium_signal, public.tb_evt_log;", StringComparison.Ordinal));

        var published = (await Db.QueryAsync("SELECT tablename FROM pg_publication_tables WHERE pubname = 'debezium_legacy_pub' AND tablename LIKE 'tb_evt_log%'"))
            .Select(r => (string)r[0]!).ToList();
        Assert.Equal(["tb_evt_log"], published);
    }

    /// <summary>
    /// ALTER TABLE … REPLICA IDENTITY takes an ACCESS EXCLUSIVE lock: it waits for an open transaction that read the table, and
    /// every query of the application waits behind it. The script ran it on every run, with no lock_timeout, after publishing
    /// the tables: run again on a live database ("safe to run on the live database") it waited for as long as any transaction
    /// that had read tb_ord_mst stayed open. A table already FULL is now left alone.
    /// </summary>
    [Fact]
    public async Task Running_the_DBA_setup_script_again_takes_no_lock_on_a_legacy_table_already_set_up()
    {
        var psql = PsqlOrSkip();
        await RunSetupScriptAsync();
        await using var reader = new NpgsqlConnection(Db.ConnectionString);
        await reader.OpenAsync(Ct);
        await using (var open = new NpgsqlCommand("BEGIN; SELECT count(*) FROM public.tb_ord_mst", reader))
        {
            await open.ExecuteNonQueryAsync(Ct);
        }

        var run = RunScriptWithPsqlAsync(psql, await File.ReadAllTextAsync(SetupScript, Ct));
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20), Ct));
        await using (var commit = new NpgsqlCommand("COMMIT", reader))
        {
            await commit.ExecuteNonQueryAsync(Ct);
        }

        Assert.True(finished == run, "postgres-setup.sql run again waited for a transaction that had read public.tb_ord_mst (its ALTER TABLE … REPLICA IDENTITY queued for an ACCESS EXCLUSIVE lock)");
        var (exitCode, _, stderr) = await run;
        Assert.True(exitCode == 0, $"postgres-setup.sql failed ({exitCode}): {stderr}");
    }

    /// <summary>
    /// A first run on a live database that cannot get a table's lock at once: it waited without limit, having already
    /// published tb_aud_log (no key, replica identity DEFAULT) — from then until the ALTER TABLE ran, PostgreSQL refused the
    /// application's UPDATE and DELETE on it, and for good if the DBA cancelled the waiting script. Now the replica identity
    /// comes first, under a lock_timeout: the script stops after 5 s, before publishing, and the application's UPDATE works.
    /// </summary>
    [Fact]
    public async Task A_first_run_that_cannot_lock_a_legacy_table_stops_within_the_lock_timeout_before_it_publishes_anything()
    {
        var psql = PsqlOrSkip();
        await using var reader = new NpgsqlConnection(Db.ConnectionString);
        await reader.OpenAsync(Ct);
        await using (var open = new NpgsqlCommand("BEGIN; SELECT count(*) FROM public.tb_aud_log", reader))
        {
            await open.ExecuteNonQueryAsync(Ct);
        }

        var started = DateTime.UtcNow;
        var run = RunScriptWithPsqlAsync(psql, await File.ReadAllTextAsync(SetupScript, Ct));
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30), Ct));
        await using (var commit = new NpgsqlCommand("COMMIT", reader))
        {
            await commit.ExecuteNonQueryAsync(Ct);
        }

        Assert.True(finished == run, "postgres-setup.sql waited more than 30 s for the lock of public.tb_aud_log");
        var (exitCode, _, stderr) = await run;
        Assert.True(exitCode != 0, "postgres-setup.sql got a lock held by an open transaction");
        Assert.Contains("lock timeout", stderr, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), $"it stopped only after {DateTime.UtcNow - started}");
        Assert.Equal(0L, await Db.ScalarAsync<long>("SELECT count(*) FROM pg_publication_tables WHERE pubname = 'debezium_legacy_pub'"));
        await Db.ExecuteAsync("UPDATE public.tb_aud_log SET log_msg = log_msg");

        // the long transaction over, the same script runs through
        var again = await RunScriptWithPsqlAsync(psql, await File.ReadAllTextAsync(SetupScript, Ct));
        Assert.True(again.ExitCode == 0, $"postgres-setup.sql failed ({again.ExitCode}): {again.Stderr}");
        Assert.Equal("f", await Db.ScalarAsync<string>("SELECT relreplident::text FROM pg_class WHERE oid = 'public.tb_aud_log'::regclass"));
        await Db.ExecuteAsync("UPDATE public.tb_aud_log SET log_msg = log_msg");
    }

    [Fact]
    public async Task The_compose_password_script_gives_the_cdc_role_the_password_Kafka_Connect_is_given()
    {
        var psql = PsqlOrSkip();
        await RunSetupScriptAsync();
        var password = "pw-" + Guid.NewGuid().ToString("N");

        var (exitCode, stdout, stderr) = await RunPasswordScriptAsync(psql, password, ["bash", PasswordScript]);

        Assert.True(exitCode == 0, $"cdc-password.sh failed ({exitCode}): {stderr}");
        Assert.DoesNotContain(password, stdout + stderr, StringComparison.Ordinal);
        await AssertCdcPasswordIsAsync(password);
    }

    /// <summary>
    /// The postgres image's entrypoint (docker-library/postgres docker-entrypoint.sh, docker_process_init_files) runs
    /// an init *.sh that is executable and sources one that is not (`. "$f"` inside its own bash, under
    /// `set -Eeo pipefail`): a checkout or copy that drops the x bit makes it sourced. Sourced, an `exit` ends the
    /// entrypoint itself (the server never starts, and a restart skips the init because the data directory exists),
    /// and a `set -u` stays on for the rest of the entrypoint. Here the script is sourced the same way.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_compose_password_script_leaves_the_entrypoint_running_and_its_shell_options_unchanged_when_sourced(bool passwordGiven)
    {
        var psql = PsqlOrSkip();
        await RunSetupScriptAsync();
        var password = passwordGiven ? "pw-" + Guid.NewGuid().ToString("N") : "";
        const string entrypoint = """
            set -Eeo pipefail
            before="$(set +o)"
            docker_process_init_files() {
              local f
              for f; do
                printf '%s: sourcing %s\n' "$0" "$f"
                . "$f"
              done
            }
            docker_process_init_files "$1"
            after="$(set +o)"
            if [ "$before" != "$after" ]; then
              printf 'shell options changed by %s:\n%s\n' "$1" "$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))" >&2
              exit 3
            fi
            echo 'entrypoint continued'
            """;

        var (exitCode, stdout, stderr) = await RunPasswordScriptAsync(psql, password, ["bash", "-c", entrypoint, "docker-entrypoint.sh", PasswordScript]);

        Assert.True(exitCode == 0, $"the entrypoint sourcing cdc-password.sh ended with {exitCode}: {stderr}");
        Assert.Contains("entrypoint continued", stdout, StringComparison.Ordinal);
        if (passwordGiven)
        {
            Assert.DoesNotContain(password, stdout + stderr, StringComparison.Ordinal);
            await AssertCdcPasswordIsAsync(password);
        }
        else
        {
            Assert.Contains("CDC_DB_PASSWORD is empty", stderr, StringComparison.Ordinal);
        }
    }

    private static string PasswordScript => Path.Combine(PostgresFixture.RepoRoot, "connector-config", "cdc-password.sh");

    private static string SetupScript => Path.Combine(PostgresFixture.RepoRoot, "connector-config", "postgres-setup.sql");

    private static string PsqlOrSkip()
    {
        var psql = new[] { "/usr/bin/psql", "/usr/lib/postgresql/15/bin/psql" }.FirstOrDefault(File.Exists);
        if (psql is null)
        {
            Assert.Skip("psql not installed (Debian package postgresql-client-15): connector-config/cdc-password.sh runs it");
        }

        return psql;
    }

    /// <summary>Runs <paramref name="argv"/> with what the postgres image's entrypoint gives its init scripts, plus libpq's settings for this cluster.</summary>
    private async Task<(int ExitCode, string Stdout, string Stderr)> RunPasswordScriptAsync(string psql, string password, string[] argv)
    {
        var admin = new NpgsqlConnectionStringBuilder(Fixture.AdminConnectionString);
        var psi = new ProcessStartInfo(argv[0], argv[1..])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        psi.Environment["PATH"] = Path.GetDirectoryName(psql) + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["POSTGRES_USER"] = admin.Username;
        psi.Environment["POSTGRES_DB"] = Db.Name;
        psi.Environment["PGHOST"] = admin.Host;
        psi.Environment["PGPORT"] = admin.Port.ToString(CultureInfo.InvariantCulture);
        psi.Environment["PGPASSWORD"] = admin.Password ?? "";
        psi.Environment["CDC_DB_PASSWORD"] = password;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        var stdout = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, stdout, await stderr);
    }

    private async Task AssertCdcPasswordIsAsync(string password)
    {
        var verifier = await Db.ScalarAsync<string>("SELECT rolpassword FROM pg_authid WHERE rolname = 'cdc'");
        Assert.True(ScramVerifier.Matches(verifier, password), "the cdc role's password is the one given in CDC_DB_PASSWORD");
        Assert.False(ScramVerifier.Matches(verifier, "cdc"), "the script's laptop default was replaced");
    }

    /// <summary>Runs connector-config/postgres-setup.sql (or <paramref name="script"/>) on this test's database (the script names the compose database, legacy).</summary>
    private async Task RunSetupScriptAsync(string? script = null)
    {
        script ??= await File.ReadAllTextAsync(SetupScript, Ct);
        Assert.Contains("ON DATABASE legacy ", script, StringComparison.Ordinal);
        await Db.ExecuteAsync(script.Replace("ON DATABASE legacy ", $"ON DATABASE \"{Db.Name}\" ", StringComparison.Ordinal));
    }

    /// <summary>Runs <paramref name="script"/> on this test's database as a DBA does: psql -v ON_ERROR_STOP=1 -f, a transaction per statement.</summary>
    private async Task<(int ExitCode, string Stdout, string Stderr)> RunScriptWithPsqlAsync(string psql, string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"postgres-setup-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(file, script.Replace("ON DATABASE legacy ", $"ON DATABASE \"{Db.Name}\" ", StringComparison.Ordinal), Ct);
        try
        {
            var admin = new NpgsqlConnectionStringBuilder(Fixture.AdminConnectionString);
            return await RunPasswordScriptAsync(psql, "", [psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "--username", admin.Username!, "--dbname", Db.Name, "-f", file]);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
