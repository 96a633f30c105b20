using System.Security.Cryptography;
using System.Text;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Batch;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Sinks;

public sealed class BatchSinkTests : IDisposable
{
    private static readonly DateTimeOffset Ten = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "cdc-batch-" + Guid.NewGuid().ToString("N")[..8]);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Outgoing => Path.Combine(_root, "outgoing");

    [Fact]
    public async Task The_events_of_an_interval_become_one_file_and_a_manifest_when_the_interval_ends()
    {
        await using var store = Store(new DirectoryBatchTarget(Outgoing));
        var events = Events(1, 6);
        await store.AppendAsync(Ten.AddMinutes(5), events[..3], Ct);
        await store.AppendAsync(Ten.AddMinutes(55), events[3..5], Ct);
        await store.AppendAsync(Ten.AddMinutes(61), events[5..], Ct);

        Assert.Empty(await store.CloseDueAsync(Ten.AddMinutes(59), Ct));
        var manifest = Assert.Single(await store.CloseDueAsync(Ten.AddMinutes(60), Ct));

        Assert.Equal("legacy-orders-export-20261125T100000Z", manifest.BatchId);
        Assert.Equal("legacy-orders-export-20261125T100000Z.jsonl", manifest.File);
        Assert.Equal(Ten, manifest.IntervalStart);
        Assert.Equal(Ten.AddHours(1), manifest.IntervalEnd);
        Assert.Equal("arrival", manifest.TimeBasis);
        Assert.Equal(5, manifest.Count);
        Assert.Equal(events[0].Position.ToString(), manifest.FirstPosition);
        Assert.Equal(events[4].Position.ToString(), manifest.LastPosition);

        var data = await File.ReadAllBytesAsync(Path.Combine(Outgoing, manifest.File), Ct);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), manifest.Sha256);
        Assert.Equal(data.LongLength, manifest.Bytes);
        var expected = string.Concat(events[..5].Select(e => EventJson.Serialize(e) + "\n"));
        Assert.Equal(expected, Encoding.UTF8.GetString(data));

        var uploaded = BatchManifest.FromUtf8Json(await File.ReadAllBytesAsync(Path.Combine(Outgoing, BatchStore.ManifestName(manifest.BatchId)), Ct));
        Assert.Equal(manifest, uploaded);
        Assert.Equal([manifest.File, BatchStore.ManifestName(manifest.BatchId)], (await new DirectoryBatchTarget(Outgoing).ListAsync(Ct)).Order(StringComparer.Ordinal));

        // The 11:00 interval is still open: its event waits in the spool.
        Assert.Single(Directory.GetFiles(store.SpoolDirectory));
        Assert.Equal(1, Assert.Single(await store.CloseDueAsync(Ten.AddHours(2), Ct)).Count);
    }

    [Fact]
    public async Task Resending_a_batch_by_id_gives_the_identical_files_under_the_same_names_and_no_duplicate()
    {
        await using var store = Store(new DirectoryBatchTarget(Outgoing));
        await store.AppendAsync(Ten.AddMinutes(1), Events(1, 4), Ct);
        var manifest = Assert.Single(await store.CloseDueAsync(Ten.AddHours(1), Ct));
        var target = new DirectoryBatchTarget(Outgoing);
        var before = await ReadAllAsync(target);

        // Downstream lost the data file: re-send by id.
        File.Delete(Path.Combine(Outgoing, manifest.File));
        var resent = await store.ResendAsync(manifest.BatchId, Ct);
        Assert.Equal(manifest, resent);
        Assert.Equal(before, await ReadAllAsync(target));

        // Re-sending a batch that is still there replaces it: still one copy, byte-identical.
        await store.ResendAsync(manifest.BatchId, Ct);
        Assert.Equal(before, await ReadAllAsync(target));
        Assert.DoesNotContain(Directory.GetFiles(Outgoing), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Resending_refuses_a_corrupted_archive_and_an_unknown_id_names_the_known_ones()
    {
        await using var store = Store(new DirectoryBatchTarget(Outgoing));
        await store.AppendAsync(Ten, Events(1, 2), Ct);
        var manifest = Assert.Single(await store.CloseDueAsync(Ten.AddHours(1), Ct));

        var unknown = await Assert.ThrowsAsync<FileNotFoundException>(() => store.ResendAsync("nope", Ct));
        Assert.Contains(manifest.BatchId, unknown.Message, StringComparison.Ordinal);

        await File.AppendAllTextAsync(Path.Combine(store.ArchiveDirectory, manifest.File), "tampered\n", Ct);
        var corrupt = await Assert.ThrowsAsync<InvalidDataException>(() => store.ResendAsync(manifest.BatchId, Ct));
        Assert.Contains("SHA-256", corrupt.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_upload_keeps_the_spool_and_the_next_close_sends_the_same_batch()
    {
        var failing = new FailingTarget();
        var events = Events(1, 4);
        await using (var store = Store(failing))
        {
            await store.AppendAsync(Ten.AddMinutes(10), events, Ct);
            await Assert.ThrowsAsync<IOException>(() => store.CloseDueAsync(Ten.AddHours(1), Ct));
            Assert.Single(Directory.GetFiles(store.SpoolDirectory));
        }

        // A restarted sink (same directories) closes it again, deterministically.
        await using var again = Store(new DirectoryBatchTarget(Outgoing));
        var manifest = Assert.Single(await again.CloseDueAsync(Ten.AddHours(1), Ct));
        Assert.Equal(4, manifest.Count);
        Assert.Empty(Directory.GetFiles(again.SpoolDirectory));
        Assert.Equal(string.Concat(events.Select(e => EventJson.Serialize(e) + "\n")), await File.ReadAllTextAsync(Path.Combine(Outgoing, manifest.File), Ct));
    }

    [Fact]
    public async Task A_torn_spool_line_from_a_crash_is_cut_before_appending_more()
    {
        var events = Events(1, 3);
        await using (var store = Store(new DirectoryBatchTarget(Outgoing)))
        {
            await store.AppendAsync(Ten, events[..2], Ct);
        }

        var spool = Directory.GetFiles(Path.Combine(_root, "spool")).Single();
        await File.AppendAllTextAsync(spool, "slot@99:0\t{\"specversion\":\"1.0\",\"id\":\"torn", Ct); // a crash mid-append

        await using var reopened = Store(new DirectoryBatchTarget(Outgoing));
        await reopened.AppendAsync(Ten.AddMinutes(1), events[2..], Ct);
        var manifest = Assert.Single(await reopened.CloseDueAsync(Ten.AddHours(1), Ct));
        Assert.Equal(3, manifest.Count);
        Assert.Equal(string.Concat(events.Select(e => EventJson.Serialize(e) + "\n")), await File.ReadAllTextAsync(Path.Combine(Outgoing, manifest.File), Ct));
    }

    [Fact]
    public async Task An_append_that_fails_on_a_full_disk_leaves_nothing_in_the_spool_that_the_retry_would_duplicate()
    {
        Directory.CreateDirectory(_root);
        await using var disk = await SmallTmpfs.MountAsync(Path.Combine(_root, "spool"), 64);
        var filler = await disk.FillAsync(40 * 1024);
        var delivered = new List<DomainEvent>();
        DomainEvent[]? failed = null;
        await using var store = Store(new DirectoryBatchTarget(Outgoing));
        for (var b = 0; failed is null && b < 100; b++)
        {
            var events = Events(1 + (b * 5), 5);
            try
            {
                await store.AppendAsync(Ten.AddMinutes(1), events, Ct);
                delivered.AddRange(events);
            }
            catch (IOException)
            {
                failed = events;
            }
        }

        Assert.NotNull(failed);
        File.Delete(filler);

        // the pipeline retries the same events once space is back
        await store.AppendAsync(Ten.AddMinutes(2), failed, Ct);
        delivered.AddRange(failed);
        var manifest = Assert.Single(await store.CloseDueAsync(Ten.AddHours(1), Ct));
        Assert.Equal(delivered.Count, manifest.Count);
        Assert.Equal(string.Concat(delivered.Select(e => EventJson.Serialize(e) + "\n")), await File.ReadAllTextAsync(Path.Combine(Outgoing, manifest.File), Ct));
    }

    [Fact]
    public async Task The_sink_spools_by_arrival_time_and_closes_when_its_clock_passes_the_interval_end()
    {
        var clock = new ManualClock(Ten.AddMinutes(30));
        var store = Store(new DirectoryBatchTarget(Outgoing));
        await using var sink = new BatchSink("export", store, TimeSpan.FromHours(1), clock);
        await sink.DeliverAsync(Events(1, 3), Ct);

        Assert.Empty(await sink.CloseDueAsync(Ct));
        clock.Now = Ten.AddHours(1);
        var manifest = Assert.Single(await sink.CloseDueAsync(Ct));
        Assert.Equal(3, manifest.Count);
        Assert.Equal(Ten, manifest.IntervalStart);
    }

    [Fact]
    public async Task A_second_sink_on_a_spool_directory_another_sink_holds_fails_naming_the_directory_and_the_holder()
    {
        // Two stores on one directory, as two processes would have: flock is per open file, so it contends in one process too.
        var first = new BatchSink("export", Store(new DirectoryBatchTarget(Outgoing)), TimeSpan.FromHours(1));
        try
        {
            var second = Store(new DirectoryBatchTarget(Path.Combine(_root, "other")));
            var error = Assert.ThrowsAny<IOException>(() => new BatchSink("export", second, TimeSpan.FromHours(1)));

            Assert.Contains(second.SpoolDirectory, error.Message, StringComparison.Ordinal);
            Assert.Contains(FormattableString.Invariant($"pid {Environment.ProcessId} on host {Environment.MachineName}, since "), error.Message, StringComparison.Ordinal);
            Assert.Contains("stop that process", error.Message, StringComparison.Ordinal);
            Assert.Contains("its own spool directory", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', error.Message);

            // The first still spools and closes: the refused one took nothing from it.
            await first.DeliverAsync(Events(1, 2), Ct);
            Assert.Single(Directory.GetFiles(first.Store.SpoolDirectory, "*.spool"));
        }
        finally
        {
            await first.DisposeAsync();
        }

        // Released on stop: the next sink starts.
        await using var next = new BatchSink("export", Store(new DirectoryBatchTarget(Outgoing)), TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task An_owner_file_left_by_a_killed_holder_does_not_block_a_restart()
    {
        // kill -9: the OS drops the lock, but the owner file stays behind with the dead holder's pid.
        var spool = Path.Combine(_root, "spool");
        Directory.CreateDirectory(spool);
        await File.WriteAllTextAsync(Path.Combine(spool, ".lock"), "", Ct);
        await File.WriteAllTextAsync(Path.Combine(spool, ".lock.owner"), "pid=999999\nhost=elsewhere\nsince=2000-01-01T00:00:00.0000000+00:00\n", Ct);

        await using (var sink = new BatchSink("export", Store(new DirectoryBatchTarget(Outgoing)), TimeSpan.FromHours(1)))
        {
            Assert.Contains(FormattableString.Invariant($"pid={Environment.ProcessId}"), await File.ReadAllTextAsync(Path.Combine(spool, ".lock.owner"), Ct), StringComparison.Ordinal);
        }

        await using var again = new BatchSink("export", Store(new DirectoryBatchTarget(Outgoing)), TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task Events_arriving_for_an_interval_that_was_already_closed_go_to_the_next_open_one()
    {
        await using var store = Store(new DirectoryBatchTarget(Outgoing));
        await store.AppendAsync(Ten.AddMinutes(1), Events(1, 2), Ct);
        var closed = Assert.Single(await store.CloseDueAsync(Ten.AddHours(1), Ct));
        var archived = await File.ReadAllBytesAsync(Path.Combine(store.ArchiveDirectory, closed.File), Ct);

        await store.AppendAsync(Ten.AddMinutes(2), Events(3, 1), Ct); // the clock stepped back

        var next = Assert.Single(await store.CloseDueAsync(Ten.AddHours(2), Ct));
        Assert.Equal(Ten.AddHours(1), next.IntervalStart);
        Assert.Equal(1, next.Count);
        Assert.Equal(archived, await File.ReadAllBytesAsync(Path.Combine(store.ArchiveDirectory, closed.File), Ct));
    }

    [Fact]
    public async Task At_start_the_sink_deletes_its_own_leftovers_of_crashed_uploads_and_nothing_else()
    {
        // A kill -9 between writing and renaming leaves hidden temporary files in the target and the archive.
        var archive = Path.Combine(_root, "archive");
        Directory.CreateDirectory(Outgoing);
        Directory.CreateDirectory(archive);
        DateTimeOffset processStart;
        using (var self = System.Diagnostics.Process.GetCurrentProcess())
        {
            processStart = self.StartTime.ToUniversalTime();
        }

        var crashed = processStart.AddHours(-1);
        string Hex() => Guid.NewGuid().ToString("N");
        string Put(string directory, string name, DateTimeOffset? written)
        {
            var path = Path.Combine(directory, name);
            File.WriteAllText(path, "partial");
            if (written is { } w)
            {
                File.SetLastWriteTimeUtc(path, w.UtcDateTime);
            }

            return path;
        }

        string[] gone =
        [
            Put(Outgoing, $".legacy-orders-export-20261125T100000Z.jsonl.{Hex()}.tmp", crashed),
            Put(Outgoing, $".legacy-orders-export-20261125T100000Z.manifest.json.{Hex()}.tmp", crashed),
            Put(archive, "legacy-orders-export-20261125T100000Z.jsonl.tmp", crashed),
            Put(archive, "legacy-orders-export-20261125T100000Z.manifest.json.tmp", crashed),
        ];
        string[] kept =
        [
            Put(Outgoing, $".legacy-orders-export-20261125T110000Z.jsonl.{Hex()}.tmp", null), // in progress (a live instance's)
            Put(Outgoing, $".legacy-orders-export-eu-20261125T100000Z.jsonl.{Hex()}.tmp", crashed), // sink "export-eu": same prefix
            Put(Outgoing, $".legacy-orders-audit-20261125T100000Z.jsonl.{Hex()}.tmp", crashed), // another sink
            Put(Outgoing, $".billing-export-20261125T100000Z.jsonl.{Hex()}.tmp", crashed), // another pipeline
            Put(Outgoing, ".legacy-orders-export-20261125T100000Z.jsonl.tmp", crashed), // not our temporary name
            Put(Outgoing, $".legacy-orders-export-20261125T100000Z.csv.{Hex()}.tmp", crashed),
            Put(Outgoing, $".legacy-orders-export-20261125T100000Z.jsonl.{Hex()[..31]}.tmp", crashed),
            Put(Outgoing, "legacy-orders-export-20261125T090000Z.jsonl", crashed), // a delivered batch
            Put(archive, "legacy-orders-export-20261125T110000Z.jsonl.tmp", null),
            Put(archive, "legacy-orders-export-eu-20261125T100000Z.jsonl.tmp", crashed),
            Put(archive, "billing-export-20261125T100000Z.jsonl.tmp", crashed),
            Put(archive, "legacy-orders-export-20261125T090000Z.jsonl", crashed), // an archived batch
            Put(archive, "notes.tmp", crashed),
        ];

        var log = new RecordingLogger();
        await using (var sink = new BatchSink("export", Store(new DirectoryBatchTarget(Outgoing)), TimeSpan.FromHours(1), logger: log))
        {
        }

        Assert.All(gone, path => Assert.False(File.Exists(path), path + " should have been deleted"));
        Assert.All(kept, path => Assert.True(File.Exists(path), path + " should have been kept"));
        Assert.Equal(gone.Order(StringComparer.Ordinal), log.Deleted.Select(d => d.Path).Order(StringComparer.Ordinal));
        Assert.All(log.Deleted, d => Assert.True(d.Age >= DateTimeOffset.UtcNow - crashed - TimeSpan.FromMinutes(1), $"age {d.Age} of {d.Path}"));
    }

    [Theory]
    [InlineData("00:07:00")]
    [InlineData("1.12:00:00")]
    [InlineData("00:00:00")]
    public void An_interval_that_does_not_align_to_days_is_rejected(string interval)
    {
        var error = Assert.Throws<ArgumentException>(() => new BatchStore("p", "s", TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture), _root, _root, new DirectoryBatchTarget(_root)));
        Assert.Contains("divide a day", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sinks_sharing_an_archive_each_list_only_their_own_batches()
    {
        var archive = Path.Combine(_root, "archive");
        await using var export = new BatchStore("legacy-orders", "export", TimeSpan.FromHours(1), Path.Combine(_root, "a"), archive, new DirectoryBatchTarget(Outgoing));
        await using var exportEu = new BatchStore("legacy-orders", "export-eu", TimeSpan.FromHours(1), Path.Combine(_root, "b"), archive, new DirectoryBatchTarget(Outgoing));
        await export.AppendAsync(Ten, Events(1, 2), Ct);
        await exportEu.AppendAsync(Ten, Events(3, 1), Ct);
        var own = Assert.Single(await export.CloseDueAsync(Ten.AddHours(1), Ct));
        var other = Assert.Single(await exportEu.CloseDueAsync(Ten.AddHours(1), Ct));

        Assert.Equal([own.BatchId], (await export.ListAsync(Ct)).Select(m => m.BatchId));
        Assert.Equal([other.BatchId], (await exportEu.ListAsync(Ct)).Select(m => m.BatchId));
    }

    [Fact]
    public void A_directory_fsync_after_a_rename_runs_on_linux_and_names_a_missing_directory()
    {
        // A lost rename needs a power cut to show, which no test makes; this checks the call path itself works.
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("directory fsync is a no-op on Windows");
        }

        Directory.CreateDirectory(_root);
        File.WriteAllText(Path.Combine(_root, "a.tmp"), "x");
        File.Move(Path.Combine(_root, "a.tmp"), Path.Combine(_root, "a"));
        CdcPipeline.Core.Sinks.DirectorySync.Flush(_root);

        var missing = Path.Combine(_root, "nope");
        var error = Assert.Throws<IOException>(() => CdcPipeline.Core.Sinks.DirectorySync.Flush(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private BatchStore Store(IBatchTarget target) =>
        new("legacy-orders", "export", TimeSpan.FromHours(1), Path.Combine(_root, "spool"), Path.Combine(_root, "archive"), target);

    private static DomainEvent[] Events(int from, int count) =>
        Enumerable.Range(from, count).Select(i =>
        {
            var change = InMemoryChangeSource.Change(i, "K" + (i % 3), "S");
            return new DomainEvent
            {
                Id = EventIds.For(change.Position, "test"),
                Type = "OrderShipped",
                Source = "/cdcpipeline/legacy-orders/public.tb_ord_mst",
                Subject = "K" + (i % 3),
                Data = change.After,
                Position = change.Position,
                Change = change,
            };
        }).ToArray();

    private static async Task<Dictionary<string, string>> ReadAllAsync(DirectoryBatchTarget target)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in await target.ListAsync(Ct))
        {
            files[name] = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(target.Directory, name), Ct)));
        }

        return files;
    }

    private sealed class FailingTarget : IBatchTarget
    {
        public string Description => "failing";

        public Task UploadAsync(string name, Stream content, CancellationToken cancellationToken) => throw new IOException("target unreachable");

        public Task<bool> ExistsAsync(string name, CancellationToken cancellationToken) => Task.FromResult(false);

        public Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<IReadOnlyList<BatchLeftover>> DeleteLeftoversAsync(Func<string, bool> owned, DateTimeOffset writtenBefore, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<BatchLeftover>>([]);
    }

    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger<BatchSink>
    {
        public List<(string Path, TimeSpan Age)> Deleted { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Structured: the path and the age are fields of their own, not only words in the message.
            if (state is IReadOnlyList<KeyValuePair<string, object?>> fields && fields.Any(f => f.Key == "Path") && fields.Any(f => f.Key == "Age"))
            {
                Deleted.Add(((string)fields.First(f => f.Key == "Path").Value!, (TimeSpan)fields.First(f => f.Key == "Age").Value!));
            }
        }
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
