using CdcPipeline.Core.Changes;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// PostgreSQL restarts under a running source: it reconnects with backoff and resumes from the slot.
/// Uses a private local cluster (restarting the shared server would disturb the tests running beside it), or a proxy
/// in front of the shared one that a test cuts.
/// </summary>
public sealed class PgOutputReconnectTests(PostgresFixture fixture)
{
    [Fact]
    public async Task A_source_that_gives_up_reconnecting_says_why_the_last_attempt_failed_and_what_to_do()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await fixture.CreateDatabaseAsync("reconnectgiveup");
        var server = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        await using var proxy = new TcpProxy(server.Host!, server.Port);
        var stateDirectory = Path.Combine(Path.GetTempPath(), "cdc-state-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
            await using var reader = new SourceReader(new PgOutputChangeSource(Streaming(db, stateDirectory) with
            {
                ConnectionString = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString,
                ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
                MaxReconnectAttempts = 2,
            }, new TestOutputLoggerFactory()), ct);
            await reader.NextAsync(TimeSpan.FromMilliseconds(50));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            // streaming, not only the slot created: this test is about a cut while streaming (one in the start's checks is
            // PgOutputStartReconnectTests')
            while (!((PgOutputChangeSource)reader.Source).IsConnected)
            {
                Assert.True(DateTime.UtcNow < deadline, "the source did not start streaming in time");
                await Task.Delay(20, ct);
            }

            proxy.Cut(); // the server stays out of reach

            // before the fix: only "gave up after 2 failed reconnects"; why was in the stack trace, which run no longer prints
            var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));

            Assert.Contains($"replication slot '{db.Slot}': gave up after 2 failed reconnects", e.Message, StringComparison.Ordinal);
            Assert.Contains($"127.0.0.1:{proxy.Port}", e.Message, StringComparison.Ordinal);
            Assert.Contains("maxReconnectAttempts", e.Message, StringComparison.Ordinal);
            Assert.IsAssignableFrom<NpgsqlException>(e.InnerException);
        }
        finally
        {
            try
            {
                Directory.Delete(stateDirectory, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    [Fact]
    public async Task Source_reconnects_after_PostgreSQL_restarts_and_loses_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await PrivateCluster.StartAsync("pg-restart", new Dictionary<string, string>(), ct);
        var db = cluster.Db;
        var dataDir = cluster.DataDirectory;
        var logs = new TestOutputLoggerFactory();
        try
        {
            await db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
            await using var reader = new SourceReader(new PgOutputChangeSource(Streaming(db, Path.Combine(dataDir, "..", "pg-restart-state")), logs), ct);
            await reader.NextAsync(TimeSpan.FromMilliseconds(50));
            while (await db.ConfirmedFlushAsync() == 0)
            {
                await Task.Delay(20, ct);
            }

            await db.ExecuteAsync("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)");
            var before = await reader.TakeAsync(2);
            await reader.Source.AcknowledgeAsync(before[0].Position, ct);

            // Keep pulling, as the pipeline does: a change is handed out before its COMMIT is read, and a
            // walsender whose client stopped reading holds a fast shutdown up to wal_sender_timeout.
            Assert.Null(await reader.NextAsync(TimeSpan.FromMilliseconds(200)));

            await cluster.RestartAsync();
            await db.ExecuteAsync("INSERT INTO t VALUES (3)");
            var after = await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(60));
            Assert.Null(await reader.NextAsync(TimeSpan.FromMilliseconds(200))); // reads the COMMIT, as the pipeline would
            await reader.Source.AcknowledgeAsync(before[1].Position, ct);
            await reader.Source.AcknowledgeAsync(after[0].Position, ct);

            Assert.Equal(["1", "2"], before.Select(e => e.After!["id"]!.ToString()));
            Assert.Equal("3", after.Single().After!["id"]!.ToString());
            Assert.Contains(logs.Lines, l => l.Contains("reconnecting", StringComparison.Ordinal));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (await db.ConfirmedFlushAsync() <= (ulong)after[0].Position.Major)
            {
                Assert.True(DateTime.UtcNow < deadline, "the slot did not advance over the acknowledged transactions after the reconnect");
                await Task.Delay(50, ct);
            }
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
    [Fact]
    public async Task A_restart_is_logged_one_line_a_failure_saying_the_server_closed_the_connection_and_where_it_resumes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await PrivateCluster.StartAsync("pg-restartlog", new Dictionary<string, string>(), ct);
        var db = cluster.Db;
        var dataDir = cluster.DataDirectory;
        var logs = new TestOutputLoggerFactory(); // information: as run logs by default
        try
        {
            await db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
            await using var reader = new SourceReader(new PgOutputChangeSource(Streaming(db, Path.Combine(dataDir, "..", "pg-restartlog-state")) with
            {
                HeartbeatInterval = TimeSpan.FromMilliseconds(200),
                ReconnectMinDelay = TimeSpan.FromMilliseconds(300),
            }, logs), ct);
            await reader.NextAsync(TimeSpan.FromMilliseconds(50));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!((PgOutputChangeSource)reader.Source).IsConnected)
            {
                Assert.True(DateTime.UtcNow < deadline, "the source did not start streaming in time");
                await Task.Delay(20, ct);
            }

            var confirmed = new NpgsqlLogSequenceNumber(await db.ConfirmedFlushAsync());
            Assert.NotEqual(0UL, (ulong)confirmed);

            // nothing acknowledged in this process: the server resumes from the slot's confirmed position, not from 0/0
            await cluster.RestartAsync(downFor: TimeSpan.FromMilliseconds(1500)); // a heartbeat or more fails while the server is down
            await db.ExecuteAsync("INSERT INTO t VALUES (1)");
            var after = await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(60));
            Assert.Equal("1", after.Single(e => e.Kind == ChangeKind.Change).After!["id"]!.ToString()); // heartbeats besides

            string[] lines;
            lock (logs.Lines)
            {
                lines = [.. logs.Lines];
            }

            var reconnects = lines.Where(l => l.Contains("reconnecting in", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(reconnects);
            // one line each (the logger appends " | Type: message" when an exception, and with it its trace, is logged)
            Assert.All(reconnects, l => Assert.DoesNotContain(" | ", l, StringComparison.Ordinal));
            Assert.All(reconnects, l => Assert.DoesNotMatch(@"\b0/0\b", l));
            Assert.All(reconnects, l => Assert.DoesNotContain("Please file a bug", l, StringComparison.Ordinal));
            Assert.Contains($"resumes from the slot's confirmed position {confirmed}", reconnects[0], StringComparison.Ordinal);
            // the shutdown's end of the stream (Npgsql's CommandComplete "protocol" error) or its 57P01, said as such
            Assert.True(
                reconnects[0].Contains("closed by the server", StringComparison.Ordinal) || reconnects[0].Contains("57P01", StringComparison.Ordinal),
                reconnects[0]);
            var heartbeats = lines.Where(l => l.Contains("Heartbeat for slot", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(heartbeats);
            Assert.All(heartbeats, l => Assert.DoesNotContain(" | ", l, StringComparison.Ordinal));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }
    [Theory]
    [InlineData(LogLevel.Information)]
    [InlineData(LogLevel.Debug)]
    public async Task A_terminated_walsender_is_one_line_with_its_57P01_and_the_trace_only_at_debug(LogLevel level)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await fixture.CreateDatabaseAsync("reconnectlog" + (level == LogLevel.Debug ? "d" : "i"));
        var stateDirectory = Path.Combine(Path.GetTempPath(), "cdc-state-" + Guid.NewGuid().ToString("N")[..8]);
        var logs = new TestOutputLoggerFactory(level);
        try
        {
            await db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
            await using var reader = new SourceReader(new PgOutputChangeSource(Streaming(db, stateDirectory) with { ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) }, logs), ct);
            await reader.NextAsync(TimeSpan.FromMilliseconds(50));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!((PgOutputChangeSource)reader.Source).IsConnected)
            {
                Assert.True(DateTime.UtcNow < deadline, "the source did not start streaming in time");
                await Task.Delay(20, ct);
            }

            // IsConnected is set as START_REPLICATION is sent: wait for the walsender to hold the slot, or there is nothing to terminate
            while (await db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{db.Slot}' AND active_pid IS NOT NULL") == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "no walsender took the slot in time");
                await Task.Delay(20, ct);
            }

            var confirmed = new NpgsqlLogSequenceNumber(await db.ConfirmedFlushAsync());
            Assert.True(await db.ScalarAsync<bool>($"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{db.Slot}' AND active_pid IS NOT NULL"));
            await db.ExecuteAsync("INSERT INTO t VALUES (1)");
            var after = await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(30));
            Assert.Equal("1", after.Single(e => e.Kind == ChangeKind.Change).After!["id"]!.ToString());

            string reconnect;
            lock (logs.Lines)
            {
                reconnect = logs.Lines.First(l => l.Contains("reconnecting in", StringComparison.Ordinal));
            }

            Assert.Contains($"resumes from the slot's confirmed position {confirmed}", reconnect, StringComparison.Ordinal);
            if (level == LogLevel.Debug)
            {
                // the exception (and with it its trace) is logged: " | Type: message" in this logger
                Assert.Contains(" | PostgresException: 57P01", reconnect, StringComparison.Ordinal);
            }
            else
            {
                Assert.Contains("lost (attempt 1): 57P01: terminating connection due to administrator command;", reconnect, StringComparison.Ordinal);
                Assert.DoesNotContain(" | ", reconnect, StringComparison.Ordinal);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(stateDirectory, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    /// <summary>A source streaming <paramref name="db"/>'s slot (no snapshot, no heartbeat) that reconnects after 100 ms to 1 s.</summary>
    private static PostgresSourceOptions Streaming(PostgresTestDatabase db, string stateDirectory) => new()
    {
        ConnectionString = db.ConnectionString,
        Publication = db.Publication,
        Slot = db.Slot,
        Snapshot = SnapshotMode.Never,
        StateDirectory = stateDirectory,
        HeartbeatInterval = TimeSpan.Zero,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
    };
}
