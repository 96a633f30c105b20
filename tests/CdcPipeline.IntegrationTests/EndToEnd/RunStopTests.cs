using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// How <c>cdcpipeline run</c> ends, as a supervisor (systemd, Docker, Kubernetes) sees it: the exit code and the last
/// lines of its log. Exit 0 promises that everything read was delivered and acknowledged.
/// </summary>
public sealed class RunStopTests(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-runstop-").FullName;
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("runstop");

    [Fact]
    public async Task A_SIGTERM_whose_drain_runs_out_of_drainTimeout_warns_what_will_be_delivered_again_and_exits_nonzero()
    {
        // The webhook's receiver is down and the sink retries until it succeeds: the three snapshot rows are read but
        // can never be delivered, so the drain on SIGTERM can only end by runner.drainTimeout.
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL); INSERT INTO kv SELECT g, 0 FROM generate_series(1, 3) g");
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: runstop
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.kv]
                snapshot: initial
            sinks:
              - name: hook
                webhook: {"{"} url: "http://127.0.0.1:{FreePorts.Next()}/events" {"}"}
                retry: {"{"} maxAttempts: 0, initialDelay: "00:00:00.100", maxDelay: "00:00:00.200" {"}"}
            runner: {"{"} drainTimeout: "00:00:01" {"}"}
            """, Ct);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(() => pipeline.Log.Contains("Sink hook failed (attempt 2)", StringComparison.Ordinal), pipeline);
        var code = await pipeline.TerminateAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 1, $"exit code {code}; pipeline log:\n{pipeline.Log}");
        Assert.Contains("runner.drainTimeout (00:00:01) ran out with", pipeline.Log, StringComparison.Ordinal);
        Assert.Contains("(3 event(s)) read but not acknowledged; they will be delivered again after a restart", pipeline.Log, StringComparison.Ordinal);

        // What a supervisor shows of a stopped service is the tail of its log: the last line says why it was not clean.
        var lines = pipeline.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("error: stopped before everything read was delivered", lines[^1], StringComparison.Ordinal);

        // The HTTP client's own per-request lines (information level, a stack trace each, every retry) drown the
        // pipeline's: the runner already logs each failed attempt once, as a warning.
        Assert.DoesNotContain("info: System.Net.Http.HttpClient", pipeline.Log, StringComparison.Ordinal);
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
