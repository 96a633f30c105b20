using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Postgres.Snapshot;
using CdcPipeline.Postgres.Types;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CdcPipeline.Tests.Postgres;

/// <summary>
/// The snapshot state file is saved from several threads: the heartbeat loop (confirmed LSN), the incremental
/// snapshotter (a table queued by a signal on the reader thread, a chunk acknowledged on the pipeline thread).
/// A save racing a queued table must neither fail nor leave an older state on disk than the last save's (two saves
/// share one temp file: the store writes one at a time, in order).
/// </summary>
public sealed class SnapshotStateSaveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-snapstate-").FullName;

    [Fact]
    public async Task Heartbeat_saves_while_tables_are_queued_neither_fail_nor_lose_a_table()
    {
        const int Queued = 1500;
        var store = new SnapshotStateStore(_dir, "slot_a");
        var state = new SnapshotState
        {
            Slot = "slot_a",
            ConsistentLsn = 1,
            InitialCompleted = true,
            Tables = Enumerable.Range(0, 200).Select(i => new TableProgress { Table = $"public.done_{i}", Incremental = true, Done = true }).ToList(),
        };
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=none");
        var snapshotter = new IncrementalSnapshotter(dataSource, new PgTypeCatalog(dataSource), store, state, 100, "pub", null, null, NullLogger.Instance);
        using var start = new Barrier(2);
        var queuing = Task.Run(() =>
        {
            start.SignalAndWait(TestContext.Current.CancellationToken);
            for (var i = 0; i < Queued; i++)
            {
                snapshotter.Enqueue($"public.queued_{i}", "signal", $"signal {i}");
            }
        }, TestContext.Current.CancellationToken);
        var heartbeats = Task.Run(() =>
        {
            start.SignalAndWait(TestContext.Current.CancellationToken);
            // the heartbeat loop's SaveConfirmedPosition, as fast as it can go, until every table is queued
            for (ulong lsn = 2; !queuing.IsCompleted; lsn++)
            {
                state.ConfirmedLsn = lsn;
                store.Save(state);
            }
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll(queuing, heartbeats);

        var saved = store.Load()!;
        Assert.Equal(Enumerable.Range(0, Queued).Select(i => $"public.queued_{i}"), saved.Tables.Where(t => !t.Done).Select(t => t.Table));
        Assert.Equal(state.Tables.Count, saved.Tables.Count);
        Assert.Equal(state.ConfirmedLsn, saved.ConfirmedLsn);
    }

    [Fact]
    public void A_save_after_the_state_file_was_let_go_is_dropped_and_the_next_owner_keeps_the_file()
    {
        var store = new SnapshotStateStore(_dir, "slot_c");
        Assert.True(store.TryOwn(out _));
        var state = new SnapshotState { Slot = "slot_c", ConsistentLsn = 1, ConfirmedLsn = 10, InitialCompleted = true };
        store.Save(state);
        store.Release();

        var next = new SnapshotStateStore(_dir, "slot_c");
        Assert.True(next.TryOwn(out _));
        var kept = File.ReadAllBytes(store.Path);
        state.ConfirmedLsn = 20; // a late acknowledgement of the first owner
        store.Save(state);

        Assert.Equal(kept, File.ReadAllBytes(store.Path));
        next.Release();
    }

    [Fact]
    public async Task A_stalled_state_file_write_does_not_hold_up_the_stream_reader()
    {
        // The temp file the store writes is a FIFO with no reader: opening it for writing blocks, as a hung disk would.
        var store = new SnapshotStateStore(_dir, "slot_b");
        var stall = store.Path + ".tmp";
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [stall]))
        {
            await mkfifo.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var state = new SnapshotState { Slot = "slot_b", ConsistentLsn = 1, InitialCompleted = true };
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=none");
        var snapshotter = new IncrementalSnapshotter(dataSource, new PgTypeCatalog(dataSource), store, state, 100, "pub", null, null, NullLogger.Instance);
        var queuing = Task.Run(() => snapshotter.Enqueue("public.queued", "signal", "signal 1"), TestContext.Current.CancellationToken);
        while (!queuing.IsCompleted && !File.Exists(stall))
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        try
        {
            // The reader thread calls OnChange for every streamed change; the queued table's save must not stop it.
            var change = Task.Run(() => snapshotter.OnChange("public.t", Row.From(("id", 1)), null, 1), TestContext.Current.CancellationToken);
            var first = await Task.WhenAny(change, Task.Delay(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken));
            Assert.True(first == change, "OnChange (the stream reader) waited for the stalled state file write of a queued table");
        }
        finally
        {
            // the disk comes back: the stalled save completes
            await using (var read = new FileStream(stall, FileMode.Open, FileAccess.Read))
            {
                var written = JsonSerializer.Deserialize<SnapshotState>(read)!;
                Assert.Equal(["public.queued"], written.Tables.Select(t => t.Table));
            }

            await queuing.WaitAsync(TestContext.Current.CancellationToken);
        }

        // the next save (a heartbeat) lands whole and newest
        state.ConfirmedLsn = 7;
        store.Save(state);
        var saved = store.Load()!;
        Assert.Equal(7UL, saved.ConfirmedLsn);
        Assert.Equal(["public.queued"], saved.Tables.Select(t => t.Table));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
