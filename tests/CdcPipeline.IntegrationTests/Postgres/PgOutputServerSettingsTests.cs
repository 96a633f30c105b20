using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.EndToEnd;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;
using Npgsql.Replication;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// Server settings the capture needs and cannot change (wal_level, max_wal_senders): the start or the reconnect says
/// which setting it is, what it is now and what to do, instead of "check that the server is up". Each test runs its own
/// private cluster: these settings are server-wide and apply only at a restart.
/// </summary>
public sealed class PgOutputServerSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-serversettings-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Run_on_a_server_without_wal_level_logical_names_the_setting_and_the_restart_and_leaves_nothing_behind()
    {
        // It ended "logical decoding requires wal_level >= logical (SQLSTATE 55000); check that the server is up and that
        // source.postgres.connectionString (…) is right", after creating the publication it then left behind.
        await using var cluster = await PrivateCluster.StartAsync("pg-wal-replica", new Dictionary<string, string> { ["wal_level"] = "replica" }, Ct);
        var db = cluster.Db;
        await db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY)");
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: walreplica
            source:
              postgres:
                connectionString: "{db.ConnectionString}"
                publication: {db.Publication}
                slot: {db.Slot}
                tables: [public.orders]
                stateDirectory: state
            sinks:
              - name: screen
                console: {"{}"}
            """, Ct);

        using var pipeline = PipelineProcess.Start(["run", "--config", config]);
        var exit = await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(90));
        var log = pipeline.Log;
        TestContext.Current.TestOutputHelper?.WriteLine(log);

        Assert.True(exit == 1, log);
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("wal_level = replica", error, StringComparison.Ordinal);
        Assert.Contains("ALTER SYSTEM SET wal_level = logical", error, StringComparison.Ordinal);
        Assert.Contains("restart PostgreSQL", error, StringComparison.Ordinal);
        Assert.Contains("db check", error, StringComparison.Ordinal);
        Assert.DoesNotContain("server is up", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM pg_publication"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM pg_replication_slots"));
    }

    [Fact]
    public async Task A_reconnect_finding_every_wal_sender_busy_names_max_wal_senders_and_who_uses_them_then_stops_after_its_attempts()
    {
        // It logged "Replication connection … lost" with PostgreSQL's bare 53300 and stopped with "Check that the server is up and reachable".
        await using var cluster = await PrivateCluster.StartAsync("pg-one-sender", new Dictionary<string, string> { ["max_wal_senders"] = "1" }, Ct);
        var db = cluster.Db;
        await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION {db.Publication} FOR TABLE t");
        await db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{db.Slot}', 'pgoutput')");
        await using var other = await OpenOtherWalSenderAsync(db);

        var logs = new TestOutputLoggerFactory();
        await using var source = new SourceReader(new PgOutputChangeSource(Options(db) with { MaxReconnectAttempts = 2 }, logs), Ct);
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => source.NextAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains($"replication slot '{db.Slot}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("max_wal_senders", e.Message, StringComparison.Ordinal);
        Assert.Contains("other-walsender", e.Message, StringComparison.Ordinal);
        Assert.Contains("pg_stat_replication", e.Message, StringComparison.Ordinal);
        Assert.Contains("gave up after 2 attempts", e.Message, StringComparison.Ordinal);
        var warnings = logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count(l => l.Contains("max_wal_senders", StringComparison.Ordinal) && l.Contains("other-walsender", StringComparison.Ordinal)));
        Assert.DoesNotContain(warnings, l => l.Contains(" | ", StringComparison.Ordinal)); // an expected condition: no exception attached
    }

    [Fact]
    public async Task A_start_that_must_create_its_slot_waits_for_a_free_wal_sender_and_goes_on_once_one_is_free()
    {
        // It stopped at once with PostgreSQL's bare 53300, shown by run as "check that the server is up".
        await using var cluster = await PrivateCluster.StartAsync("pg-one-sender-start", new Dictionary<string, string> { ["max_wal_senders"] = "1" }, Ct);
        var db = cluster.Db;
        await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION {db.Publication} FOR TABLE t");
        var other = await OpenOtherWalSenderAsync(db);

        var logs = new TestOutputLoggerFactory();
        await using var source = new SourceReader(new PgOutputChangeSource(Options(db) with { MaxReconnectAttempts = 0 }, logs), Ct);
        Assert.Null(await source.NextAsync(TimeSpan.FromMilliseconds(500)));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!logs.Lines.Any(l => l.Contains("max_wal_senders", StringComparison.Ordinal) && l.Contains("other-walsender", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not say that every WAL sender is busy");
            await Task.Delay(20, Ct);
        }

        await other.DisposeAsync();
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (await db.ConfirmedFlushAsync() == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not create its slot once the WAL sender was free");
            Assert.Null(await source.NextAsync(TimeSpan.FromMilliseconds(100)));
        }

        await db.ExecuteAsync("INSERT INTO t VALUES (7)");
        Assert.Equal("7", (await source.TakeAsync(1)).Single().After!["id"]!.ToString());
    }

    private PostgresSourceOptions Options(PostgresTestDatabase db) => new()
    {
        ConnectionString = db.ConnectionString,
        Publication = db.Publication,
        Slot = db.Slot,
        Snapshot = SnapshotMode.Never,
        StateDirectory = Path.Combine(_dir, "state"),
        HeartbeatInterval = TimeSpan.Zero,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>Another replication connection (a walsender) that takes the server's only one.</summary>
    private static async Task<LogicalReplicationConnection> OpenOtherWalSenderAsync(PostgresTestDatabase db)
    {
        var other = new LogicalReplicationConnection(new NpgsqlConnectionStringBuilder(db.ConnectionString) { ApplicationName = "other-walsender" }.ConnectionString);
        await other.Open(Ct);
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'other-walsender'"));
        return other;
    }
}
