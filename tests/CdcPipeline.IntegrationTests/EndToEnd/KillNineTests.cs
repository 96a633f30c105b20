using System.Text.Json;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// The whole pipeline as a process (embedded capture → file sink), killed with SIGKILL at random moments
/// while the legacy database takes 20k row updates, and restarted each time. Afterwards, per key, every
/// version must be in the file, in order; an event may appear more than once only as an exact repeat
/// (same canonical line) — what at-least-once with acknowledgement after durability promises.
/// </summary>
public sealed class KillNineTests(PostgresFixture fixture) : IAsyncLifetime
{
    private const int Keys = 200;
    private const int Transactions = 2000;
    private const int RowsPerTransaction = 10;

    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-kill9-").FullName;
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("kill9");

    [Fact]
    public async Task Killed_three_times_or_more_during_20k_updates_every_version_arrives_in_order_and_repeats_are_exact()
    {
        await _db.ExecuteAsync($"CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL); INSERT INTO kv SELECT g, 0 FROM generate_series(1, {Keys}) g");
        var events = Path.Combine(_dir, "events.jsonl");
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: kill9
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.kv]
                snapshot: never
                stateDirectory: state
                heartbeatInterval: "00:00:01"
                reconnectMinDelay: "00:00:00.100"
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            runner: {"{"} maxBatchSize: 200 {"}"}
            """, Ct);

        // The first run creates the slot; writes start only once it exists, so none precede the capture.
        var pipeline = PipelineProcess.Start("run", "--config", config);
        try
        {
            await WaitUntilAsync(async () => await SlotExistsAsync(), TimeSpan.FromSeconds(120), () => pipeline.Log);
            var writer = WriteAsync();
            var random = new Random(20261125);
            var kills = 0;
            while (!writer.IsCompleted || kills < 3)
            {
                await Task.WhenAny(writer, Task.Delay(random.Next(1500, 4000), Ct));
                if (kills >= 3 && writer.IsCompleted)
                {
                    break;
                }

                pipeline.Kill9();
                kills++;
                pipeline.Dispose();
                pipeline = PipelineProcess.Start("run", "--config", config);
            }

            await writer;
            TestContext.Current.TestOutputHelper?.WriteLine($"pipeline killed {kills} times during {Transactions * RowsPerTransaction} updates");

            var final = (await _db.QueryAsync("SELECT id, v FROM kv")).ToDictionary(r => (int)r[0]!, r => (int)r[1]!);
            await WaitUntilAsync(() => Task.FromResult(Complete(events, final)), TimeSpan.FromSeconds(240), () => pipeline.Log);
            // The file may have been complete before the last restart: stop the last process once it is streaming
            // (a SIGTERM before the host has installed its handler ends a process with 143, as for any program).
            await WaitUntilAsync(() => Task.FromResult(pipeline.Log.Contains("Starting replication from slot", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), () => pipeline.Log);
            Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));

            // Verify the whole file: torn lines at most one per kill, every version once in order, repeats exact.
            var lines = await File.ReadAllLinesAsync(events, Ct);
            var torn = 0;
            var firstSeen = new HashSet<string>(StringComparer.Ordinal);
            var versions = new Dictionary<int, List<int>>();
            foreach (var line in lines)
            {
                if (!TryParse(line, out var id, out var v))
                {
                    torn += IsJson(line) ? 0 : 1;
                    continue;
                }

                if (firstSeen.Add(line))
                {
                    (versions.TryGetValue(id, out var list) ? list : versions[id] = []).Add(v);
                }
            }

            Assert.InRange(torn, 0, kills);
            foreach (var (id, v) in final)
            {
                Assert.Equal(Enumerable.Range(1, v), versions.GetValueOrDefault(id) ?? []);
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"{lines.Length} lines, {firstSeen.Count} distinct changes, {lines.Length - firstSeen.Count - torn} exact repeats, {torn} torn");
        }
        finally
        {
            pipeline.Dispose();
        }
    }

    private async Task WriteAsync()
    {
        await using var connection = new NpgsqlConnection(_db.ConnectionString);
        await connection.OpenAsync(Ct);
        var random = new Random(11);
        for (var t = 0; t < Transactions; t++)
        {
            var ids = Enumerable.Range(1, Keys).OrderBy(_ => random.Next()).Take(RowsPerTransaction);
            await using var cmd = new NpgsqlCommand($"UPDATE kv SET v = v + 1 WHERE id IN ({string.Join(',', ids)})", connection);
            await cmd.ExecuteNonQueryAsync(Ct);
            if (t % 100 == 99)
            {
                // ~20 s of writes, so the kills land while the legacy application is busy
                await Task.Delay(1000, Ct);
            }
        }
    }

    /// <summary>
    /// The slot has its consistent point: changes from now on are in it. A slot being created is listed already, without one,
    /// while CREATE_REPLICATION_SLOT waits for the cluster's running transactions (another test's, on the shared server); writes
    /// made then precede the capture, and a kill then leaves no slot (PostgreSQL drops it with the walsender).
    /// </summary>
    private async Task<bool> SlotExistsAsync() =>
        await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{_db.Slot}' AND confirmed_flush_lsn IS NOT NULL") == 1;

    private static bool Complete(string events, Dictionary<int, int> final)
    {
        if (!File.Exists(events))
        {
            return false;
        }

        var latest = new Dictionary<int, int>();
        using var stream = new FileStream(events, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (TryParse(line, out var id, out var v))
            {
                latest[id] = Math.Max(latest.GetValueOrDefault(id), v);
            }
        }

        return final.All(kv => kv.Value == 0 || latest.GetValueOrDefault(kv.Key) == kv.Value);
    }

    private static bool TryParse(string line, out int id, out int v)
    {
        id = v = 0;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var after = doc.RootElement.GetProperty("after");
            id = after.GetProperty("id").GetInt32();
            v = after.GetProperty("v").GetInt32();
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    private static bool IsJson(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> log) =>
        PipelineProcess.UntilAsync(condition, timeout, TimeSpan.FromMilliseconds(200), () => $"pipeline log:\n{log()}", Ct);

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
