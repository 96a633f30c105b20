using CdcPipeline.Core.Changes;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// Snapshots consistent with the slot: nothing lost or doubled under concurrent writes, per-key versions in order,
/// resumable after a crash from the last acknowledged chunk, and incremental re-snapshots while streaming.
/// Every row carries a version <c>v</c> that each update increments, so order violations are visible.
/// </summary>
public sealed class PgOutputSnapshotTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private async Task CreateVersionedTableAsync(int rows)
    {
        await Db.ExecuteAsync($"CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, note text); INSERT INTO acct SELECT g, 0, 'n' || g FROM generate_series(1, {rows}) g");
    }

    /// <summary>Updates random rows (v = v + 1), inserts and deletes until cancelled.</summary>
    private int _writes;

    private async Task WaitForWritesAsync(int more)
    {
        var target = Volatile.Read(ref _writes) + more;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref _writes) < target)
        {
            Assert.True(DateTime.UtcNow < deadline, "the concurrent writer is stuck");
            await Task.Delay(10, Ct);
        }
    }

    private async Task WriteConcurrentlyAsync(int maxId, CancellationToken stop)
    {
        await using var connection = new NpgsqlConnection(Db.ConnectionString);
        await connection.OpenAsync(Ct);
        var random = new Random(42);
        var next = maxId + 1;
        while (!stop.IsCancellationRequested)
        {
            var sql = random.Next(10) switch
            {
                0 => $"INSERT INTO acct VALUES ({next++}, 0, 'new')",
                1 => $"DELETE FROM acct WHERE id = {random.Next(1, maxId)}",
                _ => $"UPDATE acct SET v = v + 1 WHERE id IN ({random.Next(1, maxId)}, {random.Next(1, maxId)})",
            };
            await using var cmd = new NpgsqlCommand(sql, connection);
            await cmd.ExecuteNonQueryAsync(Ct);
            Interlocked.Increment(ref _writes);
        }
    }

    /// <summary>Per key: versions never go back, the last event equals the table, deletes leave nothing.</summary>
    private async Task AssertConvergedInOrderAsync(IEnumerable<ChangeEvent> events)
    {
        var last = new Dictionary<long, long?>();
        foreach (var e in events.Where(e => e.Kind == ChangeKind.Change && e.Source.Table == "acct"))
        {
            var id = Convert.ToInt64((e.After ?? e.Before ?? e.Key)!["id"]);
            long? v = e.After is { } a ? Convert.ToInt64(a["v"]) : null;
            if (v is not null && last.TryGetValue(id, out var previous) && previous is not null)
            {
                Assert.True(v >= previous, $"key {id} went back from v{previous} to v{v} ({e})");
            }

            last[id] = v;
        }

        var table = (await Db.QueryAsync("SELECT id, v FROM acct")).ToDictionary(r => Convert.ToInt64(r[0]), r => Convert.ToInt64(r[1]));
        var live = last.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!.Value);
        Assert.Equal(table.OrderBy(kv => kv.Key), live.OrderBy(kv => kv.Key));
    }

    private async Task<List<ChangeEvent>> DrainUntilQuietAsync(SourceReader reader, List<ChangeEvent> into, bool acknowledge = true)
    {
        // a marker write tells us when the stream has caught up with everything written before it
        await Db.ExecuteAsync("SELECT pg_logical_emit_message(false, 'test-marker', 'end')");
        var rest = await reader.TakeUntilAsync(e => e.Message?.Prefix == "test-marker", TimeSpan.FromSeconds(60));
        into.AddRange(rest);
        if (acknowledge)
        {
            await reader.AcknowledgeAsync(rest);
        }

        return into;
    }

    [Fact]
    public async Task Initial_snapshot_with_concurrent_writes_loses_and_doubles_nothing()
    {
        await CreateVersionedTableAsync(3000);
        using var stop = new CancellationTokenSource();
        // the writer runs before, while and after the slot is created and the snapshot is read
        var writer = Task.Run(() => WriteConcurrentlyAsync(3000, stop.Token), Ct);
        await WaitForWritesAsync(50);
        var reader = Open(Options(["public.acct"], SnapshotMode.Initial) with { SnapshotChunkSize = 250 });

        var events = new List<ChangeEvent>();
        events.AddRange(await reader.TakeUntilAsync(e => e.Source.Snapshot == SnapshotMarker.Last, TimeSpan.FromSeconds(60)));
        await WaitForWritesAsync(200);
        await stop.CancelAsync();
        await writer;
        await DrainUntilQuietAsync(reader, events);

        var snapshot = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        var rowsAtSnapshot = snapshot.Count;
        Assert.True(rowsAtSnapshot > 2900, $"{rowsAtSnapshot} snapshot rows");
        Assert.Equal(rowsAtSnapshot, snapshot.Select(e => e.Key!["id"]).Distinct().Count());
        Assert.Equal(SnapshotMarker.First, snapshot[0].Source.Snapshot);
        Assert.Equal(SnapshotMarker.Last, snapshot[^1].Source.Snapshot);
        Assert.All(snapshot.Skip(1).SkipLast(1), e => Assert.Equal(SnapshotMarker.True, e.Source.Snapshot));
        Assert.True(events.Count(e => e.Operation is ChangeOperation.Update) > 0, "the concurrent writer did not overlap the snapshot");
        Assert.True(snapshot[^1].Position < events.First(e => e.Operation == ChangeOperation.Update).Position);
        await AssertConvergedInOrderAsync(events);
    }

    [Fact]
    public async Task The_snapshot_start_and_progress_of_a_table_never_analysed_say_its_row_count_is_unknown_not_zero()
    {
        // 20 rows stay under autovacuum's analyze threshold (50): reltuples stays -1 (PostgreSQL 14+) or 0 with pages written
        await CreateVersionedTableAsync(20);
        var reader = Open(Options(["public.acct"], SnapshotMode.InitialOnly));

        await reader.TakeAsync(20);

        var started = Assert.Single(Logs.Lines, l => l.Contains("Snapshot of public.acct started", StringComparison.Ordinal));
        Assert.Contains("row count unknown (never analysed", started, StringComparison.Ordinal);
        Assert.DoesNotContain("about 0 rows", started, StringComparison.Ordinal);
        var progress = Assert.Single(Logs.Lines, l => l.Contains("Snapshot of public.acct: 20 of", StringComparison.Ordinal));
        Assert.Contains("20 of an unknown number of rows", progress, StringComparison.Ordinal);
        Assert.DoesNotContain("about", progress, StringComparison.Ordinal);
        Assert.Equal((20L, -1L), PostgresMetrics.LastSnapshotRows(Db.Slot, "public.acct")); // /metrics: no estimate, not 0
    }

    [Fact]
    public async Task The_initial_snapshot_s_progress_is_in_the_metrics_per_table_as_the_log_gives_it()
    {
        // The log said how far a long initial snapshot got, /metrics nothing: a dashboard or an alert could not follow it.
        await CreateVersionedTableAsync(1000);
        await Db.ExecuteAsync("ANALYZE acct");
        var reader = Open(Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 100 });

        await reader.TakeAsync(150);
        var midway = PostgresMetrics.LastSnapshotRows(Db.Slot, "public.acct");
        await reader.TakeAsync(850);

        Assert.NotNull(midway);
        Assert.InRange(midway.Value.Rows, 100, 900);
        Assert.Equal(1000L, midway.Value.Estimated);
        Assert.Equal((1000L, 1000L), PostgresMetrics.LastSnapshotRows(Db.Slot, "public.acct"));
    }

    [Fact]
    public async Task Initial_only_reads_the_tables_and_ends()
    {
        await CreateVersionedTableAsync(120);
        var reader = Open(Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 50 });

        var events = await reader.TakeAsync(120);

        await Assert.ThrowsAsync<InvalidOperationException>(() => reader.NextAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), events.Select(e => Convert.ToInt64(e.Key!["id"])));
    }

    [Fact]
    public async Task Initial_only_leaves_no_slot_behind_and_resumes_after_a_crash()
    {
        await CreateVersionedTableAsync(300);
        var options = Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 100 };
        var crashed = Open(options);
        var firstRun = await crashed.TakeAsync(150);
        await crashed.AcknowledgeAsync(firstRun);
        await crashed.DisposeAsync();
        var slotsAfterCrash = await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'");

        var resumed = Open(options);
        var secondRun = await resumed.TakeAsync(200);
        await Assert.ThrowsAsync<InvalidOperationException>(() => resumed.NextAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(0, slotsAfterCrash);
        Assert.Equal(Enumerable.Range(101, 200).Select(i => (long)i), secondRun.Select(e => Convert.ToInt64(e.Key!["id"])));
    }

    [Fact]
    public async Task Initial_only_run_again_after_it_completed_reads_nothing_again()
    {
        // Debezium's initial_only snapshotter: "Previous initial snapshot completed, no snapshot will be performed"
        await CreateVersionedTableAsync(120);
        var options = Options(["public.acct"], SnapshotMode.InitialOnly) with { SnapshotChunkSize = 50 };
        var first = Open(options);
        var firstRun = await first.TakeAsync(120);
        await first.AcknowledgeAsync(firstRun);
        await Assert.ThrowsAsync<InvalidOperationException>(() => first.NextAsync(TimeSpan.FromSeconds(10)));
        await first.DisposeAsync();

        var again = Open(options);
        var next = await Record.ExceptionAsync(async () => Assert.Fail($"read again: {await again.NextAsync(TimeSpan.FromSeconds(10))}"));

        Assert.IsType<InvalidOperationException>(next);
        Assert.Equal(0, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
    }

    [Fact]
    public async Task Generated_columns_are_left_out_of_snapshot_rows_as_pgoutput_leaves_them_out_of_streamed_rows()
    {
        // pgoutput (PostgreSQL 15) never sends GENERATED ... STORED columns; a snapshot row must have the streamed shape
        await Db.ExecuteAsync("CREATE TABLE priced (id int PRIMARY KEY, net numeric(10,2), gross numeric(10,2) GENERATED ALWAYS AS (net * 1.2) STORED, note text); " +
            "INSERT INTO priced (id, net, note) VALUES (1, 10, 'a')");
        var reader = Open(Options(["public.priced"], SnapshotMode.Initial));
        var read = (await reader.TakeAsync(1)).Single();
        await reader.AcknowledgeAsync([read]);
        await Db.ExecuteAsync("INSERT INTO priced (id, net, note) VALUES (2, 20, 'b')");
        var insert = (await reader.TakeAsync(1)).Single(e => e.Kind == ChangeKind.Change);

        Assert.Equal(ChangeOperation.Read, read.Operation);
        Assert.Equal(ChangeOperation.Create, insert.Operation);
        Assert.Equal(["id", "net", "note"], insert.After!.Select(kv => kv.Key));
        Assert.Equal(insert.After!.Select(kv => kv.Key), read.After!.Select(kv => kv.Key));
    }

    [Fact]
    public async Task Requested_re_snapshot_reads_the_table_again_while_streaming()
    {
        await CreateVersionedTableAsync(250);
        var reader = await OpenStreamingAsync(Options(["public.acct"]) with { SnapshotChunkSize = 100 });

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("acct");
        await Db.ExecuteAsync("UPDATE acct SET v = 1 WHERE id = 7");

        // A change committed inside a chunk's window supersedes that chunk's copy of the row (DBLog), so row 7
        // is read again only when its UPDATE committed outside the window; every other row must be read again.
        static long Id(ChangeEvent e) => Convert.ToInt64(e.Key!["id"]);
        var events = await reader.TakeAsync(249, e => e.Operation == ChangeOperation.Read && Id(e) != 7, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(events);
        await DrainUntilQuietAsync(reader, events);

        var reads = events.Where(e => e.Operation == ChangeOperation.Read).Select(Id).ToList();
        Assert.Equal(Enumerable.Range(1, 250).Where(i => i != 7).Select(i => (long)i), reads.Where(i => i != 7).Distinct().Order());
        Assert.True(reads.Count(i => i == 7) <= 1, "row 7 read twice");
        Assert.Contains(events, e => e.Operation == ChangeOperation.Update && Id(e) == 7);
        await AssertConvergedInOrderAsync(events);
    }

    [Fact]
    public async Task A_requested_re_snapshot_says_when_it_starts_and_how_far_each_chunk_got_as_the_initial_snapshot_does()
    {
        // An operator who sent the signal for a large table saw "requested", then nothing until "done": no row estimate,
        // no chunk progress (the initial snapshot logs both, events 1010 and 1011), so a long re-snapshot looked stuck.
        await CreateVersionedTableAsync(250);
        await Db.ExecuteAsync("ANALYZE acct");
        var reader = await OpenStreamingAsync(Options(["public.acct"]) with { SnapshotChunkSize = 100 });

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("acct");
        var events = await reader.TakeAsync(250, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(events);
        await DrainUntilQuietAsync(reader, events);

        List<string> lines;
        lock (Logs.Lines)
        {
            lines = [.. Logs.Lines];
        }

        var started = Assert.Single(lines, l => l.Contains("Snapshot of public.acct started", StringComparison.Ordinal));
        Assert.Contains("about 250 rows, chunks of 100", started, StringComparison.Ordinal);
        Assert.Single(lines, l => l.Contains("Snapshot of public.acct: 100 of about 250 rows", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("Snapshot of public.acct: 200 of about 250 rows", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("Snapshot of public.acct done: 250 rows", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Re_snapshot_after_ALTER_TABLE_reads_rows_in_the_shape_the_stream_has_now()
    {
        await CreateVersionedTableAsync(150);
        var reader = await OpenStreamingAsync(Options(["public.acct"]) with { SnapshotChunkSize = 100 });
        var source = (PgOutputChangeSource)reader.Source;
        static long Id(ChangeEvent e) => Convert.ToInt64(e.Key!["id"]);
        static string Columns(ChangeEvent e) => string.Join(",", e.After!.Select(kv => kv.Key));

        // the first snapshot describes the table
        source.RequestSnapshot("acct");
        await reader.AcknowledgeAsync(await reader.TakeAsync(150, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60)));

        // a column added (with a value for every row): streamed rows carry it, so a new snapshot's rows must too
        await Db.ExecuteAsync("ALTER TABLE acct ADD COLUMN region text NOT NULL DEFAULT 'eu'; INSERT INTO acct VALUES (1000, 0, 'new', 'us')");
        var insert = (await reader.TakeAsync(1, e => e.Operation == ChangeOperation.Create, TimeSpan.FromSeconds(30))).Single(e => e.Operation == ChangeOperation.Create);
        source.RequestSnapshot("acct");
        var taken = await reader.TakeAsync(151, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await reader.AcknowledgeAsync(taken);
        var added = taken.Where(e => e.Operation == ChangeOperation.Read).ToList();

        Assert.Equal("id,v,note,region", Columns(insert));
        Assert.All(added, e => Assert.Equal(Columns(insert), Columns(e)));
        Assert.All(added, e => Assert.Equal(Id(e) == 1000 ? "us" : "eu", e.After!["region"]));

        // a column dropped: a snapshot selecting it would fail on every retry, and no row would come
        await Db.ExecuteAsync("ALTER TABLE acct DROP COLUMN note; INSERT INTO acct VALUES (1001, 0, 'us')");
        var insertAfterDrop = (await reader.TakeAsync(1, e => e.Operation == ChangeOperation.Create, TimeSpan.FromSeconds(30))).Single(e => e.Operation == ChangeOperation.Create);
        source.RequestSnapshot("acct");
        var dropped = (await reader.TakeAsync(152, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60))).Where(e => e.Operation == ChangeOperation.Read).ToList();

        Assert.Equal("id,v,region", Columns(insertAfterDrop));
        Assert.All(dropped, e => Assert.Equal(Columns(insertAfterDrop), Columns(e)));
        Assert.Equal(Enumerable.Range(1, 150).Select(i => (long)i).Append(1000).Append(1001), dropped.Select(Id).Order());
        await reader.AcknowledgeAsync(dropped);

        // a column retyped (same names): snapshot values convert as the stream's do now
        await Db.ExecuteAsync("ALTER TABLE acct ALTER COLUMN v TYPE text; INSERT INTO acct VALUES (1002, 'seven', 'us')");
        var insertAfterRetype = (await reader.TakeAsync(1, e => e.Operation == ChangeOperation.Create, TimeSpan.FromSeconds(30))).Single(e => e.Operation == ChangeOperation.Create);
        source.RequestSnapshot("acct");
        var retyped = (await reader.TakeAsync(153, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60))).Where(e => e.Operation == ChangeOperation.Read).ToList();

        Assert.IsType<string>(insertAfterRetype.After!["v"]);
        Assert.All(retyped, e => Assert.IsType<string>(e.After!["v"]));
        Assert.Equal("seven", retyped.Single(e => Id(e) == 1002).After!["v"]);
    }

    [Fact]
    public async Task Interrupted_snapshot_resumes_after_the_last_acknowledged_chunk()
    {
        await CreateVersionedTableAsync(2000);
        var options = Options(["public.acct"], SnapshotMode.Initial) with { SnapshotChunkSize = 200 };
        var crashed = Open(options);
        var firstRun = await crashed.TakeAsync(700);
        await crashed.AcknowledgeAsync(firstRun.Take(500)); // chunks 1-2 complete, chunk 3 only partly
        await crashed.DisposeAsync();
        var state = await File.ReadAllTextAsync(Path.Combine(StateDirectory, Db.Slot + ".snapshot.json"), Ct);

        // rows change after the crash, on both sides of the resume point
        await Db.ExecuteAsync("UPDATE acct SET v = v + 1 WHERE id IN (5, 450, 1500); DELETE FROM acct WHERE id = 1600; INSERT INTO acct VALUES (5000, 0, 'x')");
        var resumed = Open(options);
        var secondRun = new List<ChangeEvent>();
        while (secondRun.Count(e => e.Operation == ChangeOperation.Read) < 1599)
        {
            var batch = await resumed.TakeAsync(1, timeout: TimeSpan.FromSeconds(60));
            secondRun.AddRange(batch);
            await resumed.AcknowledgeAsync(batch);
        }

        await DrainUntilQuietAsync(resumed, secondRun);

        Assert.Contains("\"400\"", state, StringComparison.Ordinal); // the last key of the last acknowledged chunk
        var reread = secondRun.Where(e => e.Operation == ChangeOperation.Read).Select(e => Convert.ToInt64(e.Key!["id"])).ToList();
        Assert.Equal(Enumerable.Range(401, 1600).Where(i => i != 1600).Select(i => (long)i).Append(5000), reread);
        Assert.All(secondRun.Where(e => e.Operation == ChangeOperation.Read), e => Assert.Equal(SnapshotMarker.Incremental, e.Source.Snapshot));
        await AssertConvergedInOrderAsync(firstRun.Take(400).Concat(secondRun));
    }

    [Fact]
    public async Task A_re_snapshot_stopped_midway_says_at_the_next_start_that_it_resumes_and_how_far_it_got()
    {
        // An operator who stopped run during a re-snapshot saw, at the next start, chunk lines from "300 of about 1000 rows" on
        // with no word that an earlier request was resumed, from where, or whose request it was.
        await CreateVersionedTableAsync(1000);
        await Db.ExecuteAsync("ANALYZE acct; CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var options = Options(["public.acct"]) with { SnapshotChunkSize = 100, SignalTable = "public.cdc_signal" };
        var stopped = await OpenStreamingAsync(options);
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");
        await Db.ExecuteAsync("""INSERT INTO cdc_signal VALUES ('ops-42', 'execute-snapshot', '{"data-collections":["public.acct"]}')""");
        var first = await stopped.TakeAsync(250, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await stopped.AcknowledgeAsync(first); // chunks 1-2 complete, chunk 3 only partly
        await stopped.DisposeAsync();
        int before;
        lock (Logs.Lines)
        {
            before = Logs.Lines.Count;
        }

        var resumed = Open(options);
        var second = await resumed.TakeAsync(800, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));
        await resumed.AcknowledgeAsync(second);

        List<string> lines;
        lock (Logs.Lines)
        {
            lines = Logs.Lines.Skip(before).ToList();
        }

        var line = Assert.Single(lines, l => l.Contains("Snapshot of public.acct resumed", StringComparison.Ordinal));
        Assert.Contains("signal 'ops-42'", line, StringComparison.Ordinal);
        Assert.Contains("200 of about 1000 rows", line, StringComparison.Ordinal);
        Assert.Contains("after key (200)", line, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("Snapshot of public.acct started", StringComparison.Ordinal));
        Assert.Equal((1000L, 1000L), PostgresMetrics.LastSnapshotRows(Db.Slot, "public.acct"));
        // read on from the last acknowledged chunk: each later row once
        Assert.Equal(Enumerable.Range(201, 800).Select(i => (long)i), second.Where(e => e.Operation == ChangeOperation.Read).Select(e => Convert.ToInt64(e.Key!["id"])));
    }

    [Fact]
    public async Task A_re_snapshot_stopped_before_its_first_chunk_was_acknowledged_is_resumed_not_started_anew()
    {
        // A sink that failed until the stop: nothing acknowledged, and the next start's "started" line hid that this was the
        // earlier request, read again from its beginning.
        await CreateVersionedTableAsync(300);
        await Db.ExecuteAsync("ANALYZE acct");
        var options = Options(["public.acct"]) with { SnapshotChunkSize = 100 };
        var stopped = await OpenStreamingAsync(options);
        ((PgOutputChangeSource)stopped.Source).RequestSnapshot("acct");
        await stopped.TakeAsync(50, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60)); // never acknowledged
        await stopped.DisposeAsync();
        int before;
        lock (Logs.Lines)
        {
            before = Logs.Lines.Count;
        }

        var resumed = Open(options);
        var reads = await resumed.TakeAsync(300, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(60));

        List<string> lines;
        lock (Logs.Lines)
        {
            lines = Logs.Lines.Skip(before).ToList();
        }

        var line = Assert.Single(lines, l => l.Contains("Snapshot of public.acct resumed (requested)", StringComparison.Ordinal));
        Assert.Contains("0 of about 300 rows", line, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("Snapshot of public.acct started", StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), reads.Where(e => e.Operation == ChangeOperation.Read).Select(e => Convert.ToInt64(e.Key!["id"])));
    }

    private static bool IsRead(ChangeEvent e) => e.Operation == ChangeOperation.Read;

    private static long KeyOf(ChangeEvent e) => Convert.ToInt64(e.Key!["id"]);

    /// <summary>The id a rule's first event of the change gets (what every translator calls).</summary>
    private static string IdOf(ChangeEvent e) => Core.Translation.EventIds.For(e, "acct#AccountRead");

    [Fact]
    public async Task A_re_snapshot_chunk_read_again_after_a_stop_keeps_its_event_ids_and_a_later_request_gets_new_ones()
    {
        // Before: the rows of a chunk read again after a stop took their positions, and so their event ids, from the chunk's
        // new watermark: a receiver de-duplicating by event id took the repeated rows for new events.
        await CreateVersionedTableAsync(1000);
        await Db.ExecuteAsync("CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var options = Options(["public.acct"]) with { SnapshotChunkSize = 100, SignalTable = "public.cdc_signal" };
        var stopped = await OpenStreamingAsync(options);
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");
        const string Signal = """INSERT INTO cdc_signal VALUES ('ops-7', 'execute-snapshot', '{"data-collections":["public.acct"]}')""";
        await Db.ExecuteAsync(Signal);
        var firstRun = await stopped.TakeAsync(250, IsRead, TimeSpan.FromSeconds(60));
        await stopped.AcknowledgeAsync(firstRun); // chunks 1-2 complete, chunk 3 only partly: read again at the next start
        await stopped.DisposeAsync();

        var resumed = Open(options);
        var secondRun = await resumed.TakeAsync(800, IsRead, TimeSpan.FromSeconds(60));
        await resumed.AcknowledgeAsync(secondRun);
        var first = firstRun.Where(IsRead).ToDictionary(KeyOf);
        var second = secondRun.Where(IsRead).ToDictionary(KeyOf);

        var repeated = Enumerable.Range(201, 50).Select(i => (long)i).ToList();
        Assert.Equal(repeated, first.Keys.Intersect(second.Keys).Order());
        Assert.All(repeated, k => Assert.NotEqual(first[k].Position, second[k].Position)); // delivered at another watermark
        Assert.All(repeated, k => Assert.Equal(IdOf(first[k]), IdOf(second[k])));
        var request = first.Values.Concat(second.Values.Where(e => KeyOf(e) > 250)).ToList();
        Assert.Equal(1000, request.Select(IdOf).Distinct().Count());

        // The same rows read for a later request (even one reusing the signal's id) are a new read: new ids.
        await Db.ExecuteAsync("DELETE FROM cdc_signal; " + Signal);
        var laterRun = await resumed.TakeAsync(1000, IsRead, TimeSpan.FromSeconds(60));
        var later = laterRun.Where(IsRead).ToDictionary(KeyOf);
        Assert.Equal(1000, later.Count);
        Assert.Empty(later.Values.Select(IdOf).Intersect(request.Select(IdOf)));
    }

    [Fact]
    public async Task Rows_of_an_interrupted_initial_snapshot_read_again_at_the_next_start_keep_their_event_ids()
    {
        // Before: the first copies were named by the initial snapshot's ordinals, the copies read again (as incremental chunks
        // at the next start) by their chunk's watermark: new ids for the same rows.
        await CreateVersionedTableAsync(600);
        var options = Options(["public.acct"], SnapshotMode.Initial) with { SnapshotChunkSize = 200 };
        var crashed = Open(options);
        var firstRun = await crashed.TakeAsync(300);
        await crashed.AcknowledgeAsync(firstRun.Take(250)); // chunk 1 complete, chunk 2 only partly
        await crashed.DisposeAsync();

        var resumed = Open(options);
        var secondRun = await resumed.TakeAsync(400, IsRead, TimeSpan.FromSeconds(60));
        var first = firstRun.ToDictionary(KeyOf);
        var second = secondRun.Where(IsRead).ToDictionary(KeyOf);

        Assert.Equal(Enumerable.Range(201, 400).Select(i => (long)i), second.Keys);
        Assert.All(second.Values, e => Assert.Equal(SnapshotMarker.Incremental, e.Source.Snapshot));
        Assert.All(Enumerable.Range(201, 100).Select(i => (long)i), k => Assert.Equal(IdOf(first[k]), IdOf(second[k])));
        Assert.Equal(600, first.Values.Concat(second.Values.Where(e => KeyOf(e) > 300)).Select(IdOf).Distinct().Count());
    }

    [Fact]
    public async Task Signal_row_re_snapshots_a_table_while_streaming_without_reordering_keys()
    {
        await CreateVersionedTableAsync(1500);
        await Db.ExecuteAsync("CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var reader = await OpenStreamingAsync(Options(["public.acct"]) with { SnapshotChunkSize = 100, SignalTable = "public.cdc_signal" });
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() => WriteConcurrentlyAsync(1500, stop.Token), Ct);

        await Db.ExecuteAsync("""INSERT INTO cdc_signal VALUES ('s1', 'execute-snapshot', '{"data-collections":["public.acct"]}')""");
        var events = new List<ChangeEvent>();
        var seen = new HashSet<long>();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!File.Exists(Path.Combine(StateDirectory, Db.Slot + ".snapshot.json")) || !(await File.ReadAllTextAsync(Path.Combine(StateDirectory, Db.Slot + ".snapshot.json"), Ct)).Contains("\"Done\": true", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"incremental snapshot incomplete: {seen.Count} keys read");
            var e = await reader.NextAsync(TimeSpan.FromSeconds(5));
            if (e is null)
            {
                continue;
            }

            events.Add(e);
            await reader.Source.AcknowledgeAsync(e.Position, Ct);
            if (e.Operation == ChangeOperation.Read)
            {
                seen.Add(Convert.ToInt64(e.Key!["id"]));
            }
        }

        await stop.CancelAsync();
        await writer;
        await DrainUntilQuietAsync(reader, events);

        Assert.DoesNotContain(events, e => e.Source.Table == "cdc_signal");
        Assert.All(events.Where(e => e.Operation == ChangeOperation.Read), e => Assert.Equal(SnapshotMarker.Incremental, e.Source.Snapshot));
        // Every row the writer never touched is re-read (how many it touched depends on timing, not this).
        var streamed = events.Where(e => e.Source.Table == "acct" && e.Operation != ChangeOperation.Read)
            .Select(e => Convert.ToInt64((e.After ?? e.Before ?? e.Key)!["id"])).ToHashSet();
        var untouched = (await Db.QueryAsync("SELECT id FROM acct WHERE id <= 1500")).Select(r => Convert.ToInt64(r[0])).Where(id => !streamed.Contains(id)).ToList();
        Assert.NotEmpty(untouched);
        Assert.All(untouched, id => Assert.Contains(id, seen));
        await AssertConvergedInOrderAsync(events);
    }

    /// <summary>
    /// PostgreSQL writes a transaction's COMMIT record (which the stream delivers) before new snapshots see the transaction:
    /// it leaves the running transactions only after its commit is flushed (and, with synchronous replication, confirmed).
    /// A chunk whose LOW watermark follows such a COMMIT in the WAL, read while the commit is not yet visible, holds the
    /// row's older version, and the window (LOW to HIGH) does not contain the change. Under CPU load a preempted committing
    /// backend opens that moment by chance; a synchronous standby that never connects holds it open as long as needed.
    /// Requested <paramref name="bySignal"/>, a younger transaction (the signal's) has ended before the chunk is read: the
    /// stalled one is among the snapshot's running xids; requested by the API, nothing younger ended: it is the snapshot's xmax.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Chunk_row_does_not_follow_a_streamed_update_whose_commit_is_not_yet_visible(bool bySignal)
    {
        await using var cluster = await PrivateCluster.StartAsync("snaprace",
            new Dictionary<string, string> { ["synchronous_standby_names"] = "cdc_nobody", ["synchronous_commit"] = "local" }, Ct);
        var db = cluster.Db;
        await db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, note text); INSERT INTO acct SELECT g, 0, 'n' || g FROM generate_series(1, 3) g");
        await db.ExecuteAsync("CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var options = Options(["public.acct"]) with
        {
            ConnectionString = db.ConnectionString, Publication = db.Publication, Slot = db.Slot,
            SnapshotChunkSize = 100, SignalTable = "public.cdc_signal",
        };
        await using var reader = new SourceReader(new PgOutputChangeSource(options, Logs), Ct);
        await reader.NextAsync(TimeSpan.FromMilliseconds(50));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await db.ConfirmedFlushAsync(options.Slot) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not create its slot in time");
            await Task.Delay(20, Ct);
        }

        await db.ExecuteAsync($"ALTER PUBLICATION {db.Publication} ADD TABLE cdc_signal");

        // The writer's commit waits for the standby: its COMMIT is in the WAL (and streamed), not yet visible to snapshots.
        await using var writer = new NpgsqlConnection(db.ConnectionString);
        await writer.OpenAsync(Ct);
        await using (var on = new NpgsqlCommand("SET synchronous_commit = on", writer))
        {
            await on.ExecuteNonQueryAsync(Ct);
        }

        await using var updateCommand = new NpgsqlCommand("UPDATE acct SET v = 1 WHERE id = 2", writer);
        var update = updateCommand.ExecuteNonQueryAsync(Ct);
        var events = await reader.TakeAsync(1, e => e.Source.Table == "acct", TimeSpan.FromSeconds(30));
        Assert.Equal(1L, Convert.ToInt64(events[0].After!["v"]));
        Assert.False(update.IsCompleted, "the writer's commit should still wait for the synchronous standby");

        // The chunk is read (several times, if it is read again) while the commit is still not visible.
        if (bySignal)
        {
            await db.ExecuteAsync("""INSERT INTO cdc_signal VALUES ('s1', 'execute-snapshot', '{"data-collections":["public.acct"]}')""");
        }
        else
        {
            ((PgOutputChangeSource)reader.Source).RequestSnapshot("public.acct");
        }

        var waitUntil = DateTime.UtcNow.AddSeconds(3);
        while (DateTime.UtcNow < waitUntil)
        {
            if (await reader.NextAsync(TimeSpan.FromMilliseconds(200)) is { } e)
            {
                events.Add(e);
            }
        }

        await db.ExecuteAsync($"SELECT pg_cancel_backend({writer.ProcessID})"); // the commit stays (a WARNING says so) and becomes visible
        await update;
        if (!events.Any(e => e.Operation == ChangeOperation.Read && Convert.ToInt64(e.Key!["id"]) == 3))
        {
            events.AddRange(await reader.TakeUntilAsync(e => e.Operation == ChangeOperation.Read && Convert.ToInt64(e.Key!["id"]) == 3, TimeSpan.FromSeconds(30)));
        }

        var reads = events.Where(e => e.Operation == ChangeOperation.Read).ToList();
        Assert.All(reads.Where(e => Convert.ToInt64(e.Key!["id"]) == 2), e => Assert.True(Convert.ToInt64(e.After!["v"]) >= 1,
            $"key {e.Key!["id"]} went back from v1 (streamed before the chunk) to v{e.After!["v"]} ({e})"));
        Assert.Equal([1L, 2L, 3L], reads.Select(e => Convert.ToInt64(e.Key!["id"])).Order());
    }
}
