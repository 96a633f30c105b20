using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// PostgreSQL restarts under a running source: it reconnects with backoff and resumes from the slot.
/// Uses a private local cluster (restarting the shared server would disturb the tests running beside it).
/// </summary>
public sealed class PgOutputReconnectTests
{
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
