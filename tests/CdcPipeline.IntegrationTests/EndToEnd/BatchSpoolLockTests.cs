using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// One process per batch spool directory: spool files are named by interval start only, so two processes on one spool
/// (two pipelines configured alike, a second <c>run</c> started by mistake) would append to the same files and close and
/// delete each other's. The second <c>run</c> must stop at start with one line naming the holder.
/// </summary>
public sealed class BatchSpoolLockTests(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-spoollock-").FullName;
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("spoollock");

    [Fact]
    public async Task A_second_run_on_a_spool_another_run_holds_exits_1_naming_the_holder_and_a_kill_9_frees_it()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        var spool = Path.Combine(_dir, "shared", "spool");
        // Two pipelines alike but for their slot (each would stream on its own), both spooling into one directory.
        var first = await WriteConfigAsync("a", _db.Slot, spool);
        var second = await WriteConfigAsync("b", _db.Slot + "_b", spool);

        using var holder = PipelineProcess.Start("run", "--config", first);
        await WaitUntilAsync(() => holder.Log.Contains("Starting replication from slot", StringComparison.Ordinal), holder);

        using (var intruder = PipelineProcess.Start("run", "--config", second))
        {
            var code = await intruder.ExitCodeAsync(TimeSpan.FromSeconds(60));
            var lines = intruder.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.True(code == 1, $"exit code {code}; log:\n{intruder.Log}");
            // One line, no stack trace: the directory, who holds it, and what to do.
            var line = Assert.Single(lines);
            Assert.StartsWith("error: sink 'export': ", line, StringComparison.Ordinal);
            Assert.Contains(spool, line, StringComparison.Ordinal);
            Assert.Contains(FormattableString.Invariant($"pid {holder.Id} on host {Environment.MachineName}, since "), line, StringComparison.Ordinal);
            Assert.Contains("stop that process", line, StringComparison.Ordinal);
        }

        Assert.False(holder.HasExited, holder.Log);

        // kill -9 leaves the owner file behind; the OS dropped the lock, so the next run starts and takes it over.
        holder.Kill9();
        using var restarted = PipelineProcess.Start("run", "--config", second);
        await WaitUntilAsync(() => restarted.Log.Contains("Starting replication from slot", StringComparison.Ordinal), restarted);
        Assert.Contains(FormattableString.Invariant($"pid={restarted.Id}"), await File.ReadAllTextAsync(Path.Combine(spool, ".lock.owner"), Ct), StringComparison.Ordinal);
        Assert.Equal(0, await restarted.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    private async Task<string> WriteConfigAsync(string name, string slot, string spool)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        var config = Path.Combine(directory, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: spoollock
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {slot}
                tables: [public.kv]
                snapshot: never
            sinks:
              - name: export
                batch: {"{"} interval: "01:00:00", spool: "{spool}", target: {"{"} directory: outgoing {"}"} {"}"}
            """, Ct);
        return config;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, PipelineProcess pipeline)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not reached; pipeline log:\n{pipeline.Log}");
            Assert.False(pipeline.HasExited, $"the pipeline exited; log:\n{pipeline.Log}");
            await Task.Delay(200, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
