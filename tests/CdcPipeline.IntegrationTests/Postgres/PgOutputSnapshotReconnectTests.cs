using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Snapshot;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// A connection lost while the slot is created (CREATE_REPLICATION_SLOT … EXPORT_SNAPSHOT) or during the initial snapshot
/// (the exported snapshot's reads, or the replication connection that holds it): retried within maxReconnectAttempts, and
/// the consumer gets every row once, as a clean run gives it. The cuts are real: the backends are terminated
/// (pg_terminate_backend) or a proxy in front of the server drops the connection while CREATE_REPLICATION_SLOT waits for
/// a transaction that holds an xid (it waits for every running transaction to end before its consistent point).
/// </summary>
public sealed class PgOutputSnapshotReconnectTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private const int Rows = 1000;

    private string StatePath => Path.Combine(StateDirectory, Db.Slot + ".snapshot.json");

    private async Task CreateTableAsync() =>
        await Db.ExecuteAsync($"CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL); INSERT INTO acct SELECT g, 0 FROM generate_series(1, {Rows}) g; " +
                              "CREATE TABLE held (id int)");

    private PostgresSourceOptions SnapshotOptions(string? connectionString = null) =>
        Options(["public.acct"], SnapshotMode.Initial) with { SnapshotChunkSize = 100, ConnectionString = connectionString ?? Db.ConnectionString };

    /// <summary>A transaction holding an xid: CREATE_REPLICATION_SLOT waits for it to end before it has a consistent point.</summary>
    private async Task<(NpgsqlConnection Connection, NpgsqlTransaction Transaction)> HoldXidAsync()
    {
        var connection = new NpgsqlConnection(Db.ConnectionString);
        await connection.OpenAsync(Ct);
        var transaction = await connection.BeginTransactionAsync(Ct);
        await using var insert = new NpgsqlCommand("INSERT INTO held VALUES (1)", connection, transaction);
        await insert.ExecuteNonQueryAsync(Ct);
        return (connection, transaction);
    }

    /// <summary>Waits until the slot's creation waits (the slot is listed, active, without a confirmed position yet).</summary>
    private async Task WaitForSlotCreationAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}' AND active AND confirmed_flush_lsn IS NULL") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not start creating its slot");
            await Task.Delay(20, Ct);
        }
    }

    private async Task TerminateAsync(string which)
    {
        var of = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND " + which;
        await Db.ExecuteAsync("SELECT pg_terminate_backend(pid) " + of);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await Db.ScalarAsync<long>("SELECT count(*) " + of) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the terminated backends did not end");
            await Task.Delay(20, Ct);
        }
    }

    private string Walsender => $"backend_type = 'walsender' AND application_name = 'cdcpipeline-{Db.Slot}'";

    private const string SnapshotReader = "backend_type = 'client backend' AND application_name = 'cdcpipeline'";

    /// <summary>
    /// Reads (acknowledging as the pipeline does) until every row of acct was read, then up to a marker written after: a row
    /// handed out twice or one more chunk would be among them.
    /// </summary>
    private async Task<List<ChangeEvent>> ReadEveryRowAsync(SourceReader reader, List<ChangeEvent>? into = null)
    {
        var events = into ?? [];
        while (events.Count(e => e.Operation == ChangeOperation.Read) < Rows)
        {
            var batch = await reader.TakeAsync(1, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
            events.AddRange(batch);
            await reader.AcknowledgeAsync(batch);
        }

        await Db.ExecuteAsync("SELECT pg_logical_emit_message(false, 'test-marker', 'end')");
        var rest = await reader.TakeUntilAsync(e => e.Message?.Prefix == "test-marker", TimeSpan.FromSeconds(60));
        events.AddRange(rest);
        await reader.AcknowledgeAsync(rest);
        return events;
    }

    private static void AssertEveryRowOnce(List<ChangeEvent> events)
    {
        var ids = events.Where(e => e.Operation == ChangeOperation.Read).Select(e => Convert.ToInt64(e.Key!["id"])).Order().ToList();
        Assert.Equal(Enumerable.Range(1, Rows).Select(i => (long)i), ids);
    }

    /// <summary>The slot exists, and the state file is of it (its consistent point the one the slot was created at), all read.</summary>
    private async Task AssertSlotAndStateAgreeAsync(SourceReader reader)
    {
        // the last (empty) chunk of an incremental snapshot may still be on its way: read and acknowledge until the state says done
        var deadline = DateTime.UtcNow.AddSeconds(30);
        SnapshotState? state;
        while ((state = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!) is not { InitialCompleted: true } ||
               state.Tables.Any(t => !t.Done))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the state file does not say the snapshot is done: {await File.ReadAllTextAsync(StatePath, Ct)}");
            if (await reader.NextAsync(TimeSpan.FromMilliseconds(100)) is { } next)
            {
                Assert.NotEqual(ChangeOperation.Read, next.Operation);
                await reader.AcknowledgeAsync([next]);
            }
        }

        Assert.Equal(1L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
        var created = Assert.Single(Lines("Created replication slot"));
        Assert.Equal(Db.Slot, state.Slot);
        Assert.EndsWith($"at consistent point {new NpgsqlTypes.NpgsqlLogSequenceNumber(state.ConsistentLsn)}", created, StringComparison.Ordinal);
    }

    private List<string> Lines(string containing)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains(containing, StringComparison.Ordinal)).ToList();
        }
    }

    private List<string> Warnings(string containing) => Lines(containing).Where(l => l.Contains(" Warning ", StringComparison.Ordinal)).ToList();

    /// <summary>Thrown by the seam: the process ends (kill -9, OOM, a node lost) between the slot's creation and the state file's save.</summary>
    private sealed class KilledException() : Exception("killed between CREATE_REPLICATION_SLOT and the state file's save");

    /// <summary>
    /// A start that ends right after CREATE_REPLICATION_SLOT answered, before the state file records the slot: nothing of it
    /// runs after that point (its connections close, as a killed process's do). Logged apart, so the test's log is the next start's.
    /// </summary>
    private async Task KilledAfterCreatingTheSlotAsync(PostgresSourceOptions options)
    {
        var source = new PgOutputChangeSource(options, new TestOutputLoggerFactory()) { AfterSlotCreated = _ => throw new KilledException() };
        await using (var killed = new SourceReader(source, Ct))
        {
            await Assert.ThrowsAsync<KilledException>(() => killed.NextAsync(TimeSpan.FromSeconds(30)));
        }

        await WaitForSlotInactiveAsync(); // the slot stands, its walsender gone with the process's connection
    }

    private async Task WaitForSlotInactiveAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}' AND NOT active") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the slot is not there, or still held");
            await Task.Delay(20, Ct);
        }
    }

    private PostgresSourceOptions WhenNeededOptions() => SnapshotOptions() with { Snapshot = SnapshotMode.WhenNeeded };

    [Fact]
    public async Task A_slot_re_created_by_when_needed_but_not_recorded_before_the_process_died_is_created_again_and_the_tables_read_again()
    {
        await CreateTableAsync();
        var first = new SourceReader(new PgOutputChangeSource(WhenNeededOptions(), new TestOutputLoggerFactory()), Ct);
        await ReadEveryRowAsync(first);
        await first.DisposeAsync();
        await WaitForSlotInactiveAsync();
        await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{Db.Slot}')"); // the state file says it was read: when_needed re-snapshots
        await Db.ExecuteAsync("UPDATE acct SET v = 7 WHERE id IN (5, 500)"); // while the slot is gone: seen only by reading the tables again
        await KilledAfterCreatingTheSlotAsync(WhenNeededOptions());
        var orphan = await Db.ScalarAsync<string>($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'");

        var reader = Open(WhenNeededOptions());
        // before the fix: it took the new slot for the one of the state file and streamed on; the rows were not read again
        var events = await ReadEveryRowAsync(reader);

        AssertEveryRowOnce(events);
        var reads = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        Assert.All(reads, e => Assert.NotEqual(SnapshotMarker.Incremental, e.Source.Snapshot)); // a new slot's exported snapshot
        Assert.Equal(7, Convert.ToInt32(reads.Single(e => Convert.ToInt64(e.Key!["id"]) == 500).After!["v"]));
        var dropped = Assert.Single(Warnings("ended before the state file recorded it"));
        Assert.Contains(Db.Slot, dropped, StringComparison.Ordinal);
        Assert.Contains(orphan, dropped, StringComparison.Ordinal);
        Assert.Contains(StatePath, dropped, StringComparison.Ordinal);
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task A_when_needed_slot_not_recorded_before_the_process_died_does_not_stand_in_for_the_lost_one_under_snapshot_initial()
    {
        await CreateTableAsync();
        var first = new SourceReader(new PgOutputChangeSource(WhenNeededOptions(), new TestOutputLoggerFactory()), Ct);
        await ReadEveryRowAsync(first);
        await first.DisposeAsync();
        await WaitForSlotInactiveAsync();
        await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{Db.Slot}')");
        await KilledAfterCreatingTheSlotAsync(WhenNeededOptions());

        // the configuration set back to initial before the next start: the slot read is still gone, whatever stands in its name
        var reader = Open(SnapshotOptions());
        // before the fix: it streamed the new slot as the one read, the changes while it was gone missed without a word
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains($"replication slot '{Db.Slot}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
        Assert.Single(Warnings("ended before the state file recorded it"));
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
    }

    [Fact]
    public async Task A_first_slot_created_but_not_recorded_before_the_process_died_is_created_again_and_read_through_its_snapshot()
    {
        await CreateTableAsync();
        await KilledAfterCreatingTheSlotAsync(SnapshotOptions());
        await Db.ExecuteAsync("UPDATE acct SET v = 7 WHERE id = 5");

        var reader = Open(SnapshotOptions());
        // before the fix: the slot was taken for one made elsewhere, the tables read as incremental chunks while streaming
        var events = await ReadEveryRowAsync(reader);

        AssertEveryRowOnce(events);
        var reads = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        Assert.All(reads, e => Assert.NotEqual(SnapshotMarker.Incremental, e.Source.Snapshot));
        Assert.Equal(SnapshotMarker.First, reads[0].Source.Snapshot);
        Assert.Equal(SnapshotMarker.Last, reads[^1].Source.Snapshot);
        Assert.Equal(7, Convert.ToInt32(reads.Single(e => Convert.ToInt64(e.Key!["id"]) == 5).After!["v"]));
        Assert.DoesNotContain(events, e => e.Operation == ChangeOperation.Update); // the update is in the snapshot, not streamed too
        Assert.Single(Warnings("ended before the state file recorded it"));
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task A_start_that_died_before_its_slot_was_made_leaves_a_mark_the_next_start_reads_past_without_refusing()
    {
        await CreateTableAsync();
        await KilledAfterCreatingTheSlotAsync(SnapshotOptions());
        await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{Db.Slot}')"); // as PostgreSQL drops a slot whose creation did not finish

        var reader = Open(SnapshotOptions());
        // not "does not exist but this pipeline has read from it": the mark records no slot read
        var events = await ReadEveryRowAsync(reader);

        AssertEveryRowOnce(events);
        Assert.Empty(Warnings("ended before the state file recorded it"));
        await AssertSlotAndStateAgreeAsync(reader);
    }

    /// <summary>
    /// Another consumer streaming from the slot (START_REPLICATION on a connection of its own, as a second pipeline given the
    /// same slot: name would): waits until its walsender says it streams, and gives its PID.
    /// </summary>
    /// <summary>
    /// Another consumer streaming from the slot: its connection, what stops its reading and the reading itself (awaited before
    /// the connection is disposed: Npgsql's replication stream completed by a cancel and a dispose at once can fault the process),
    /// and its walsender's PID.
    /// </summary>
    private async Task<(LogicalReplicationConnection Connection, CancellationTokenSource Stop, Task Reading, int Pid)> StreamElsewhereAsync()
    {
        var connection = new LogicalReplicationConnection(new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = "other-consumer" }.ConnectionString);
        await connection.Open(Ct);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var messages = connection.StartReplication(new PgOutputReplicationSlot(Db.Slot),
            new PgOutputReplicationOptions(Db.Publication, PgOutputProtocolVersion.V1), stop.Token).GetAsyncEnumerator(stop.Token);
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await messages.MoveNextAsync())
                {
                }
            }
            catch (Exception)
            {
                // stopped by the test, or cut: the asserts below say which
            }
            finally
            {
                await messages.DisposeAsync();
            }
        }, CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        int pid;
        while ((pid = await Db.ScalarAsync<int?>(
                   $"SELECT r.pid FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '{Db.Slot}' " +
                   "AND r.application_name = 'other-consumer' AND r.state IN ('streaming', 'catchup')") ?? 0) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the other consumer did not start streaming");
            await Task.Delay(20, Ct);
        }

        return (connection, stop, reading, pid);
    }

    [Fact]
    public async Task A_slot_whose_creation_a_dead_start_marked_but_another_consumer_streams_is_left_to_it_and_the_start_stops_saying_so()
    {
        await CreateTableAsync();
        await KilledAfterCreatingTheSlotAsync(SnapshotOptions());
        var (other, stopOther, reading, pid) = await StreamElsewhereAsync();
        var position = await Db.ScalarAsync<string>($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'");
        try
        {
            var reader = Open(SnapshotOptions());
            // before the fix: the other consumer's walsender was terminated, its slot dropped and created again, the tables read
            var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));

            Assert.Contains($"replication slot '{Db.Slot}'", e.Message, StringComparison.Ordinal);
            Assert.Contains($"PID {pid} (application_name 'other-consumer'", e.Message, StringComparison.Ordinal);
            Assert.Contains("state streaming", e.Message, StringComparison.Ordinal);
            Assert.Contains(StatePath, e.Message, StringComparison.Ordinal);
            Assert.Contains("source.postgres.slot", e.Message, StringComparison.Ordinal);
            Assert.Empty(Warnings("ended before the state file recorded it"));
            Assert.Empty(Lines("Created replication slot"));
            // the other consumer streams on, from the same slot at the same position
            Assert.Equal(pid, await Db.ScalarAsync<int?>(
                $"SELECT r.pid FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '{Db.Slot}' AND r.state IN ('streaming', 'catchup')"));
            Assert.Equal(position, await Db.ScalarAsync<string>($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
            // the mark stays: once that consumer is stopped (or given its own slot), the next start drops the slot as 1046 says
            var marked = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!;
            Assert.Equal(Db.Slot, marked.CreatingSlot?.Slot);
        }
        finally
        {
            await stopOther.CancelAsync();
            await reading;
            await other.DisposeAsync();
            stopOther.Dispose();
        }
    }

    [Fact]
    public async Task A_walsender_still_creating_the_slot_for_a_dead_start_is_ended_and_the_slot_created_again()
    {
        await CreateTableAsync();
        await KilledAfterCreatingTheSlotAsync(SnapshotOptions());
        await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{Db.Slot}')");
        // the dead start's walsender, its client gone unnoticed (a network cut is seen at wal_sender_timeout), still waits in
        // CREATE_REPLICATION_SLOT for a transaction holding an xid: it holds the slot, in state startup, streaming nothing
        var (blocker, held) = await HoldXidAsync();
        await using var lingering = new LogicalReplicationConnection(
            new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = "dead-start" }.ConnectionString);
        await lingering.Open(Ct);
        var creating = lingering.CreatePgOutputReplicationSlot(Db.Slot, slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: Ct);
        await WaitForSlotCreationAsync();

        var reader = Open(SnapshotOptions());
        var reading = ReadEveryRowAsync(reader);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!creating.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "the lingering creation was not ended");
            await Task.Delay(20, Ct);
        }

        await Assert.ThrowsAnyAsync<Exception>(() => creating); // terminated (57P01)
        await held.RollbackAsync(Ct);
        await blocker.DisposeAsync();
        var events = await reading;

        AssertEveryRowOnce(events);
        Assert.All(events.Where(e => e.Operation == ChangeOperation.Read), e => Assert.NotEqual(SnapshotMarker.Incremental, e.Source.Snapshot));
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task An_initial_only_start_with_a_slot_of_its_name_and_no_state_file_reads_the_tables_and_ends()
    {
        await CreateTableAsync();
        await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{Db.Slot}', 'pgoutput')");
        var reader = Open(Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 100 });

        // before the fix: it wrote a state file and ended, nothing read (the next run read the tables)
        var events = new List<ChangeEvent>();
        while (true)
        {
            try
            {
                var next = await reader.NextAsync(TimeSpan.FromSeconds(60));
                Assert.NotNull(next);
                events.Add(next);
                await reader.AcknowledgeAsync([next]);
            }
            catch (InvalidOperationException e) when (e.Message == "the source ended")
            {
                break;
            }
        }

        AssertEveryRowOnce(events);
        var reads = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        Assert.Equal(SnapshotMarker.First, reads[0].Source.Snapshot);
        Assert.Equal(SnapshotMarker.Last, reads[^1].Source.Snapshot);
        var state = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!;
        Assert.True(state.InitialCompleted);
        Assert.All(state.Tables, t => Assert.True(t.Done));
        // the slot is not this mode's (it never streams): left as it was
        Assert.Equal(1L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
    }

    [Fact]
    public async Task A_connection_lost_while_the_slot_is_created_is_retried_and_every_row_arrives_once()
    {
        await CreateTableAsync();
        var (blocker, held) = await HoldXidAsync();
        var reader = Open(SnapshotOptions());
        var reading = ReadEveryRowAsync(reader);

        await WaitForSlotCreationAsync();
        await TerminateAsync(Walsender); // the slot was not persisted yet: PostgreSQL drops it
        await held.RollbackAsync(Ct);
        await blocker.DisposeAsync();

        // before the fix: the start failed with "57P01: terminating connection due to administrator command"
        var events = await reading;

        AssertEveryRowOnce(events);
        Assert.All(events.Where(e => e.Operation == ChangeOperation.Read), e => Assert.NotEqual(SnapshotMarker.Incremental, e.Source.Snapshot));
        var warning = Assert.Single(Warnings("was starting, before streaming"));
        Assert.Contains("attempt 1", warning, StringComparison.Ordinal);
        Assert.Contains("57P01", warning, StringComparison.Ordinal);
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task A_slot_created_whose_answer_was_lost_with_the_connection_is_dropped_and_created_again_and_every_row_arrives_once()
    {
        await CreateTableAsync();
        var server = new NpgsqlConnectionStringBuilder(Db.ConnectionString);
        await using var proxy = new TcpProxy(server.Host!, server.Port);
        var (blocker, held) = await HoldXidAsync();
        var reader = Open(SnapshotOptions(new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString));
        var reading = ReadEveryRowAsync(reader);

        await WaitForSlotCreationAsync();
        proxy.Hold(); // a cut during the wait itself is seen by the walsender, which then drops the slot it was creating
        await held.CommitAsync(Ct);
        await blocker.DisposeAsync();
        // it finishes the slot (persisted) and sends its answer with the exported snapshot's name, which never arrives
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}' AND NOT active AND confirmed_flush_lsn IS NOT NULL") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the walsender did not finish the slot");
            await Task.Delay(20, Ct);
        }

        var orphan = await Db.ScalarAsync<string>($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'");
        proxy.Cut();
        // nothing recorded the slot: the state file holds only the mark of its creation, saved before it
        var marked = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!;
        Assert.Equal(Db.Slot, marked.CreatingSlot?.Slot);
        Assert.False(marked.CreatingSlot!.KeepsEarlierState);
        Assert.Equal(0UL, marked.ConsistentLsn);
        proxy.Restore();

        // before the fix: the start failed at the cut with the driver's message
        var events = await reading;

        AssertEveryRowOnce(events);
        // read through a new slot's exported snapshot, as a clean run reads: the slot whose snapshot nobody read is gone
        Assert.All(events.Where(e => e.Operation == ChangeOperation.Read), e => Assert.NotEqual(SnapshotMarker.Incremental, e.Source.Snapshot));
        var dropped = Assert.Single(Lines("dropped it"));
        Assert.Contains(Db.Slot, dropped, StringComparison.Ordinal);
        Assert.Contains(orphan, dropped, StringComparison.Ordinal);
        Assert.NotEmpty(Warnings("was starting, before streaming"));
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task A_snapshot_read_connection_lost_mid_table_goes_on_as_incremental_chunks_without_losing_or_repeating_a_row()
    {
        await CreateTableAsync();
        var reader = Open(SnapshotOptions());
        var events = await reader.TakeAsync(250, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(events.Take(150)); // a chunk acknowledged, the next one not yet
        await TerminateAsync(SnapshotReader); // idle in the snapshot's transaction between two chunks
        await Db.ExecuteAsync("UPDATE acct SET v = 1 WHERE id IN (10, 600); DELETE FROM acct WHERE id = 700; INSERT INTO acct VALUES (700, 2)");

        // before the fix: the read failed with 57P01 (the next start resumed after the acknowledged chunk, reading 101-250 twice)
        await ReadEveryRowAsync(reader, events);

        AssertEveryRowOnce(events);
        var reads = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        Assert.Equal(SnapshotMarker.Last, reads[299].Source.Snapshot); // the chunk in hand is handed out whole
        Assert.All(reads.Skip(300), e => Assert.Equal(SnapshotMarker.Incremental, e.Source.Snapshot));
        Assert.Equal(1, Convert.ToInt32(reads.Single(e => Convert.ToInt64(e.Key!["id"]) == 600).After!["v"])); // read after the update
        var warning = Assert.Single(Warnings("during the initial snapshot"));
        Assert.Contains("attempt 1", warning, StringComparison.Ordinal);
        Assert.Contains("57P01", warning, StringComparison.Ordinal);
        Assert.Contains("public.acct", warning, StringComparison.Ordinal);
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task A_replication_connection_lost_before_its_exported_snapshot_was_read_goes_on_as_incremental_chunks()
    {
        await CreateTableAsync();
        var reader = Open(new PgOutputChangeSource(SnapshotOptions(), Logs)
        {
            BeforeInitialSnapshot = async _ => await TerminateAsync(Walsender),
        });

        // before the fix: the snapshot failed with 22023 "invalid snapshot identifier"
        var events = await ReadEveryRowAsync(reader);

        AssertEveryRowOnce(events);
        Assert.All(events.Where(e => e.Operation == ChangeOperation.Read), e => Assert.Equal(SnapshotMarker.Incremental, e.Source.Snapshot));
        var warning = Assert.Single(Warnings("during the initial snapshot"));
        Assert.Contains("exported snapshot", warning, StringComparison.Ordinal);
        await AssertSlotAndStateAgreeAsync(reader);
    }

    [Fact]
    public async Task An_initial_only_snapshot_whose_read_connection_is_lost_reads_the_rest_at_a_fresh_snapshot_and_ends()
    {
        await CreateTableAsync();
        var reader = Open(Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 100 });
        var events = await reader.TakeAsync(250, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(events);
        await TerminateAsync(SnapshotReader);
        await Db.ExecuteAsync("UPDATE acct SET v = 1 WHERE id IN (10, 600)");

        // before the fix: the read failed with 57P01 (the next start read 201-1000 at a fresh snapshot)
        var ended = false;
        while (!ended)
        {
            try
            {
                var batch = await reader.TakeAsync(1, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
                events.AddRange(batch);
                await reader.AcknowledgeAsync(batch);
            }
            catch (InvalidOperationException e) when (e.Message == "the source ended")
            {
                ended = true;
            }
        }

        AssertEveryRowOnce(events);
        var reads = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        Assert.Equal(SnapshotMarker.First, reads[0].Source.Snapshot);
        Assert.Equal(SnapshotMarker.Last, reads[^1].Source.Snapshot); // one snapshot to its consumer, its rows numbered on
        Assert.All(reads.Skip(1).SkipLast(1), e => Assert.Equal(SnapshotMarker.True, e.Source.Snapshot));
        Assert.Equal(Enumerable.Range(0, Rows).Select(i => (long)i), reads.Select(e => e.Position.Minor));
        Assert.Equal(0, Convert.ToInt32(reads.Single(e => Convert.ToInt64(e.Key!["id"]) == 10).After!["v"]));
        Assert.Equal(1, Convert.ToInt32(reads.Single(e => Convert.ToInt64(e.Key!["id"]) == 600).After!["v"])); // the fresh snapshot's
        var warning = Assert.Single(Warnings("during the initial snapshot"));
        Assert.Contains("at a fresh snapshot", warning, StringComparison.Ordinal);
        var deadline = DateTime.UtcNow.AddSeconds(10); // the temporary slot goes with its walsender, which ends a moment later
        while (await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'") > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "a slot was left behind");
            await Task.Delay(20, Ct);
        }

        var state = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!;
        Assert.True(state.InitialCompleted);
    }

    /// <summary>
    /// Reads and acknowledges what the source still hands out after the proxy in front of it was cut for good, until it stops;
    /// returns the stop.
    /// </summary>
    private static async Task<CaptureStoppedException> ReadUntilStoppedAsync(SourceReader reader, List<ChangeEvent> events)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not give up");
            try
            {
                if (await reader.NextAsync(TimeSpan.FromSeconds(1)) is { } next)
                {
                    events.Add(next);
                    await reader.AcknowledgeAsync([next]);
                }
            }
            catch (CaptureStoppedException e)
            {
                return e;
            }
        }
    }

    /// <summary>No key of acct missing from what both runs handed out; the keys handed out more than once (at least once is the contract).</summary>
    private static List<long> AssertNoRowMissing(List<ChangeEvent> events)
    {
        var ids = events.Where(e => e.Operation == ChangeOperation.Read).Select(e => Convert.ToInt64(e.Key!["id"])).ToList();
        Assert.Equal(Enumerable.Range(1, Rows).Select(i => (long)i), ids.Distinct().Order());
        return ids.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key).Order().ToList();
    }

    private static void AssertGaveUp(CaptureStoppedException e, string slot, int attempts)
    {
        Assert.Contains($"replication slot '{slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"gave up after {attempts} failed reconnects", e.Message, StringComparison.Ordinal);
        Assert.Contains("Check that the server is up and reachable, then start again", e.Message, StringComparison.Ordinal);
        Assert.Contains("maxReconnectAttempts", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_initial_only_snapshot_whose_connections_keep_being_lost_gives_up_after_the_attempts_and_the_next_start_reads_the_rest()
    {
        await CreateTableAsync();
        var server = new NpgsqlConnectionStringBuilder(Db.ConnectionString);
        await using var proxy = new TcpProxy(server.Host!, server.Port);
        var viaProxy = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        var options = Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 100, MaxReconnectAttempts = 2 };
        var reader = Open(options with { ConnectionString = viaProxy });
        var events = await reader.TakeAsync(250, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(events);
        proxy.Cut(); // the reads' connection dropped, and every fresh snapshot's after it refused

        var stop = await ReadUntilStoppedAsync(reader, events);

        AssertGaveUp(stop, Db.Slot, 2);
        var lost = Warnings("during the initial snapshot");
        Assert.Equal(2, lost.Count); // attempts 1 and 2; the third is past maxReconnectAttempts
        Assert.Contains("attempt 2", lost[1], StringComparison.Ordinal);
        var state = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!;
        Assert.False(state.InitialCompleted);
        await reader.DisposeAsync(); // lets the state file go

        // the next start, the server reachable: the rest read after the last row acknowledged, at a fresh snapshot
        var next = Open(options);
        while (true)
        {
            try
            {
                var change = await next.NextAsync(TimeSpan.FromSeconds(60));
                Assert.NotNull(change);
                events.Add(change);
                await next.AcknowledgeAsync([change]);
            }
            catch (InvalidOperationException e) when (e.Message == "the source ended")
            {
                break;
            }
        }

        // At least once: the chunk in hand at the cut (201-300) went out but for its last row, held back to be marked last in
        // what a fresh snapshot would read on; unacknowledged, it never completed the chunk, so the state file kept 200.
        Assert.Equal(Enumerable.Range(201, 99).Select(i => (long)i), AssertNoRowMissing(events));
        state = System.Text.Json.JsonSerializer.Deserialize<SnapshotState>(await File.ReadAllTextAsync(StatePath, Ct))!;
        Assert.True(state.InitialCompleted);
        Assert.All(state.Tables, t => Assert.True(t.Done));
    }

    [Fact]
    public async Task A_snapshot_whose_connections_keep_being_lost_gives_up_after_the_attempts_and_the_next_start_reads_the_rest()
    {
        await CreateTableAsync();
        var server = new NpgsqlConnectionStringBuilder(Db.ConnectionString);
        await using var proxy = new TcpProxy(server.Host!, server.Port);
        var viaProxy = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        var reader = Open(SnapshotOptions(viaProxy) with { MaxReconnectAttempts = 2 });
        var events = await reader.TakeAsync(250, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(events);
        proxy.Cut(); // the reads' connection dropped, and the streaming that would read the rest as incremental chunks refused

        var stop = await ReadUntilStoppedAsync(reader, events);

        AssertGaveUp(stop, Db.Slot, 2);
        // one count of attempts: 1044 is attempt 1 (the rest goes on as incremental chunks while streaming), 1003 attempt 2
        Assert.Contains("attempt 1", Assert.Single(Warnings("during the initial snapshot")), StringComparison.Ordinal);
        Assert.Contains("attempt 2", Assert.Single(Warnings("reconnecting in")), StringComparison.Ordinal);
        await reader.DisposeAsync();
        await WaitForSlotInactiveAsync();

        // the next start, the server reachable: the slot and the state file take it up (incremental chunks after the acknowledged rows)
        var next = Open(SnapshotOptions());
        await ReadEveryRowAsync(next, events);

        Assert.Empty(AssertNoRowMissing(events)); // the held row went out before streaming: every chunk acknowledged whole, none read twice
        Assert.Empty(Warnings("ended before the state file recorded it"));
        await AssertSlotAndStateAgreeAsync(next);
    }

    [Fact]
    public async Task The_start_warnings_are_said_once_though_a_lost_connection_runs_the_start_again()
    {
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, g int GENERATED ALWAYS AS (v * 2) STORED); " +
                              $"CREATE TABLE nokey (v int); CREATE TABLE held (id int); CREATE PUBLICATION {Db.Publication} FOR TABLE acct, nokey");
        var rules = RuleSet.Parse([("acct.yaml", "table: public.acct\nevents:\n  - type: Changed\n    when: changed(\"v\")\n    data:\n      x: after.nope\n" +
                                                 "  - type: Five\n    when: after.v == \"5\"\n    data:\n      y: after.g\n")]);
        var (blocker, held) = await HoldXidAsync();
        var options = Options(["public.acct", "public.nokey", "public.held"]) with { RuleFiles = rules.Files, CreatePublicationIfMissing = false };
        var reader = Open(options);
        await reader.NextAsync(TimeSpan.FromMilliseconds(50)); // the pull that starts it stays pending

        await WaitForSlotCreationAsync();
        await TerminateAsync(Walsender);
        await held.RollbackAsync(Ct);
        await blocker.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!((PgOutputChangeSource)reader.Source).IsConnected)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not start streaming");
            await Task.Delay(20, Ct);
        }

        Assert.Single(Warnings("was starting, before streaming"));
        // before the fix each was said at each attempt
        Assert.Single(Warnings("\"public\".\"nokey\" has no primary key")); // 1005
        Assert.Single(Warnings("\"public\".\"held\" is configured but not in publication")); // 1007
        Assert.Single(Warnings("reads the old row of")); // 1115
        Assert.Single(Warnings("names nope")); // 1116
        Assert.Single(Warnings("given the column types of")); // 1117
        Assert.Single(Warnings("generated (GENERATED ALWAYS AS")); // 1118
    }
}
