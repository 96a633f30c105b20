using System.CommandLine;
using CdcPipeline.Commands;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Batch;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Commands;

public sealed class BatchCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-batch-cmd-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Resend_by_id_restores_the_identical_file_at_the_target_from_the_configured_sink()
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, """
            name: shop
            source:
              test: {}
            sinks:
              - name: export
                batch: { interval: 01:00:00, spool: b/spool, archive: b/archive, target: { directory: b/outgoing } }
            """, Ct);
        var start = new DateTimeOffset(2026, 11, 25, 9, 0, 0, TimeSpan.Zero);
        BatchManifest manifest;
        await using (var store = new BatchStore("shop", "export", TimeSpan.FromHours(1), Path.Combine(_dir, "b", "spool"), Path.Combine(_dir, "b", "archive"), new DirectoryBatchTarget(Path.Combine(_dir, "b", "outgoing"))))
        {
            var change = InMemoryChangeSource.Change(1, "K", "S");
            await store.AppendAsync(start, [new DomainEvent { Id = "e1", Type = "T", Source = "/s", Position = change.Position, Change = change, Data = change.After }], Ct);
            manifest = Assert.Single(await store.CloseDueAsync(start.AddHours(1), Ct));
        }

        var sent = Path.Combine(_dir, "b", "outgoing", manifest.File);
        var original = await File.ReadAllBytesAsync(sent, Ct);
        File.Delete(sent);

        Assert.Equal(0, await RunAsync("batch", "resend", "--config", config, "--id", manifest.BatchId));
        Assert.Equal(original, await File.ReadAllBytesAsync(sent, Ct));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(_dir, "b", "outgoing")).Length);

        Assert.Equal(0, await RunAsync("batch", "list", "--config", config));
        Assert.Equal(1, await RunAsync("batch", "resend", "--config", config, "--id", "shop-export-20000101T000000Z"));
        Assert.Equal(2, await RunAsync("batch", "resend", "--config", config, "--id", "other-sink-20000101T000000Z"));
    }

    [Fact]
    public async Task Resend_finds_the_sink_of_the_id_when_one_sink_name_is_a_prefix_of_another()
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, """
            name: shop
            source:
              test: {}
            sinks:
              - name: export
                batch: { interval: 01:00:00, spool: a/spool, archive: a/archive, target: { directory: a/outgoing } }
              - name: export-eu
                batch: { interval: 01:00:00, spool: b/spool, archive: b/archive, target: { directory: b/outgoing } }
            """, Ct);
        var start = new DateTimeOffset(2026, 11, 25, 9, 0, 0, TimeSpan.Zero);
        BatchManifest manifest;
        await using (var store = new BatchStore("shop", "export-eu", TimeSpan.FromHours(1), Path.Combine(_dir, "b", "spool"), Path.Combine(_dir, "b", "archive"), new DirectoryBatchTarget(Path.Combine(_dir, "b", "outgoing"))))
        {
            var change = InMemoryChangeSource.Change(1, "K", "S");
            await store.AppendAsync(start, [new DomainEvent { Id = "e1", Type = "T", Source = "/s", Position = change.Position, Change = change, Data = change.After }], Ct);
            manifest = Assert.Single(await store.CloseDueAsync(start.AddHours(1), Ct));
        }

        var sent = Path.Combine(_dir, "b", "outgoing", manifest.File);
        File.Delete(sent);

        Assert.Equal(0, await RunAsync("batch", "resend", "--config", config, "--id", manifest.BatchId));
        Assert.True(File.Exists(sent));
    }

    [Fact]
    public async Task A_configuration_without_a_batch_sink_is_an_error()
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, "name: shop\nsource:\n  test: {}\nsinks:\n  - name: a\n    console: {}\n", Ct);
        Assert.Equal(2, await RunAsync("batch", "list", "--config", config));
    }

    [Fact]
    public async Task Close_refuses_two_batch_sinks_on_one_spool_directory()
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, """
            name: shop
            source:
              test: {}
            sinks:
              - name: export
                batch: { interval: 01:00:00, target: { directory: a/outgoing } }
              - name: export-eu
                batch: { interval: 01:00:00, target: { directory: b/outgoing } }
            """, Ct);
        var spool = Path.Combine(_dir, "out", "batch", "spool");
        Directory.CreateDirectory(spool);
        await File.WriteAllTextAsync(Path.Combine(spool, "20000101T000000Z.spool"), "", Ct);

        // Closing it for one sink would hand the other's events out as this sink's batch and delete them.
        Assert.Equal(2, await RunAsync("batch", "close", "--config", config, "--sink", "export"));
        Assert.True(File.Exists(Path.Combine(spool, "20000101T000000Z.spool")));
    }

    [Fact]
    public async Task Close_refuses_while_a_running_sink_holds_the_spool_and_leaves_the_spool_to_it()
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, """
            name: shop
            source:
              test: {}
            sinks:
              - name: export
                batch: { interval: 01:00:00, spool: b/spool, archive: b/archive, target: { directory: b/outgoing } }
            """, Ct);
        var spool = Path.Combine(_dir, "b", "spool");
        var store = new BatchStore("shop", "export", TimeSpan.FromHours(1), spool, Path.Combine(_dir, "b", "archive"), new DirectoryBatchTarget(Path.Combine(_dir, "b", "outgoing")));
        // The running pipeline's sink, its clock inside the interval: it leaves the interval open, so only 'batch close' could close it.
        var start = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        await using (var running = new BatchSink("export", store, TimeSpan.FromHours(1), new FixedClock(start.AddMinutes(30))))
        {
            var change = InMemoryChangeSource.Change(1, "K", "S");
            await running.DeliverAsync([new DomainEvent { Id = "e1", Type = "T", Source = "/s", Position = change.Position, Change = change, Data = change.After }], Ct);

            // Closing it from a second process too would build and upload the interval twice, racing over the same temporary files.
            Assert.Equal(1, await RunAsync("batch", "close", "--config", config));
            Assert.True(File.Exists(Path.Combine(spool, "20000101T000000Z.spool")));
        }

        // Stopped: now 'batch close' is what closes it.
        Assert.Equal(0, await RunAsync("batch", "close", "--config", config));
        Assert.False(File.Exists(Path.Combine(spool, "20000101T000000Z.spool")));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static Task<int> RunAsync(params string[] args)
    {
        var root = new RootCommand();
        root.Subcommands.Add(BatchCommand.Create());
        return root.Parse(args).InvokeAsync(cancellationToken: Ct);
    }
}
