using System.Text.Json;
using CdcPipeline.Commands;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary><c>slot list | lag | drop</c> against real slots, one of them held by a live replication connection.</summary>
public sealed class SlotCommandTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    private string Idle => Db.Slot + "_idle";

    private string Busy => Db.Slot + "_busy";

    private async Task<(LogicalReplicationConnection Connection, CancellationTokenSource Stop, Task Reading)> CreateSlotsAsync()
    {
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE tb_ord_mst");
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput'); SELECT pg_create_logical_replication_slot('{Busy}', 'pgoutput')");
        var replication = new LogicalReplicationConnection(Db.ConnectionString);
        await replication.Open(Ct);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var _ in replication.StartReplication(new PgOutputReplicationSlot(Busy), new PgOutputReplicationOptions(Db.Publication, PgOutputProtocolVersion.V1), stop.Token))
                {
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await Db.ScalarAsync<bool>($"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = '{Busy}'), false)"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the replication connection did not take the slot in time");
            await Task.Delay(20, Ct);
        }

        // some WAL after the slots' creation, so the idle slot has lag
        await Db.ExecuteAsync("INSERT INTO tb_aud_log (usr_id, act_cd, log_msg) SELECT 'BATCH', 'LG', repeat('x', 150) FROM generate_series(1, 500)");
        return (replication, stop, reading);
    }

    private static async Task StopAsync((LogicalReplicationConnection Connection, CancellationTokenSource Stop, Task Reading) busy)
    {
        await busy.Stop.CancelAsync();
        await busy.Reading;
        await busy.Connection.DisposeAsync();
        busy.Stop.Dispose();
    }

    private async Task<bool> SlotExistsAsync(string slot) =>
        await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'") == 1;

    [Fact]
    public async Task List_shows_both_slots_with_who_holds_the_active_one()
    {
        var busy = await CreateSlotsAsync();
        try
        {
            var result = await Cli.RunAsync("slot", "list", "--connection", Db.ConnectionString, "--json");

            Assert.Equal(0, result.Code);
            using var json = JsonDocument.Parse(result.Stdout);
            var slots = json.RootElement.EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
            var held = slots[Busy];
            Assert.True(held.GetProperty("active").GetBoolean());
            var pid = await Db.ScalarAsync<int>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{Busy}'");
            Assert.Equal(pid, held.GetProperty("activePid").GetInt32());
            Assert.Equal("pgoutput", held.GetProperty("plugin").GetString());
            Assert.Equal(Db.Name, held.GetProperty("database").GetString());
            var idle = slots[Idle];
            Assert.False(idle.GetProperty("active").GetBoolean());
            Assert.True(idle.GetProperty("lagBytes").GetInt64() > 0);
            Assert.Equal("reserved", idle.GetProperty("walStatus").GetString());

            var text = await Cli.RunAsync("slot", "list", "--connection", Db.ConnectionString);
            var line = text.Stdout.Split('\n').Single(l => l.StartsWith(Busy + " ", StringComparison.Ordinal));
            Assert.Contains(" yes ", line, StringComparison.Ordinal);
            Assert.Contains(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), line, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(busy);
        }
    }

    [Fact]
    public async Task Lag_exits_1_over_the_limit_and_0_under_it()
    {
        var busy = await CreateSlotsAsync();
        try
        {
            // pg_current_wal_lsn() is the write position: on a cluster with synchronous_commit off the WAL writer takes it
            // past the inserts within wal_writer_delay, not at their commit (read at once, it failed once under load);
            // scripts/pg-start.sh now turns it on, and the wait keeps the test right on a cluster that has it off
            var sql = $"SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '{Idle}'";
            var lag = await Db.ScalarAsync<long>(sql);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (lag <= 1024 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, Ct);
                lag = await Db.ScalarAsync<long>(sql);
            }

            Assert.True(lag > 1024, $"the idle slot's lag stayed at {lag} bytes");

            var over = await Cli.RunAsync("slot", "lag", Idle, "--connection", Db.ConnectionString, "--max-lag", "1kB");
            var under = await Cli.RunAsync("slot", "lag", Idle, "--connection", Db.ConnectionString, "--max-lag", "1GB");
            var noLimit = await Cli.RunAsync("slot", "lag", Idle, "--connection", Db.ConnectionString);
            var missing = await Cli.RunAsync("slot", "lag", Db.Slot + "_missing", "--connection", Db.ConnectionString);

            Assert.Equal(1, over.Code);
            Assert.Contains("OVER --max-lag 1 kB", over.Stdout, StringComparison.Ordinal);
            Assert.Equal(0, under.Code);
            Assert.Equal(0, noLimit.Code);
            Assert.Equal(1, missing.Code);
            Assert.Contains("no replication slot named", missing.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(busy);
        }
    }

    [Fact]
    public async Task A_slot_name_that_is_not_there_suggests_the_near_one_and_slot_list()
    {
        // Was: "no replication slot named 'x'" and nothing else, for a typo of a slot that is right there.
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
        var typo = Idle[..^1];

        var lag = await Cli.RunAsync("slot", "lag", typo, "--connection", Db.ConnectionString);
        var drop = await Cli.RunAsync("slot", "drop", typo, "--connection", Db.ConnectionString, "--yes");

        foreach (var result in new[] { lag, drop })
        {
            Assert.Equal(1, result.Code);
            Assert.Contains($"no replication slot named '{typo}'", result.Stderr, StringComparison.Ordinal);
            Assert.Contains($"did you mean '{Idle}'?", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("cdcpipeline slot list", result.Stderr, StringComparison.Ordinal);
        }

        Assert.True(await SlotExistsAsync(Idle));
    }

    [Fact]
    public async Task Drop_refuses_an_active_slot_naming_its_pid_and_client()
    {
        var busy = await CreateSlotsAsync();
        try
        {
            var pid = await Db.ScalarAsync<int>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{Busy}'");

            var result = await Cli.RunAsync("slot", "drop", Busy, "--connection", Db.ConnectionString, "--yes");

            Assert.Equal(1, result.Code);
            Assert.Contains($"refusing to drop replication slot '{Busy}': it is ACTIVE, held by pid {pid}", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("client 127.0.0.1", result.Stderr, StringComparison.Ordinal);
            Assert.True(await SlotExistsAsync(Busy));
        }
        finally
        {
            await StopAsync(busy);
        }
    }

    [Fact]
    public async Task Drop_asks_for_the_slot_name_and_drops_only_on_a_match()
    {
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput'); SELECT pg_create_logical_replication_slot('{Busy}', 'pgoutput')");

        SlotCommand.ConfirmationInput.Value = new StringReader("not-the-name\n");
        var wrong = await Cli.RunAsync("slot", "drop", Idle, "--connection", Db.ConnectionString);
        Assert.Equal(1, wrong.Code);
        Assert.Contains("Type the slot name to confirm", wrong.Stdout, StringComparison.Ordinal);
        Assert.Contains("nothing dropped", wrong.Stderr, StringComparison.Ordinal);
        Assert.True(await SlotExistsAsync(Idle));

        SlotCommand.ConfirmationInput.Value = new StringReader(Idle + "\n");
        var right = await Cli.RunAsync("slot", "drop", Idle, "--connection", Db.ConnectionString);
        Assert.Equal(0, right.Code);
        Assert.Contains($"dropped replication slot '{Idle}'", right.Stdout, StringComparison.Ordinal);
        Assert.False(await SlotExistsAsync(Idle));

        SlotCommand.ConfirmationInput.Value = new StringReader(""); // --yes must not read
        var yes = await Cli.RunAsync("slot", "drop", Busy, "--connection", Db.ConnectionString, "--yes");
        Assert.Equal(0, yes.Code);
        Assert.False(await SlotExistsAsync(Busy));

        var gone = await Cli.RunAsync("slot", "drop", Busy, "--connection", Db.ConnectionString, "--yes");
        Assert.Equal(1, gone.Code);
        Assert.Contains("no replication slot named", gone.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drop_names_the_state_file_a_pipeline_that_read_the_slot_needs_deleted_and_the_lock_files_beside_it()
    {
        // It said "its state file (.run/state/<slot>.snapshot.json) is deleted", not that the .lock beside it may go too,
        // and with --yes said nothing of the state file at all.
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput'); SELECT pg_create_logical_replication_slot('{Busy}', 'pgoutput')");

        SlotCommand.ConfirmationInput.Value = new StringReader(Idle + "\n");
        var asked = await Cli.RunAsync("slot", "drop", Idle, "--connection", Db.ConnectionString);
        SlotCommand.ConfirmationInput.Value = new StringReader("");
        var yes = await Cli.RunAsync("slot", "drop", Busy, "--connection", Db.ConnectionString, "--yes");

        foreach (var (slot, drop) in new[] { (Idle, asked), (Busy, yes) })
        {
            Assert.Equal(0, drop.Code);
            Assert.Contains($"{slot}.snapshot.json in its source.postgres.stateDirectory", drop.Stdout, StringComparison.Ordinal);
            Assert.Contains($"{slot}.snapshot.json.lock and {slot}.snapshot.json.lock.owner", drop.Stdout, StringComparison.Ordinal);
            Assert.Contains("may be deleted with it", drop.Stdout, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// <c>slot drop --config FILE</c> of the file's own slot named the default <c>.run/state/</c> for the state file whatever the file's
    /// <c>source.postgres.stateDirectory</c>: now the file run reads, resolved as run resolves it (a relative directory beside the
    /// configuration file; unset, <c>.run/state</c> under the working directory), with the setting and its line.
    /// </summary>
    [Fact]
    public async Task Drop_with_config_names_the_state_file_in_the_configured_state_directory()
    {
        var dir = Directory.CreateTempSubdirectory("cdc-slotdrop-").FullName;
        try
        {
            string Config(string name, string? stateDirectory) => WriteConfig(dir, name, Idle, stateDirectory);
            var relative = Config("relative.yaml", "pipeline-state");
            var unset = Config("unset.yaml", null);
            var otherSlot = Config("other.yaml", "pipeline-state");
            Directory.CreateDirectory(Path.Combine(dir, "pipeline-state"));
            await File.WriteAllTextAsync(Path.Combine(dir, "pipeline-state", Idle + ".snapshot.json"), "{}", Ct);

            await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
            SlotCommand.ConfirmationInput.Value = new StringReader(Idle + "\n");
            var asked = await Cli.RunAsync("slot", "drop", Idle, "--config", relative);
            await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
            var yes = await Cli.RunAsync("slot", "drop", Idle, "--config", relative, "--yes");
            foreach (var drop in new[] { asked, yes })
            {
                Assert.True(drop.Code == 0, drop.Stdout + drop.Stderr);
                var file = Path.Combine(dir, "pipeline-state", Idle + ".snapshot.json");
                Assert.Contains($"its state file {file} (source.postgres.stateDirectory ({relative}:", drop.Stdout, StringComparison.Ordinal);
                Assert.Contains("; it is there)", drop.Stdout, StringComparison.Ordinal);
                Assert.DoesNotContain("by default .run/state/", drop.Stdout, StringComparison.Ordinal);
                Assert.Contains($"{Idle}.snapshot.json.lock and {Idle}.snapshot.json.lock.owner", drop.Stdout, StringComparison.Ordinal);
            }

            // unset: the default under the working directory, said as such
            await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
            var byDefault = await Cli.RunAsync("slot", "drop", Idle, "--config", unset, "--yes");
            Assert.True(byDefault.Code == 0, byDefault.Stdout + byDefault.Stderr);
            Assert.Contains($"its state file {Path.GetFullPath(Path.Combine(".run", "state", Idle + ".snapshot.json"))} (source.postgres.stateDirectory is not set: " +
                ".run/state under the working directory; it is not there", byDefault.Stdout, StringComparison.Ordinal);

            // a slot that is not the file's: not that pipeline's state file, the general words
            await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Busy}', 'pgoutput')");
            var notItsSlot = await Cli.RunAsync("slot", "drop", Busy, "--config", otherSlot, "--yes");
            Assert.True(notItsSlot.Code == 0, notItsSlot.Stdout + notItsSlot.Stderr);
            Assert.Contains($"{Busy}.snapshot.json in its source.postgres.stateDirectory, by default .run/state/", notItsSlot.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A slot dropped without the embedded pipeline's configuration may be a Debezium connector's (README's own teardown of the
    /// Debezium path drops it with --connection): the advice was only the embedded pipeline's state file, which Debezium does not
    /// have. Its position is in Kafka Connect's offsets, and with snapshot.mode initial and offsets stored it does not snapshot
    /// again: the advice says so and what to do. The embedded pipeline's own slot (--config of its file) keeps the embedded words.
    /// </summary>
    [Fact]
    public async Task Drop_of_a_slot_that_may_be_a_debezium_connectors_says_what_the_connector_does_after_it()
    {
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
        var drop = await Cli.RunAsync("slot", "drop", Idle, "--connection", Db.ConnectionString, "--yes");
        Assert.True(drop.Code == 0, drop.Stdout + drop.Stderr);
        Assert.Contains("If a Debezium connector read it, its position is in Kafka Connect's offsets", drop.Stdout, StringComparison.Ordinal);
        Assert.Contains("snapshot.mode initial", drop.Stdout, StringComparison.Ordinal);
        Assert.Contains("does not snapshot again", drop.Stdout, StringComparison.Ordinal);
        Assert.Contains("/offsets", drop.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"Removing everything when the pilot ends\"", drop.Stdout, StringComparison.Ordinal);
        Assert.Contains("If the embedded pipeline (source.postgres) read it", drop.Stdout, StringComparison.Ordinal);

        // the embedded pipeline's own slot: its state file only
        var dir = Directory.CreateTempSubdirectory("cdc-slotdrop-").FullName;
        try
        {
            var config = WriteConfig(dir, "own.yaml", Idle, "pipeline-state");
            await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
            var own = await Cli.RunAsync("slot", "drop", Idle, "--config", config, "--yes");
            Assert.True(own.Code == 0, own.Stdout + own.Stderr);
            Assert.Contains(Path.Combine(dir, "pipeline-state", Idle + ".snapshot.json"), own.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("Debezium", own.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private string WriteConfig(string dir, string name, string slot, string? stateDirectory)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, $"""
            name: slotdrop
            source:
              postgres:
                connectionString: "{Db.ConnectionString}"
                slot: {(name == "other.yaml" ? slot + "_x" : slot)}
                tables: [public.tb_ord_mst]
            {(stateDirectory is null ? "" : $"    stateDirectory: {stateDirectory}")}
            sinks:
              - name: out
                file: {"{"} path: out.jsonl {"}"}
            """);
        return path;
    }

    [Fact]
    public async Task Drop_by_a_role_that_may_not_drop_slots_says_why_without_a_stack_trace()
    {
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Idle}', 'pgoutput')");
        var role = NewRoleName("nodrop");
        await AdminExecuteAsync($"CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-{role}'");

        var result = await Cli.RunAsync("slot", "drop", Idle, "--connection", ConnectionStringAs(role, "pw-" + role), "--yes");

        Assert.Equal(1, result.Code);
        Assert.Contains($"cannot drop replication slot '{Idle}'", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("REPLICATION", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("pw-" + role, result.Stderr + result.Stdout, StringComparison.Ordinal);
        Assert.True(await SlotExistsAsync(Idle));
    }
}
