using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// The same configuration started twice (or an old pod still streaming during a deploy): PostgreSQL lets one
/// walsender hold a slot and refuses START_REPLICATION to the second with 55006 "replication slot … is active for PID n".
/// </summary>
public sealed class PgOutputSlotInUseTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task A_second_source_on_a_slot_another_process_streams_from_names_the_holder_and_stops_after_its_reconnect_attempts()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var first = await OpenStreamingAsync(Options() with
        {
            ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = "first-instance" }.ConnectionString,
        });
        var holderPid = await SlotHolderPidAsync();

        // the state file is the streaming process's; a second one in another state directory meets the slot itself
        var logs = new TestOutputLoggerFactory();
        var second = Open(new PgOutputChangeSource(Options() with
        {
            StateDirectory = Path.Combine(StateDirectory, "second"),
            MaxReconnectAttempts = 2,
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        }, logs));

        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains($"replication slot '{Db.Slot}' is in use by another process", e.Message, StringComparison.Ordinal);
        Assert.Contains($"PID {holderPid}", e.Message, StringComparison.Ordinal);
        Assert.Contains("first-instance", e.Message, StringComparison.Ordinal);
        Assert.Contains("cdcpipeline slot list", e.Message, StringComparison.Ordinal);
        var warnings = logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count(l => l.Contains($"PID {holderPid}", StringComparison.Ordinal) && l.Contains("first-instance", StringComparison.Ordinal)));
        Assert.DoesNotContain(warnings, l => l.Contains(" | ", StringComparison.Ordinal)); // an expected condition: no exception attached

        // the holder goes on undisturbed
        await Db.ExecuteAsync("INSERT INTO t VALUES (1)");
        Assert.Equal("1", (await first.TakeAsync(1)).Single().After!["id"]!.ToString());
    }

    [Fact]
    public async Task A_second_source_never_writes_the_state_file_of_the_process_that_streams_and_names_it_as_holder()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var first = await OpenStreamingAsync(Options());
        await SlotHolderPidAsync();
        var statePath = ((PgOutputChangeSource)first.Source).SnapshotStatePath;
        Assert.True(File.Exists(statePath), "the streaming source keeps its state file");
        var written = File.GetLastWriteTimeUtc(statePath);
        var content = await File.ReadAllBytesAsync(statePath, Ct);

        // the same configuration started again: same slot, same state directory
        var logs = new TestOutputLoggerFactory();
        var second = Open(new PgOutputChangeSource(Options() with { MaxReconnectAttempts = 2, ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) }, logs));
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(30)));

        // its older copy (read at its start) never replaced what the streaming process keeps there
        Assert.Equal(written, File.GetLastWriteTimeUtc(statePath));
        Assert.Equal(content, await File.ReadAllBytesAsync(statePath, Ct));
        Assert.Contains(statePath, e.Message, StringComparison.Ordinal);
        Assert.Contains(FormattableString.Invariant($"pid {Environment.ProcessId} on host"), e.Message, StringComparison.Ordinal);
        var warnings = logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count(l => l.Contains(statePath, StringComparison.Ordinal) && l.Contains(FormattableString.Invariant($"pid {Environment.ProcessId}"), StringComparison.Ordinal)));

        // the holder goes on undisturbed
        await Db.ExecuteAsync("INSERT INTO t VALUES (2)");
        Assert.Equal("2", (await first.TakeAsync(1)).Single().After!["id"]!.ToString());
    }

    [Fact]
    public async Task A_second_source_waiting_for_the_state_file_takes_over_once_the_first_stops()
    {
        // a rolling deploy: the new instance starts before the old one has stopped
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var first = await OpenStreamingAsync(Options());

        var logs = new TestOutputLoggerFactory();
        var second = Open(new PgOutputChangeSource(Options() with { MaxReconnectAttempts = 0, ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) }, logs));
        Assert.Null(await second.NextAsync(TimeSpan.FromMilliseconds(500)));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!logs.Lines.Any(l => l.Contains("is held by another process", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the second source did not meet the first one's state file lock");
            await Task.Delay(20, Ct);
        }

        await first.DisposeAsync();
        await Db.ExecuteAsync("INSERT INTO t VALUES (2)");

        Assert.Equal("2", (await second.TakeAsync(1)).Single().After!["id"]!.ToString());
        Assert.Contains(logs.Lines, l => l.Contains("Starting replication from slot", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_state_file_stays_held_while_what_was_read_is_acknowledged_after_the_read_ended_and_is_let_go_at_dispose()
    {
        // initial_only ends its read after the tables; the pipeline then delivers what it buffered and acknowledges it,
        // and those acknowledgements save the snapshot progress to the state file
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)");
        // one row a chunk: each acknowledged row is saved progress
        var source = new PgOutputChangeSource(Options(["public.t"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 1 }, Logs);
        var statePath = source.SnapshotStatePath;
        var read = new List<ChangeEvent>();
        try
        {
            await foreach (var change in source.ReadAsync(Ct))
            {
                read.Add(change);
            }

            Assert.Equal(3, read.Count(e => e.Kind == ChangeKind.Change));

            // a second instance waiting for the file (event 1039) must not own it yet: before the fix the read let it go here,
            // and the acknowledgements below wrote the file under the second owner
            using (var early = ExclusiveLockFile.TryAcquire(statePath + ".lock", statePath + ".lock.owner", [], out var holder))
            {
                Assert.Null(early);
                Assert.Contains(FormattableString.Invariant($"pid {Environment.ProcessId} on host"), holder, StringComparison.Ordinal);
            }

            // all but the last row: saved while it is still held
            foreach (var change in read.SkipLast(1))
            {
                await source.AcknowledgeAsync(change.Position, Ct);
            }

            Assert.Contains("\"RowsDone\": 2", await File.ReadAllTextAsync(statePath, Ct), StringComparison.Ordinal);
        }
        finally
        {
            await source.DisposeAsync();
        }

        // stopped: the next instance owns the file, and nothing of the first writes it any more
        using var next = ExclusiveLockFile.TryAcquire(statePath + ".lock", statePath + ".lock.owner", [], out _);
        Assert.NotNull(next);
        var kept = await File.ReadAllBytesAsync(statePath, Ct);
        // a late acknowledgement of the first: its save is dropped, the next owner reads that row again (at least once)
        await source.AcknowledgeAsync(read[^1].Position, Ct);
        Assert.Equal(kept, await File.ReadAllBytesAsync(statePath, Ct));
    }

    private async Task<int> SlotHolderPidAsync()
    {
        var holderPid = 0;
        await using var connection = new NpgsqlConnection(Db.ConnectionString);
        await connection.OpenAsync(Ct);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (holderPid == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the first source did not start streaming in time");
            await using var cmd = new NpgsqlCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", connection);
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Db.Slot });
            holderPid = await cmd.ExecuteScalarAsync(Ct) is int pid ? pid : 0;
            await Task.Delay(holderPid == 0 ? 20 : 0, Ct);
        }

        return holderPid;
    }
}
