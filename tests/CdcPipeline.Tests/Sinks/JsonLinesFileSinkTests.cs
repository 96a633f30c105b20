using System.Text.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Sinks;

public class JsonLinesFileSinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-file-sink-").FullName;

    private static DomainEvent Raw(long i)
    {
        var change = InMemoryChangeSource.Change(i, "K" + i, "S");
        return new DomainEvent { Id = "id" + i, Type = DomainEvent.RawChangeType, Source = "/t", Position = change.Position, Change = change };
    }

    [Fact]
    public async Task Appends_whole_lines_and_never_truncates()
    {
        var path = Path.Combine(_dir, "out", "events.jsonl");
        await using (var sink = new JsonLinesFileSink("f", path))
        {
            await sink.DeliverAsync([Raw(1), Raw(2)], TestContext.Current.CancellationToken);
        }

        await using (var sink = new JsonLinesFileSink("f", path))
        {
            await sink.DeliverAsync([Raw(3)], TestContext.Current.CancellationToken);
        }

        var lines = await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(3, lines.Length);
        Assert.Equal(["K1", "K2", "K3"], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetProperty("ord_no").GetString()));
    }

    [Fact]
    public async Task A_second_writer_of_the_same_file_is_refused_naming_the_file_and_its_holder_while_readers_go_on()
    {
        // run and a dlq redrive (or failures resend) of the same configuration both appended to the file, interleaving
        // their lines and breaking the order run keeps. One writer per file; readers (tail, File.ReadAllLines) are no writers.
        var ct = TestContext.Current.CancellationToken;
        var path = Path.Combine(_dir, "out", "events.jsonl");
        await using (var sink = new JsonLinesFileSink("audit", path))
        {
            await sink.DeliverAsync([Raw(1)], ct);

            var refused = Assert.Throws<StateDirectoryInUseException>(() => new JsonLinesFileSink("other", path));

            Assert.Equal(path, refused.Directory);
            Assert.Equal("other", refused.Sink);
            Assert.Contains($"pid {Environment.ProcessId} on host {Environment.MachineName}", refused.Holder, StringComparison.Ordinal);
            Assert.Contains($"sink 'other': file {path} is written by another process ({refused.Holder})", refused.Message, StringComparison.Ordinal);
            Assert.Single(await File.ReadAllLinesAsync(path, ct));
            await sink.DeliverAsync([Raw(2)], ct);
        }

        // Let go at dispose (and by the OS when the process ends): the next writer takes it.
        await using (var again = new JsonLinesFileSink("audit", path))
        {
            await again.DeliverAsync([Raw(3)], ct);
        }

        Assert.Equal(3, (await File.ReadAllLinesAsync(path, ct)).Length);
    }

    [Fact]
    public async Task A_second_dispose_leaves_the_next_writers_owner_file_alone()
    {
        // The owner file names who writes the file; a sink disposed twice deleted it under the writer that came next.
        var path = Path.Combine(_dir, "events.jsonl");
        var first = new JsonLinesFileSink("first", path);
        await first.DisposeAsync();
        await using var next = new JsonLinesFileSink("next", path);

        await first.DisposeAsync();

        Assert.Contains("sink=next", await File.ReadAllTextAsync(path + ".lock.owner", TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_torn_last_line_from_a_killed_process_is_not_glued_to_the_next()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        await File.WriteAllTextAsync(path, "{\"kind\":\"change\"}\n{\"kind\":\"cha", TestContext.Current.CancellationToken);
        await using (var sink = new JsonLinesFileSink("f", path))
        {
            await sink.DeliverAsync([Raw(7)], TestContext.Current.CancellationToken);
        }

        var lines = await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(3, lines.Length);
        Assert.Equal("{\"kind\":\"cha", lines[1]);
        Assert.Equal("K7", JsonDocument.Parse(lines[2]).RootElement.GetProperty("key").GetProperty("ord_no").GetString());
    }

    [Fact]
    public async Task Size_rotation_renames_full_files_with_stamp_and_sequence_and_never_splits_a_batch()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 25, 12, 30, 15, TimeSpan.Zero));
        var lineLength = (await LineLengthAsync()) + 1;
        await using (var sink = new JsonLinesFileSink("f", path, maxBytes: lineLength * 3, timeProvider: clock))
        {
            for (var i = 1; i <= 7; i++)
            {
                await sink.DeliverAsync([Raw(i)], TestContext.Current.CancellationToken);
                clock.Now += TimeSpan.FromSeconds(1);
            }

            // a batch bigger than maxBytes stays whole, in a file of its own
            await sink.DeliverAsync([Raw(8), Raw(9), Raw(10), Raw(11)], TestContext.Current.CancellationToken);
            Assert.Equal(3, sink.RotatedFiles().Count);
        }

        var rotated = Directory.GetFiles(_dir, "events.*.jsonl").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["events.20261125T123015Z.0001.jsonl", "events.20261125T123018Z.0001.jsonl", "events.20261125T123021Z.0001.jsonl"], rotated.Select(Path.GetFileName));
        var all = rotated.Append(path).SelectMany(File.ReadAllLines).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetProperty("ord_no").GetString()).ToList();
        Assert.Equal(Enumerable.Range(1, 11).Select(i => "K" + i), all);
        Assert.Equal([3, 3, 1, 4], rotated.Append(path).Select(f => File.ReadAllLines(f).Length));
        Assert.All(rotated.Take(2), f => Assert.True(new FileInfo(f).Length <= lineLength * 3));
    }

    [Fact]
    public async Task Hourly_rotation_starts_a_new_file_each_hour_including_after_a_restart()
    {
        var path = Path.Combine(_dir, "h", "events.jsonl");
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 25, 9, 59, 0, TimeSpan.Zero));
        await using (var sink = new JsonLinesFileSink("f", path, rotation: FileRotation.Hourly, timeProvider: clock))
        {
            await sink.DeliverAsync([Raw(1)], TestContext.Current.CancellationToken);
            clock.Now = clock.Now.AddSeconds(30);
            await sink.DeliverAsync([Raw(2)], TestContext.Current.CancellationToken);
            clock.Now = clock.Now.AddMinutes(1);
            await sink.DeliverAsync([Raw(3)], TestContext.Current.CancellationToken);
        }

        // a restart two hours later: the existing file (last written at 10:00) is rotated before writing
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 11, 25, 10, 0, 40, DateTimeKind.Utc));
        clock.Now = new DateTimeOffset(2026, 11, 25, 12, 5, 0, TimeSpan.Zero);
        await using (var sink = new JsonLinesFileSink("f", path, rotation: FileRotation.Hourly, timeProvider: clock))
        {
            await sink.DeliverAsync([Raw(4)], TestContext.Current.CancellationToken);
        }

        var dir = Path.GetDirectoryName(path)!;
        Assert.Equal(["events.20261125T090000Z.0001.jsonl", "events.20261125T100000Z.0001.jsonl", "events.jsonl"], Directory.GetFiles(dir, "*.jsonl").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "events.20261125T090000Z.0001.jsonl")).Length);
        Assert.Single(File.ReadAllLines(path));
    }

    [Fact]
    public async Task Rotation_never_overwrites_an_existing_rotated_file_and_keeps_the_torn_tail_repair()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));
        await File.WriteAllTextAsync(Path.Combine(_dir, "events.20261124T000000Z.0001.jsonl"), "kept\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(path, "{\"kind\":\"change\"}\n{\"kind\":\"cha", TestContext.Current.CancellationToken);
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 11, 24, 23, 0, 0, DateTimeKind.Utc));
        await using (var sink = new JsonLinesFileSink("f", path, rotation: FileRotation.Daily, timeProvider: clock))
        {
            await sink.DeliverAsync([Raw(1)], TestContext.Current.CancellationToken);
        }

        Assert.Equal("kept\n", await File.ReadAllTextAsync(Path.Combine(_dir, "events.20261124T000000Z.0001.jsonl"), TestContext.Current.CancellationToken));
        Assert.Equal(["{\"kind\":\"change\"}", "{\"kind\":\"cha"], await File.ReadAllLinesAsync(Path.Combine(_dir, "events.20261124T000000Z.0002.jsonl"), TestContext.Current.CancellationToken));
        Assert.Single(await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_write_that_fails_partway_on_a_full_disk_leaves_no_partial_line_for_the_retry_to_glue_onto()
    {
        await using var disk = await SmallTmpfs.MountAsync(Path.Combine(_dir, "full"), 64);
        var path = Path.Combine(disk.Directory, "events.jsonl");
        var filler = await disk.FillAsync(40 * 1024);
        var delivered = new List<string?>();
        IReadOnlyList<DomainEvent>? failed = null;
        await using (var sink = new JsonLinesFileSink("f", path))
        {
            for (var b = 0; failed is null && b < 100; b++)
            {
                var batch = Enumerable.Range(b * 20, 20).Select(i => Raw(i)).ToList();
                try
                {
                    await sink.DeliverAsync(batch, TestContext.Current.CancellationToken);
                    delivered.AddRange(batch.Select(e => "K" + e.Id[2..]));
                }
                catch (IOException)
                {
                    failed = batch;
                }
            }

            Assert.NotNull(failed);
            File.Delete(filler);

            // the pipeline retries the same batch once space is back, then goes on
            await sink.DeliverAsync(failed, TestContext.Current.CancellationToken);
            delivered.AddRange(failed.Select(e => "K" + e.Id[2..]));
            await sink.DeliverAsync([Raw(9999)], TestContext.Current.CancellationToken);
            delivered.Add("K9999");
        }

        var keys = (await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetProperty("ord_no").GetString())
            .ToList();
        Assert.Equal(delivered, keys);
    }

    private async Task<int> LineLengthAsync()
    {
        var probe = Path.Combine(_dir, "probe.jsonl");
        await using (var sink = new JsonLinesFileSink("p", probe))
        {
            await sink.DeliverAsync([Raw(1)], TestContext.Current.CancellationToken);
        }

        var length = (int)new FileInfo(probe).Length - 1;
        File.Delete(probe);
        return length;
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
