using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

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
            await using var reader = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
            {
                ConnectionString = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString,
                Publication = db.Publication,
                Slot = db.Slot,
                Snapshot = SnapshotMode.Never,
                StateDirectory = stateDirectory,
                HeartbeatInterval = TimeSpan.Zero,
                ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
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
        PostgresFixture.RequireServerBinaries("restart a private cluster");

        var ct = TestContext.Current.CancellationToken;
        var port = FreePorts.Next();
        var dataDir = Path.Combine(PostgresFixture.RepoRoot, ".run", "pg-restart-test");
        var admin = await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: true);
        var name = "t_restart_" + Guid.NewGuid().ToString("N")[..8];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        var db = new PostgresTestDatabase(admin, name, new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString);
        var logs = new TestOutputLoggerFactory();
        try
        {
            await db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
            await using var reader = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
            {
                ConnectionString = db.ConnectionString,
                Publication = db.Publication,
                Slot = db.Slot,
                Snapshot = SnapshotMode.Never,
                StateDirectory = Path.Combine(dataDir, "..", "pg-restart-state"),
                HeartbeatInterval = TimeSpan.Zero,
                ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
                ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            }, logs), ct);
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

            await PostgresFixture.StopLocalClusterAsync(dataDir);
            await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: false);
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
            await PostgresFixture.StopLocalClusterAsync(dataDir);
        }
    }
}
