using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// The slot's life as an operator meets it: dropped between runs while the state file shows this pipeline read it
/// (a <c>slot drop</c>, a failover to a replica without it, a restore), or a slot of the same name that is not this
/// pipeline's (another plugin, another database). The capture must never start silently from "now" over a gap.
/// </summary>
public sealed class PgOutputSlotLifeTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private string StatePath => Path.Combine(StateDirectory, Db.Slot + ".snapshot.json");

    /// <summary>A first run that streams one change, acknowledges it and stops; then the slot is dropped and a row written in the gap.</summary>
    private async Task<ChangeEvent> RunOnceThenDropTheSlotAsync(PostgresSourceOptions options)
    {
        var delivered = await RunOnceAsync(options);
        await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{Db.Slot}')");
        await Db.ExecuteAsync("INSERT INTO t VALUES (2)"); // written while the pipeline had no slot
        return delivered;
    }

    /// <summary>A first run that streams one change, acknowledges it (the slot confirms past it) and stops, leaving its state file.</summary>
    private async Task<ChangeEvent> RunOnceAsync(PostgresSourceOptions options)
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var first = await OpenStreamingAsync(options);
        await Db.ExecuteAsync("INSERT INTO t VALUES (1)");
        var delivered = (await first.TakeAsync(1)).Single(e => e.Kind == ChangeKind.Change && e.Operation != ChangeOperation.Read);
        await first.AcknowledgeAsync([delivered]);
        // the transaction's COMMIT is read by the next pull; then the acknowledgement reaches the slot
        await first.NextAsync(TimeSpan.FromMilliseconds(200));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await Db.ConfirmedFlushAsync() <= (ulong)delivered.Position.Major)
        {
            Assert.True(DateTime.UtcNow < deadline, "the acknowledgement did not reach the slot");
            await Task.Delay(20, Ct);
        }

        await first.DisposeAsync();
        Assert.True(File.Exists(StatePath), "the first run left no state file");
        return delivered;
    }

    [Fact]
    public async Task A_slot_dropped_between_runs_stops_the_next_run_naming_the_slot_the_position_and_the_choices()
    {
        var delivered = await RunOnceThenDropTheSlotAsync(Options());

        var second = Open(Options());
        // before the fix the second run created a fresh slot and streamed from "now": row 2 was lost without a word
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains($"replication slot '{Db.Slot}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains(StatePath, e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
        // what deleting the state file does, per snapshot mode, as the start does it
        Assert.Contains("or delete the state file to accept the gap: the next start creates the slot again, and with snapshot: initial reads the tables, " +
            "then streams from the new slot's position; with snapshot: never it only streams from there", e.Message, StringComparison.Ordinal);
        // the stored position: at least the end of the acknowledged transaction
        var stored = NpgsqlLogSequenceNumber.Parse(System.Text.RegularExpressions.Regex.Match(e.Message, @"confirmed up to ([0-9A-F]+/[0-9A-F]+)").Groups[1].Value);
        Assert.True((ulong)stored > (ulong)delivered.Position.Major, $"the stored position {stored} is not past the acknowledged commit");
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
    }

    [Fact]
    public async Task A_slot_dropped_between_the_check_and_the_start_stops_with_the_slot_gone_error()
    {
        await RunOnceAsync(Options());
        var dropped = false;
        var second = Open(new PgOutputChangeSource(Options(), Logs)
        {
            // the slot passed every check; it is dropped before START_REPLICATION reaches it
            BeforeStartReplication = async _ =>
            {
                if (!dropped)
                {
                    await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{Db.Slot}')");
                    dropped = true;
                }
            },
        });

        // before the fix: PostgreSQL's bare 42704 'replication slot "…" does not exist', which ran shows as a bug with its trace
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.True(dropped, $"the source failed before START_REPLICATION: {e}");
        Assert.Contains($"replication slot '{Db.Slot}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains(StatePath, e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
        Assert.Equal(PostgresErrorCodes.UndefinedObject, Assert.IsType<PostgresException>(e.InnerException).SqlState);
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
    }

    [Fact]
    public async Task A_publication_dropped_while_streaming_stops_naming_it_and_the_choices_also_after_the_next_start_creates_it_again()
    {
        await RunOnceAsync(Options()); // row 1 confirmed: the slot starts after it
        var streaming = Open(Options());
        await streaming.NextAsync(TimeSpan.FromMilliseconds(50));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!((PgOutputChangeSource)streaming.Source).IsConnected)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not start streaming");
            await Task.Delay(20, Ct);
        }

        await Db.ExecuteAsync($"DROP PUBLICATION {Db.Publication}");
        await Db.ExecuteAsync("INSERT INTO t VALUES (2)"); // the walsender decodes it with the catalog of its time: no publication

        // before the fix: PostgreSQL's bare 42704 'publication "…" does not exist', which run shows as a bug with its trace
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => streaming.TakeAsync(1, c => c.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20)));
        AssertPublicationStop(e);
        Assert.Equal(PostgresErrorCodes.UndefinedObject, Assert.IsType<PostgresException>(e.InnerException).SqlState);
        await streaming.DisposeAsync();

        // createPublicationIfMissing (the default) creates it again at the next start. PostgreSQL before 18 still decodes
        // row 2 without it, so the capture stops the same way rather than skipping it; the start says what it cannot stream.
        var next = Open(Options());
        var again = await Assert.ThrowsAsync<CaptureStoppedException>(() => next.TakeAsync(1, c => c.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20)));
        AssertPublicationStop(again);
        Assert.Equal(1L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{Db.Publication}'"));
        List<string> lines;
        lock (Logs.Lines)
        {
            lines = [.. Logs.Lines];
        }

        var created = Assert.Single(lines, l => l.Contains(" Warning ", StringComparison.Ordinal) && l.Contains($"Publication {Db.Publication} ", StringComparison.Ordinal)
            && l.Contains("created", StringComparison.Ordinal));
        Assert.Contains(Db.Slot, created, StringComparison.Ordinal);
        Assert.Matches(@"[0-9A-F]+/[0-9A-F]+ to [0-9A-F]+/[0-9A-F]+", created);
    }

    private void AssertPublicationStop(CaptureStoppedException e)
    {
        Assert.Contains($"publication '{Db.Publication}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"replication slot '{Db.Slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("db prepare --apply", e.Message, StringComparison.Ordinal);
        Assert.Contains($"cdcpipeline slot drop {Db.Slot}", e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
        Assert.Contains($"pg_replication_slot_advance('{Db.Slot}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_snapshot_initial_a_dropped_slot_is_not_silently_replaced_by_a_full_re_snapshot()
    {
        await RunOnceThenDropTheSlotAsync(Options(snapshot: SnapshotMode.Initial));

        var second = Open(Options(snapshot: SnapshotMode.Initial));
        // before the fix: a new slot and the whole table again as op r, without a word (and deletes in the gap never told)
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains($"replication slot '{Db.Slot}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_snapshot_when_needed_a_dropped_slot_is_recreated_and_the_tables_are_read_again()
    {
        await RunOnceThenDropTheSlotAsync(Options(snapshot: SnapshotMode.WhenNeeded));

        var second = Open(Options(snapshot: SnapshotMode.WhenNeeded));
        var reads = await second.TakeAsync(2);
        await Db.ExecuteAsync("INSERT INTO t VALUES (3)");
        var streamed = await second.TakeAsync(1);

        Assert.All(reads, r => Assert.Equal(ChangeOperation.Read, r.Operation));
        Assert.Equal(["1", "2"], reads.Select(r => r.After!["id"]!.ToString()).Order());
        Assert.Equal("3", streamed.Single().After!["id"]!.ToString());
        Assert.Contains(Logs.Lines, l => l.Contains(Db.Slot, StringComparison.Ordinal) && l.Contains("snapshot", StringComparison.OrdinalIgnoreCase) && l.Contains("does not exist", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_state_file_ahead_of_the_servers_WAL_stops_the_next_run_naming_slot_file_both_positions_and_the_choices()
    {
        // As after a restore from a backup, or a failover to a replica that lagged: the pipeline read a history that this
        // server does not have; its WAL positions will be reused by other changes.
        await RunOnceAsync(Options());
        var server = (ulong)await Db.ScalarAsync<long>("SELECT (pg_current_wal_lsn() - '0/0')::bigint");
        var ahead = server + 0x4000_0000UL;
        var state = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(StatePath, Ct))!;
        state["ConfirmedLsn"] = ahead;
        await File.WriteAllTextAsync(StatePath, state.ToJsonString(), Ct);
        var slotBefore = await Db.ConfirmedFlushAsync();
        await Db.ExecuteAsync("INSERT INTO t VALUES (2)");

        var second = Open(Options());
        // before the fix the run streamed on: a change at a position it had "already" confirmed, and what came after
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains($"'{Db.Slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(StatePath, e.Message, StringComparison.Ordinal);
        Assert.Contains(new NpgsqlLogSequenceNumber(ahead).ToString(), e.Message, StringComparison.Ordinal);
        var named = NpgsqlLogSequenceNumber.Parse(System.Text.RegularExpressions.Regex.Match(e.Message, @"server's WAL position is ([0-9A-F]+/[0-9A-F]+)").Groups[1].Value);
        Assert.InRange((ulong)named, server, ahead - 1);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
        Assert.Contains("delete the state file", e.Message, StringComparison.Ordinal);
        Assert.Equal(slotBefore, await Db.ConfirmedFlushAsync());
    }

    [Fact]
    public async Task A_slot_of_the_same_name_made_by_pg_recvlogical_with_test_decoding_is_refused_naming_its_plugin()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Db.Slot}', 'test_decoding')");

        var reader = Open(Options());
        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains($"replication slot '{Db.Slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("test_decoding", e.Message, StringComparison.Ordinal);
        Assert.Contains("pgoutput", e.Message, StringComparison.Ordinal);
        Assert.Contains("source.postgres.slot", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slot_of_the_same_name_on_another_database_is_refused_naming_both_databases()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        await using var other = await Fixture.CreateDatabaseAsync("SlotLifeOther");
        await other.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Db.Slot}', 'pgoutput')");

        var reader = Open(Options());
        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains($"replication slot '{Db.Slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(other.Name, e.Message, StringComparison.Ordinal);
        Assert.Contains(Db.Name, e.Message, StringComparison.Ordinal);
        Assert.Contains("source.postgres.slot", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Event 61, the slot check that runs every slotCheckInterval when heartbeats are off, failing to read the slot: the capture
    /// role loses the privilege the query needs (a hardening REVOKE on pg_replication_slots). Before, each interval logged the
    /// failure again with its stack trace (an environment's refusal taken for a bug). Now it is one warning, a line that names
    /// the refusal, the role and what to grant, while the same failure lasts; the capture goes on; the check working again
    /// is said (event 63).
    /// </summary>
    [Fact]
    public async Task A_slot_check_the_role_may_no_longer_run_is_one_warning_and_the_capture_goes_on()
    {
        var role = ("r_slotcheck_" + Guid.NewGuid().ToString("N")[..8]).ToLowerInvariant();
        await using (var admin = new NpgsqlConnection(Fixture.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var create = new NpgsqlCommand($"CREATE ROLE \"{role}\" LOGIN REPLICATION PASSWORD 'pw'", admin);
            await create.ExecuteNonQueryAsync(Ct);
        }

        try
        {
            await Db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY); GRANT SELECT ON t TO \"{role}\"; CREATE PUBLICATION {Db.Publication} FOR TABLE t");
            var options = Options(["public.t"]) with
            {
                ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Username = role, Password = "pw" }.ConnectionString,
                SlotCheckInterval = TimeSpan.FromMilliseconds(200),
            };
            await using var reader = await OpenStreamingAsync(options);
            // past the stream's start, which reads the slot too (a refusal there stops the capture: it cannot tell a dropped slot)
            var streaming = DateTime.UtcNow.AddSeconds(20);
            while (!Logged("Starting replication from slot"))
            {
                Assert.True(DateTime.UtcNow < streaming, "the source did not start streaming");
                Assert.Null(await reader.NextAsync(TimeSpan.FromMilliseconds(50)));
            }

            await Db.ExecuteAsync("REVOKE SELECT ON pg_catalog.pg_replication_slots FROM PUBLIC");
            await Task.Delay(TimeSpan.FromSeconds(2), Ct); // ten checks
            await Db.ExecuteAsync("INSERT INTO t VALUES (1)");
            var inserted = Assert.Single(await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));
            Assert.Equal("1", inserted.After!["id"]!.ToString());

            // before the fix: one warning per interval, each with the exception
            var warning = Assert.Single(SlotCheckLines(" Warning "));
            Assert.Contains($"Slot check for slot {Db.Slot} (wal_status and lag, heartbeats off) failed: permission denied for view pg_replication_slots", warning, StringComparison.Ordinal);
            Assert.Contains($"role {role}", warning, StringComparison.Ordinal);
            Assert.Contains($"GRANT SELECT ON pg_catalog.pg_replication_slots TO \"{role}\";", warning, StringComparison.Ordinal);
            Assert.DoesNotContain(" | ", warning, StringComparison.Ordinal); // no exception: the environment's refusal, not a bug

            await Db.ExecuteAsync("GRANT SELECT ON pg_catalog.pg_replication_slots TO PUBLIC");
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (SlotCheckLines(" Information ").Count == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the slot check working again was not said");
                await Task.Delay(100, Ct);
            }

            Assert.Contains($"Slot check for slot {Db.Slot} works again", Assert.Single(SlotCheckLines(" Information ")), StringComparison.Ordinal);
            Assert.Single(SlotCheckLines(" Warning "));
        }
        finally
        {
            await Db.ExecuteAsync($"GRANT SELECT ON pg_catalog.pg_replication_slots TO PUBLIC; REVOKE ALL ON t FROM \"{role}\"");
            await using var admin = new NpgsqlConnection(Fixture.AdminConnectionString);
            await admin.OpenAsync(Ct);
            await using var drop = new NpgsqlCommand($"DROP ROLE IF EXISTS \"{role}\"", admin);
            try
            {
                await drop.ExecuteNonQueryAsync(Ct);
            }
            catch (PostgresException)
            {
                // still referenced (the slot or a session of this test): a harmless leftover of the throwaway cluster
            }
        }
    }

    private bool Logged(string text)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Any(l => l.Contains(text, StringComparison.Ordinal));
        }
    }

    private List<string> SlotCheckLines(string level)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains(level, StringComparison.Ordinal) && l.Contains("Slot check for slot", StringComparison.Ordinal)).ToList();
        }
    }
}
