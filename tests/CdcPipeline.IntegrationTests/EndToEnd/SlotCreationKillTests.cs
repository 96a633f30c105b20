using System.Text.Json;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres.Snapshot;
using Npgsql;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// The real <c>cdcpipeline run</c> process killed in the slot-creation gap: after PostgreSQL persisted the slot and answered
/// CREATE_REPLICATION_SLOT, before the state file recorded the slot (it holds only the creation mark). No seam holds it there.
/// CREATE_REPLICATION_SLOT waits for the transactions running when it starts (it builds a consistent snapshot); the test holds
/// one open, and once the walsender waits on it, freezes the process (SIGSTOP: a stalled VM, a node that stopped answering),
/// commits, waits until the walsender has persisted the slot and sent its answer (the process, stopped, never reads it), and
/// kills the process with SIGKILL. Rows are then written while no pipeline runs; the next start must drop the orphan slot
/// (warning 1046), create it again and read the tables through its snapshot, so that the file ends with every row as the table
/// holds it. Killed while the walsender still waits, the process leaves no slot: the walsender notices its client gone once the
/// wait ends and drops the slot, still ephemeral; the next start finds the mark alone and creates the slot without a warning.
/// Each test has a cluster of its own: a logical slot's creation waits for every transaction of the cluster, so the open one
/// would hold up other tests' slots on the shared server (and theirs would hold up this test's).
/// </summary>
public sealed class SlotCreationKillTests : IAsyncLifetime
{
    private const int Rows = 200;
    private const string Dropped1046 = "was created by a start that ended before the state file recorded it";

    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-slotkill-").FullName;
    private PrivateCluster _cluster = null!;
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Config => Path.Combine(_dir, "pipeline.yaml");

    private string Events => Path.Combine(_dir, "events.jsonl");

    private string StatePath => Path.Combine(_dir, "state", _db.Slot + ".snapshot.json");

    public async ValueTask InitializeAsync()
    {
        _cluster = await PrivateCluster.StartAsync("slotkill", new Dictionary<string, string>(), Ct);
        _db = _cluster.Db;
        await _db.ExecuteAsync($"CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL); INSERT INTO acct SELECT g, 0 FROM generate_series(1, {Rows}) g");
    }

    [Fact]
    public async Task A_first_start_killed_after_the_slot_was_persisted_but_not_recorded_is_followed_by_a_start_that_creates_it_again_and_misses_nothing()
    {
        await WriteConfigAsync("initial");

        var orphan = await KillDuringSlotCreationAsync(afterTheAnswer: true, keepsEarlierState: false);
        Assert.False(File.Exists(Events) && new FileInfo(Events).Length > 0, "the killed start handed out events before its slot was recorded");

        await WriteWhileStoppedAsync(); // before the next start's slot: only its snapshot sees them

        using var pipeline = PipelineProcess.Start("run", "--config", Config);
        await AssertRecreatedAndCompleteAsync(pipeline, orphan, fromLine: 0, "the initial snapshot");
    }

    [Fact]
    public async Task A_first_start_killed_while_its_slot_creation_waits_leaves_no_slot_and_the_next_start_creates_it_without_a_warning()
    {
        await WriteConfigAsync("initial");

        var orphan = await KillDuringSlotCreationAsync(afterTheAnswer: false, keepsEarlierState: false);
        Assert.Null(orphan);

        await WriteWhileStoppedAsync();

        using var pipeline = PipelineProcess.Start("run", "--config", Config);
        await AssertRecreatedAndCompleteAsync(pipeline, orphan: null, fromLine: 0, "the initial snapshot");
    }

    [Fact]
    public async Task A_when_needed_start_killed_after_re_creating_the_lost_slot_but_before_recording_it_is_followed_by_a_start_that_reads_the_tables_again()
    {
        await WriteConfigAsync("when_needed");
        using (var first = PipelineProcess.Start("run", "--config", Config))
        {
            await WaitUntilAsync(async () => Matches(Replay(await ReadLinesAsync(0)), await TableAsync()) is null, first);
            await WaitStreamingAsync(first);
            Assert.True(await first.TerminateAsync(TimeSpan.FromSeconds(60)) == 0, $"first run did not stop with 0; log:\n{first.Log}");
        }

        var readByFirst = (await ReadLinesAsync(0)).Count;
        // The slot lost while no pipeline runs (a DBA's drop, max_slot_wal_keep_size): what changes now is in no slot's WAL,
        // only the tables hold it; when_needed reads them again through the new slot's snapshot.
        await WaitUntilAsync(async () => await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{_db.Slot}' AND NOT active") == 1, null);
        await _db.ExecuteAsync($"SELECT pg_drop_replication_slot('{_db.Slot}')");
        await _db.ExecuteAsync($"UPDATE acct SET v = v + 100 WHERE id BETWEEN 30 AND 40; INSERT INTO acct SELECT g, 7 FROM generate_series({Rows + 101}, {Rows + 110}) g; DELETE FROM acct WHERE id BETWEEN 41 AND 45");

        var orphan = await KillDuringSlotCreationAsync(afterTheAnswer: true, keepsEarlierState: true);
        Assert.Equal(readByFirst, (await ReadLinesAsync(0)).Count);

        await WriteWhileStoppedAsync();

        using var pipeline = PipelineProcess.Start("run", "--config", Config);
        // Rows deleted while the slot was gone have no delete event anywhere (nothing kept their deletion): what the
        // tables are read as is this start's part of the file.
        await AssertRecreatedAndCompleteAsync(pipeline, orphan, fromLine: readByFirst, "reading the tables again");
    }

    private async Task WriteConfigAsync(string snapshot) =>
        await File.WriteAllTextAsync(Config, $"""
            name: slotkill
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.acct]
                snapshot: {snapshot}
                stateDirectory: state
                heartbeatInterval: "00:00:01"
                reconnectMinDelay: "00:00:00.100"
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            """, Ct);

    /// <summary>
    /// Starts <c>run</c> with a writing transaction open and, once its CREATE_REPLICATION_SLOT waits for that transaction, kills
    /// it. <paramref name="afterTheAnswer"/>: frozen first, the transaction committed, killed once PostgreSQL has persisted the
    /// slot and answered (returns the orphan slot's confirmed_flush_lsn); else killed while the walsender still waits, then
    /// committed (returns null: the walsender notices its client gone when the wait ends and drops the slot, still ephemeral).
    /// </summary>
    private async Task<string?> KillDuringSlotCreationAsync(bool afterTheAnswer, bool keepsEarlierState)
    {
        await using var legacy = new NpgsqlConnection(_db.ConnectionString);
        await legacy.OpenAsync(Ct);
        await using var open = await legacy.BeginTransactionAsync(Ct);
        await using (var write = new NpgsqlCommand("UPDATE acct SET v = v + 1 WHERE id = 1", legacy, open))
        {
            await write.ExecuteNonQueryAsync(Ct); // has an xid now: a logical slot's creation waits for it to end
        }

        using (var pipeline = PipelineProcess.Start("run", "--config", Config))
        {
            await WaitUntilAsync(async () => ReadMark() is not null && await WalsenderAsync("state = 'active' AND wait_event = 'transactionid'"), pipeline);
            var mark = ReadMark();
            Assert.True(mark is not null, $"the state file no longer holds the creation mark: {await File.ReadAllTextAsync(StatePath, Ct)}");
            Assert.Equal(keepsEarlierState, mark.KeepsEarlierState);
            if (afterTheAnswer)
            {
                await pipeline.FreezeAsync();
                await open.CommitAsync(Ct);
                // Persisted and answered: the slot has its consistent point and is released; the walsender, done with the
                // command, holds the exported snapshot for a client that will never read the answer.
                await WaitUntilAsync(async () => await WalsenderAsync("state <> 'active'") &&
                    await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{_db.Slot}' AND confirmed_flush_lsn IS NOT NULL AND NOT active") == 1, pipeline);
                Assert.NotNull(ReadMark());
                pipeline.Kill9();
            }
            else
            {
                pipeline.Kill9();
                await open.CommitAsync(Ct);
            }

            Assert.DoesNotContain("Created replication slot", pipeline.Log, StringComparison.Ordinal);
        }

        // The walsender sees its client gone and ends; the slot, persisted, stays recorded nowhere; ephemeral, it goes with it.
        await WaitUntilAsync(async () => !await WalsenderAsync("true"), null);
        Assert.NotNull(ReadMark());
        var orphan = (await _db.QueryAsync($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{_db.Slot}'")).SingleOrDefault()?[0] as string;
        Assert.True(afterTheAnswer == (orphan is not null), $"killed {(afterTheAnswer ? "after" : "before")} the answer, the slot is {(orphan is null ? "gone" : "there")}");
        TestContext.Current.TestOutputHelper?.WriteLine(orphan is null
            ? $"killed while the creation waited: slot {_db.Slot} gone with its walsender, the state file holds the mark"
            : $"killed in the gap: slot {_db.Slot} persisted at {orphan}, the state file holds only the mark");
        return orphan;
    }

    /// <summary>Inserts, updates and deletes while no pipeline runs.</summary>
    private async Task WriteWhileStoppedAsync()
    {
        await _db.ExecuteAsync($"INSERT INTO acct SELECT g, 1 FROM generate_series({Rows + 1}, {Rows + 20}) g");
        await _db.ExecuteAsync("UPDATE acct SET v = v + 10 WHERE id % 7 = 0");
        await _db.ExecuteAsync($"DELETE FROM acct WHERE id BETWEEN 50 AND 59 OR id = {Rows + 20}");
        await _db.ExecuteAsync("UPDATE acct SET v = v + 1 WHERE id IN (2, 3, 60)");
    }

    /// <summary>
    /// The start after the kill: it says 1046 for the orphan slot (nothing when none was left), creates the slot, and the file from
    /// <paramref name="fromLine"/> (snapshot, then stream) ends with every row as the table holds it; then SIGTERM, exit 0.
    /// </summary>
    private async Task AssertRecreatedAndCompleteAsync(PipelineProcess pipeline, string? orphan, int fromLine, string @for)
    {
        await WaitStreamingAsync(pipeline);
        Assert.Null(ReadMark());

        // snapshot + stream: changes after the new slot's creation arrive through it
        await _db.ExecuteAsync("UPDATE acct SET v = v + 1000 WHERE id IN (4, 5)");
        await _db.ExecuteAsync($"INSERT INTO acct VALUES ({Rows + 200}, 5)");
        await _db.ExecuteAsync("DELETE FROM acct WHERE id = 6");

        var table = await TableAsync();
        string? mismatch = null;
        await WaitUntilAsync(async () => (mismatch = Matches(Replay(await ReadLinesAsync(fromLine)), table)) is null, pipeline, () => mismatch);
        Assert.True(await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)) == 0, $"run did not stop with 0; log:\n{pipeline.Log}");

        var dropped = pipeline.Log.Split('\n').Where(l => l.Contains(Dropped1046, StringComparison.Ordinal)).ToList();
        if (orphan is null)
        {
            Assert.True(dropped.Count == 0, $"warning 1046 with no slot left behind; log:\n{pipeline.Log}");
        }
        else
        {
            Assert.True(dropped.Count == 1, $"the file is complete, but expected one warning 1046; log:\n{pipeline.Log}");
            TestContext.Current.TestOutputHelper?.WriteLine(dropped[0]);
            Assert.Contains(_db.Slot, dropped[0], StringComparison.Ordinal);
            Assert.Contains(orphan, dropped[0], StringComparison.Ordinal);
            Assert.Contains(StatePath, dropped[0], StringComparison.Ordinal);
            Assert.Contains(@for, dropped[0], StringComparison.Ordinal);
        }

        Assert.True(pipeline.Log.Split('\n').Count(l => l.Contains("Created replication slot", StringComparison.Ordinal)) == 1, $"the slot was not created again; log:\n{pipeline.Log}");

        var lines = await ReadLinesAsync(fromLine);
        Assert.Null(Matches(Replay(lines), table));
        // at least once: an event in the file twice is the same line twice
        foreach (var same in lines.Select(Parse).OfType<Change>().GroupBy(c => (c.Op, c.Lsn, c.Id)))
        {
            Assert.True(same.Select(c => c.Line).Distinct(StringComparer.Ordinal).Count() == 1, $"different lines for one event:\n{string.Join('\n', same.Select(c => c.Line))}");
        }
    }

    private SlotCreationMark? ReadMark()
    {
        try
        {
            return File.Exists(StatePath) ? JsonSerializer.Deserialize<SnapshotState>(File.ReadAllText(StatePath))?.CreatingSlot : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Whether a walsender of this test's database runs (or ran last) CREATE_REPLICATION_SLOT for its slot, as <paramref name="condition"/> says.</summary>
    private async Task<bool> WalsenderAsync(string condition) =>
        await _db.ScalarAsync<long>(
            $"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = current_database() " +
            $"AND query LIKE 'CREATE_REPLICATION_SLOT%{_db.Slot}%' AND {condition}") > 0;

    private async Task<Dictionary<int, int>> TableAsync() =>
        (await _db.QueryAsync("SELECT id, v FROM acct")).ToDictionary(r => (int)r[0]!, r => (int)r[1]!);

    private async Task<List<string>> ReadLinesAsync(int from)
    {
        if (!File.Exists(Events))
        {
            return [];
        }

        await using var stream = new FileStream(Events, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            lines.Add(line);
        }

        return lines.Skip(from).ToList();
    }

    private sealed record Change(string Op, long Lsn, int Id, int? V, string Line);

    private static Change? Parse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.GetProperty("kind").GetString() != "change")
            {
                return null;
            }

            var op = root.GetProperty("op").GetString()!;
            var v = op == "d" ? (int?)null : root.GetProperty("after").GetProperty("v").GetInt32();
            return new Change(op, root.GetProperty("lsn").GetInt64(), root.GetProperty("key").GetProperty("id").GetInt32(), v, line);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null; // a line being written, or not a row change
        }
    }

    /// <summary>Each key's state after the lines in order: the last value written, absent once deleted.</summary>
    private static Dictionary<int, int> Replay(List<string> lines)
    {
        var state = new Dictionary<int, int>();
        foreach (var change in lines.Select(Parse).OfType<Change>())
        {
            if (change.V is { } v)
            {
                state[change.Id] = v;
            }
            else
            {
                state.Remove(change.Id);
            }
        }

        return state;
    }

    /// <summary>Null when the file's rows are the table's; else what differs.</summary>
    private static string? Matches(Dictionary<int, int> file, Dictionary<int, int> table)
    {
        var missing = table.Keys.Where(id => !file.ContainsKey(id)).Order().ToList();
        var extra = file.Keys.Where(id => !table.ContainsKey(id)).Order().ToList();
        var wrong = table.Where(kv => file.TryGetValue(kv.Key, out var v) && v != kv.Value).Select(kv => $"{kv.Key}: {file[kv.Key]} not {kv.Value}").ToList();
        return missing.Count + extra.Count + wrong.Count == 0
            ? null
            : $"missing ids [{string.Join(',', missing)}], ids the table does not have [{string.Join(',', extra)}], wrong values [{string.Join("; ", wrong)}]";
    }

    private static async Task WaitStreamingAsync(PipelineProcess pipeline) =>
        await WaitUntilAsync(() => Task.FromResult(pipeline.Log.Contains("Starting replication from slot", StringComparison.Ordinal)), pipeline);

    private static Task WaitUntilAsync(Func<Task<bool>> condition, PipelineProcess? pipeline, Func<string?>? why = null) =>
        PipelineProcess.UntilAsync(condition, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100), () => $"({why?.Invoke()}); pipeline log:\n{pipeline?.Log}", Ct);

    public async ValueTask DisposeAsync()
    {
        await _cluster.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
