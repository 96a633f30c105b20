using System.Net;
using System.Net.Http;
using CdcPipeline.IntegrationTests.EndToEnd;
using CdcPipeline.IntegrationTests.Readiness;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Readiness;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// A slot invalidated by max_slot_wal_keep_size (wal_status lost) cannot be read again: the source says so, and
/// what to do, instead of PostgreSQL's bare "can no longer get changes". Uses a private local cluster, because
/// max_slot_wal_keep_size is server-wide and would invalidate the slots of the tests running beside it.
/// </summary>
public sealed class PgOutputLostSlotTests
{
    [Fact]
    public async Task An_invalidated_slot_fails_with_an_error_that_says_it_was_lost_and_what_to_do()
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");

        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await SmallWalCluster.StartAsync("pg-lost-slot", createSlot: true, ct);
        var db = cluster.Db;
        await cluster.InvalidateSlotAsync();

        var source = new SourceReader(new PgOutputChangeSource(cluster.Options(), cluster.Logs), ct);
        cluster.Reader = source;

        // before the fix the source hung in START_REPLICATION (no event, no error): NextAsync returned null
        var e = await Assert.ThrowsAnyAsync<Exception>(() => source.NextAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains($"replication slot '{db.Slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("lost", e.Message, StringComparison.Ordinal);
        Assert.Contains("max_slot_wal_keep_size", e.Message, StringComparison.Ordinal);
        Assert.Contains($"slot drop {db.Slot}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slot_invalidated_between_the_check_and_the_start_fails_with_the_lost_slot_error()
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");

        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await SmallWalCluster.StartAsync("pg-lost-at-start", createSlot: true, ct);
        var db = cluster.Db;
        var invalidated = false;
        var source = new SourceReader(new PgOutputChangeSource(cluster.Options(), cluster.Logs)
        {
            // the slot passed the check (not lost); PostgreSQL invalidates it before START_REPLICATION reaches it
            BeforeStartReplication = async token =>
            {
                if (invalidated)
                {
                    return;
                }

                await cluster.InvalidateSlotAsync();
                invalidated = true;
            },
        }, ct);
        cluster.Reader = source;

        var e = await Assert.ThrowsAnyAsync<Exception>(() => source.NextAsync(TimeSpan.FromSeconds(90)));

        Assert.True(invalidated, $"the source failed before START_REPLICATION: {e}");
        Assert.Contains($"replication slot '{db.Slot}' is lost", e.Message, StringComparison.Ordinal);
        Assert.Contains("max_slot_wal_keep_size", e.Message, StringComparison.Ordinal);
        Assert.Contains($"slot drop {db.Slot}", e.Message, StringComparison.Ordinal);
        Assert.Equal(PostgresErrorCodes.ObjectNotInPrerequisiteState, Assert.IsType<PostgresException>(e.InnerException).SqlState);
    }

    /// <summary>
    /// Between "reserved" and "lost" PostgreSQL reports the slot "unreserved": it keeps more WAL than max_slot_wal_keep_size
    /// and the next checkpoint removes what it needs. That is the last moment an operator can save it (start the pipeline,
    /// or raise the setting), and db check said "ok" for it, as for a healthy slot.
    /// </summary>
    [Fact]
    public async Task Db_check_warns_about_the_pipelines_slot_that_the_next_checkpoint_invalidates()
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await SmallWalCluster.StartAsync("pg-unreserved-slot", createSlot: true, ct);
        var db = cluster.Db;
        await WriteUntilUnreservedAsync(db);

        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync(ct);
        var report = await ReadinessChecker.CheckAsync(connection, new ReadinessCheckOptions { Publication = db.Publication, Slot = db.Slot, Tables = ["public.t"] }, ct);

        var slot = Assert.Single(report.Findings, f => f.Check == "slot");
        Assert.Equal(ReadinessStatus.Warn, slot.Status);
        Assert.Contains("wal_status unreserved", slot.What, StringComparison.Ordinal);
        Assert.Contains("max_slot_wal_keep_size (1 MB)", slot.What, StringComparison.Ordinal);
        Assert.Contains("next checkpoint", slot.What, StringComparison.Ordinal);
        Assert.NotNull(slot.Action);
        Assert.Contains("start the pipeline", slot.Action, StringComparison.Ordinal);
        Assert.Contains("ALTER SYSTEM SET max_slot_wal_keep_size", slot.Action, StringComparison.Ordinal);

        // The alert README advises (slot lag --max-lag) fires too, under its limit: with max_slot_wal_keep_size below
        // --max-lag the slot would be lost before the lag ever crossed it (before: exit 0, nothing marked).
        var lag = await Cli.RunAsync("slot", "lag", db.Slot, "--connection", db.ConnectionString, "--max-lag", "1GB");
        Assert.Equal(1, lag.Code);
        Assert.Contains("UNRESERVED: the next checkpoint invalidates it (max_slot_wal_keep_size)", lag.Stdout, StringComparison.Ordinal);
        var noLimit = await Cli.RunAsync("slot", "lag", db.Slot, "--connection", db.ConnectionString);
        Assert.Equal(0, noLimit.Code); // without --max-lag slot lag only shows
    }

    /// <summary>
    /// A running pipeline whose sink holds acknowledgements back (retrying for ever) only showed a growing lag gauge while
    /// max_slot_wal_keep_size made its slot unreserved: the next checkpoint invalidates it, and then the pipeline stops until
    /// the slot is dropped and the tables read again. Now its heartbeat's slot query sees <c>wal_status unreserved</c>: one
    /// warning (event 60) naming the slot, the WAL it retains, the limit, safe_wal_size, the failing sink and what to do, and
    /// the probes say it (200, degraded: the pipeline still runs). Raised limit: the body is clear again; unreserved once
    /// more: warned again. With heartbeats off the slot query runs on its own timer (slotCheckInterval): before, it ran only at
    /// a (re)connection, so a pipeline streaming without heartbeats never said it.
    /// </summary>
    [Theory]
    [InlineData("heartbeatInterval: \"00:00:01\"")]
    [InlineData("heartbeatInterval: \"00:00:00\"\n    slotCheckInterval: \"00:00:01\"")]
    public async Task A_running_pipeline_warns_once_and_answers_degraded_when_its_slot_becomes_unreserved(string timers)
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await SmallWalCluster.StartAsync("pg-unreserved-run", createSlot: false, ct);
        var db = cluster.Db;
        await using var receiver = new WebhookReceiver();
        receiver.Respond = (_, _) => (500, TimeSpan.Zero);
        var port = FreePorts.Next();
        var dir = Directory.CreateTempSubdirectory("cdc-slotwarn-").FullName;
        var config = Path.Combine(dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: slotwarn
            source:
              postgres:
                connectionString: "{db.ConnectionString}"
                publication: {db.Publication}
                slot: {db.Slot}
                tables: [public.t]
                snapshot: never
                stateDirectory: state
                {timers}
            sinks:
              - name: billing-hook
                webhook: {"{"} url: "{receiver.Url}" {"}"}
                retry: {"{"} maxAttempts: 0, initialDelay: "00:00:00.100", maxDelay: "00:00:00.500" {"}"}
            observability:
              port: {port}
              stallTimeout: "01:00:00"
            runner: {"{"} drainTimeout: "00:00:02" {"}"}
            """, ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        async Task<(HttpStatusCode Status, string Body)> HealthAsync()
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"), ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        async Task UntilAsync(Func<Task<bool>> condition, string what) =>
            await PipelineProcess.UntilAsync(
                async () =>
                {
                    Assert.False(pipeline.HasExited, $"the pipeline exited; its log:\n{pipeline.Log}");
                    try
                    {
                        return await condition();
                    }
                    catch (HttpRequestException)
                    {
                        return false; // not listening yet
                    }
                },
                TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(200), () => $"{what}; pipeline log:\n{pipeline.Log}", ct);
        int Warnings() => pipeline.Log.Split('\n').Count(l => l.Contains("PgOutputChangeSource[60]", StringComparison.Ordinal));

        await UntilAsync(async () => await db.ScalarAsync<bool?>($"SELECT active FROM pg_replication_slots WHERE slot_name = '{db.Slot}'") == true,
            "the pipeline did not stream from its slot");
        // The receiver answers 500 for ever: the change is retried and never acknowledged, the slot keeps its WAL.
        await db.ExecuteAsync("INSERT INTO t VALUES (0, 'x')");
        await UntilAsync(() => Task.FromResult(receiver.Requests.Count > 0), "the webhook was not called");
        await WriteUntilUnreservedAsync(db);

        await UntilAsync(() => Task.FromResult(Warnings() == 1), "no warning (event 60) for the unreserved slot");
        var warning = pipeline.Log.Split('\n').First(l => l.Contains("PgOutputChangeSource[60]", StringComparison.Ordinal)); // single-line console log
        TestContext.Current.TestOutputHelper?.WriteLine(warning);
        Assert.Contains(" warn: CdcPipeline.Postgres.PgOutputChangeSource[60] ", warning, StringComparison.Ordinal);
        Assert.Contains($"Replication slot '{db.Slot}' is wal_status unreserved", warning, StringComparison.Ordinal);
        Assert.Contains("max_slot_wal_keep_size (1 MB)", warning, StringComparison.Ordinal);
        Assert.Matches(@"retains \d+(\.\d+)? [KMG]?B of WAL", warning);
        Assert.Contains("safe_wal_size", warning, StringComparison.Ordinal);
        Assert.Contains("next checkpoint", warning, StringComparison.Ordinal);
        Assert.Contains("sink billing-hook", warning, StringComparison.Ordinal);
        Assert.Contains("ALTER SYSTEM SET max_slot_wal_keep_size", warning, StringComparison.Ordinal);

        // degraded, not down: the pipeline still runs
        await UntilAsync(async () => (await HealthAsync()).Body.Contains("wal_status unreserved", StringComparison.Ordinal), "/healthz does not say unreserved");
        var (status, body) = await HealthAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("degraded: sink billing-hook failing for ", body, StringComparison.Ordinal);
        Assert.Contains($"replication slot {db.Slot} wal_status unreserved", body, StringComparison.Ordinal);
        Assert.Contains("next checkpoint", body, StringComparison.Ordinal);

        // said once, not at every heartbeat
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        Assert.Equal(1, Warnings());

        // The limit raised: the slot is reserved again and the probes stop saying it ...
        await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'; SELECT pg_reload_conf()");
        await UntilAsync(async () => !(await HealthAsync()).Body.Contains("wal_status unreserved", StringComparison.Ordinal), "/healthz still says unreserved");
        Assert.Equal(1, Warnings());

        // ... and it is said again when the slot becomes unreserved once more.
        await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf()");
        await WriteUntilUnreservedAsync(db);
        await UntilAsync(() => Task.FromResult(Warnings() == 2), "no second warning after the slot was unreserved again");
        Assert.False(pipeline.HasExited);
    }

    /// <summary>Writes WAL (switching segments, no CHECKPOINT: that would make the slot lost) until the slot is unreserved.</summary>
    private static async Task WriteUntilUnreservedAsync(PostgresTestDatabase db)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await db.ScalarAsync<string?>($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{db.Slot}'") != "unreserved")
        {
            Assert.True(DateTime.UtcNow < deadline, "the slot did not become unreserved");
            await db.ExecuteAsync("INSERT INTO t SELECT coalesce(max(id), 0) + 1, repeat('x', 1000) FROM t; SELECT pg_switch_wal()");
        }
    }

    [Theory]
    [InlineData(false)] // the consumer is stuck: it pulls again only once the slot is lost
    [InlineData(true)] // the consumer keeps pulling (acknowledging nothing): the source reconnects while PostgreSQL invalidates the slot
    public async Task A_slot_invalidated_while_streaming_stops_the_source_with_the_lost_slot_error(bool keepsPulling)
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");

        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await SmallWalCluster.StartAsync("pg-lost-while-streaming", createSlot: false, ct);
        var db = cluster.Db;
        var source = new SourceReader(new PgOutputChangeSource(cluster.Options(), cluster.Logs), ct);
        cluster.Reader = source;

        // streaming: the source created its slot, and its walsender holds it
        await source.NextAsync(TimeSpan.FromMilliseconds(50));
        var streamingBy = DateTime.UtcNow.AddSeconds(20);
        while (await db.ScalarAsync<bool?>($"SELECT active FROM pg_replication_slots WHERE slot_name = '{db.Slot}'") != true)
        {
            Assert.True(DateTime.UtcNow < streamingBy, "the source did not start streaming its slot");
            await Task.Delay(20, ct);
        }

        await db.ExecuteAsync("INSERT INTO t VALUES (0, 'x')");
        Assert.NotNull(await source.NextAsync(TimeSpan.FromSeconds(20)));

        // nothing is acknowledged while WAL far beyond max_slot_wal_keep_size is written: PostgreSQL ends the
        // walsender and invalidates the slot. The source may still hand out what it had received; then it must
        // stop with the lost-slot error, not reconnect for ever nor fail with a bare server error.
        using var stopPulling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pulled = Task.FromResult<Exception?>(null);
        if (keepsPulling)
        {
            pulled = Task.Run(() => PullUntilFailureAsync(source, stopPulling.Token), CancellationToken.None);
        }

        await cluster.InvalidateSlotAsync();

        stopPulling.CancelAfter(TimeSpan.FromSeconds(60));
        var failure = keepsPulling ? await pulled : await PullUntilFailureAsync(source, stopPulling.Token);

        Assert.NotNull(failure);
        Assert.Contains($"replication slot '{db.Slot}' is lost", failure.Message, StringComparison.Ordinal);
        Assert.Contains("max_slot_wal_keep_size", failure.Message, StringComparison.Ordinal);
        Assert.Contains($"slot drop {db.Slot}", failure.Message, StringComparison.Ordinal);
    }

    /// <summary>Takes events until the source fails (its error), or null when <paramref name="stop"/> comes first.</summary>
    private static async Task<Exception?> PullUntilFailureAsync(SourceReader source, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await source.NextAsync(TimeSpan.FromSeconds(1));
            }
            catch (Exception e)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>
    /// A private cluster whose max_slot_wal_keep_size is 1MB, with one database: table <c>t (id, pad)</c> in its publication,
    /// and the slot if asked. Disposing stops the cluster, then closes the reader (bounded: before the fixes a source could
    /// stay stuck in START_REPLICATION) and deletes the state directory.
    /// </summary>
    private sealed class SmallWalCluster : IAsyncDisposable
    {
        private readonly string _dataDir;
        private readonly string _stateDir;

        private SmallWalCluster(string dataDir, string stateDir, PostgresTestDatabase db)
        {
            _dataDir = dataDir;
            _stateDir = stateDir;
            Db = db;
        }

        public PostgresTestDatabase Db { get; }

        public TestOutputLoggerFactory Logs { get; } = new();

        public SourceReader? Reader { get; set; }

        public static async Task<SmallWalCluster> StartAsync(string directory, bool createSlot, CancellationToken ct)
        {
            var dataDir = Path.Combine(PostgresFixture.RepoRoot, ".run", directory + "-test");
            var stateDir = Path.Combine(PostgresFixture.RepoRoot, ".run", directory + "-state-" + Guid.NewGuid().ToString("N")[..8]);
            var admin = await PostgresFixture.StartLocalClusterAsync(FreePorts.Next(), dataDir, fresh: true);
            var name = "t_lost_" + Guid.NewGuid().ToString("N")[..8];
            var cluster = new SmallWalCluster(dataDir, stateDir,
                new PostgresTestDatabase(admin, name, new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString));
            try
            {
                await using (var connection = new NpgsqlConnection(admin))
                {
                    await connection.OpenAsync(ct);
                    await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                    await cmd.ExecuteNonQueryAsync(ct);
                }

                var db = cluster.Db;
                await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY, pad text); CREATE PUBLICATION {db.Publication} FOR TABLE t");
                if (createSlot)
                {
                    await db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{db.Slot}', 'pgoutput')");
                }

                await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf()");
                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public PostgresSourceOptions Options() => new()
        {
            ConnectionString = Db.ConnectionString,
            Publication = Db.Publication,
            Slot = Db.Slot,
            Snapshot = SnapshotMode.Never,
            StateDirectory = _stateDir,
            HeartbeatInterval = TimeSpan.Zero,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };

        /// <summary>Writes WAL far beyond max_slot_wal_keep_size, acknowledging nothing, until PostgreSQL invalidates the slot.</summary>
        public async Task InvalidateSlotAsync()
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (await Db.ScalarAsync<string?>($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'") != "lost")
            {
                Assert.True(DateTime.UtcNow < deadline, "the slot was not invalidated");
                await Db.ExecuteAsync("INSERT INTO t SELECT coalesce(max(id), 0) + 1, repeat('x', 1000) FROM t; SELECT pg_switch_wal(); CHECKPOINT");
            }
        }

        public async ValueTask DisposeAsync()
        {
            await PostgresFixture.StopLocalClusterAsync(_dataDir);
            if (Reader is not null)
            {
                try
                {
                    await Reader.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                }
                catch (TimeoutException)
                {
                }
            }

            try
            {
                Directory.Delete(_stateDir, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }
}
