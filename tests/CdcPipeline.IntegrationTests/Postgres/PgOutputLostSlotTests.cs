using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
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
        var port = FreePorts.Next();
        var dataDir = Path.Combine(PostgresFixture.RepoRoot, ".run", "pg-lost-slot-test");
        var admin = await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: true);
        var name = "t_lost_" + Guid.NewGuid().ToString("N")[..8];
        var logs = new TestOutputLoggerFactory();
        var db = new PostgresTestDatabase(admin, name, new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString);
        SourceReader? reader = null;
        try
        {
            await using (var connection = new NpgsqlConnection(admin))
            {
                await connection.OpenAsync(ct);
                await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                await cmd.ExecuteNonQueryAsync(ct);
            }

            await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION {db.Publication} FOR TABLE t");
            await db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{db.Slot}', 'pgoutput')");
            await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf()");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await db.ScalarAsync<string?>($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{db.Slot}'") != "lost")
            {
                Assert.True(DateTime.UtcNow < deadline, "the slot was not invalidated");
                await db.ExecuteAsync("INSERT INTO t SELECT coalesce(max(id), 0) + 1 FROM t; SELECT pg_switch_wal(); CHECKPOINT");
            }

            var source = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
            {
                ConnectionString = db.ConnectionString,
                Publication = db.Publication,
                Slot = db.Slot,
                Snapshot = SnapshotMode.Never,
                StateDirectory = Path.Combine(dataDir, "..", "pg-lost-slot-state"),
                HeartbeatInterval = TimeSpan.Zero,
                ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
                ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            }, logs), ct);
            reader = source;

            // before the fix the source hung in START_REPLICATION (no event, no error): NextAsync returned null
            var e = await Assert.ThrowsAnyAsync<Exception>(() => source.NextAsync(TimeSpan.FromSeconds(20)));

            Assert.Contains($"replication slot '{db.Slot}'", e.Message, StringComparison.Ordinal);
            Assert.Contains("lost", e.Message, StringComparison.Ordinal);
            Assert.Contains("max_slot_wal_keep_size", e.Message, StringComparison.Ordinal);
            Assert.Contains($"slot drop {db.Slot}", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            await PostgresFixture.StopLocalClusterAsync(dataDir);
            if (reader is not null)
            {
                try
                {
                    // bounded: before the fix the source stayed stuck in START_REPLICATION and never let go
                    await reader.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                }
                catch (TimeoutException)
                {
                }
            }
        }
    }

    [Fact]
    public async Task A_slot_invalidated_between_the_check_and_the_start_fails_with_the_lost_slot_error()
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");

        var ct = TestContext.Current.CancellationToken;
        var port = FreePorts.Next();
        var dataDir = Path.Combine(PostgresFixture.RepoRoot, ".run", "pg-lost-at-start-test");
        var stateDir = Path.Combine(PostgresFixture.RepoRoot, ".run", "pg-lost-at-start-state-" + Guid.NewGuid().ToString("N")[..8]);
        var admin = await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: true);
        var name = "t_lost_" + Guid.NewGuid().ToString("N")[..8];
        var logs = new TestOutputLoggerFactory();
        var db = new PostgresTestDatabase(admin, name, new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString);
        SourceReader? reader = null;
        try
        {
            await using (var connection = new NpgsqlConnection(admin))
            {
                await connection.OpenAsync(ct);
                await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                await cmd.ExecuteNonQueryAsync(ct);
            }

            await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY, pad text); CREATE PUBLICATION {db.Publication} FOR TABLE t");
            await db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{db.Slot}', 'pgoutput')");
            await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf()");
            var invalidated = false;
            var source = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
            {
                ConnectionString = db.ConnectionString,
                Publication = db.Publication,
                Slot = db.Slot,
                Snapshot = SnapshotMode.Never,
                StateDirectory = stateDir,
                HeartbeatInterval = TimeSpan.Zero,
                ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
                ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            }, logs)
            {
                // the slot passed the check (not lost); PostgreSQL invalidates it before START_REPLICATION reaches it
                BeforeStartReplication = async token =>
                {
                    if (invalidated)
                    {
                        return;
                    }

                    var deadline = DateTime.UtcNow.AddSeconds(60);
                    var id = 0;
                    while (await db.ScalarAsync<string?>($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{db.Slot}'") != "lost")
                    {
                        Assert.True(DateTime.UtcNow < deadline, "the slot was not invalidated");
                        id++;
                        await db.ExecuteAsync($"INSERT INTO t VALUES ({id}, repeat('x', 1000)); SELECT pg_switch_wal(); CHECKPOINT");
                    }

                    invalidated = true;
                },
            }, ct);
            reader = source;

            var e = await Assert.ThrowsAnyAsync<Exception>(() => source.NextAsync(TimeSpan.FromSeconds(90)));

            Assert.True(invalidated, $"the source failed before START_REPLICATION: {e}");
            Assert.Contains($"replication slot '{db.Slot}' is lost", e.Message, StringComparison.Ordinal);
            Assert.Contains("max_slot_wal_keep_size", e.Message, StringComparison.Ordinal);
            Assert.Contains($"slot drop {db.Slot}", e.Message, StringComparison.Ordinal);
            Assert.Equal(PostgresErrorCodes.ObjectNotInPrerequisiteState, Assert.IsType<PostgresException>(e.InnerException).SqlState);
        }
        finally
        {
            await PostgresFixture.StopLocalClusterAsync(dataDir);
            if (reader is not null)
            {
                try
                {
                    await reader.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                }
                catch (TimeoutException)
                {
                }
            }

            try
            {
                Directory.Delete(stateDir, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    [Theory]
    [InlineData(false)] // the consumer is stuck: it pulls again only once the slot is lost
    [InlineData(true)] // the consumer keeps pulling (acknowledging nothing): the source reconnects while PostgreSQL invalidates the slot
    public async Task A_slot_invalidated_while_streaming_stops_the_source_with_the_lost_slot_error(bool keepsPulling)
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");

        var ct = TestContext.Current.CancellationToken;
        var port = FreePorts.Next();
        var dataDir = Path.Combine(PostgresFixture.RepoRoot, ".run", "pg-lost-while-streaming-test");
        var stateDir = Path.Combine(PostgresFixture.RepoRoot, ".run", "pg-lost-while-streaming-state-" + Guid.NewGuid().ToString("N")[..8]);
        var admin = await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: true);
        var name = "t_lost_" + Guid.NewGuid().ToString("N")[..8];
        var logs = new TestOutputLoggerFactory();
        var db = new PostgresTestDatabase(admin, name, new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString);
        SourceReader? reader = null;
        try
        {
            await using (var connection = new NpgsqlConnection(admin))
            {
                await connection.OpenAsync(ct);
                await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                await cmd.ExecuteNonQueryAsync(ct);
            }

            await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY, pad text); CREATE PUBLICATION {db.Publication} FOR TABLE t");
            await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf()");
            var source = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
            {
                ConnectionString = db.ConnectionString,
                Publication = db.Publication,
                Slot = db.Slot,
                Snapshot = SnapshotMode.Never,
                StateDirectory = stateDir,
                HeartbeatInterval = TimeSpan.Zero,
                ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
                ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            }, logs), ct);
            reader = source;

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

            var deadline = DateTime.UtcNow.AddSeconds(60);
            var id = 0;
            while (await db.ScalarAsync<string?>($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{db.Slot}'") != "lost")
            {
                Assert.True(DateTime.UtcNow < deadline, "the slot was not invalidated");
                id++;
                await db.ExecuteAsync($"INSERT INTO t VALUES ({id}, repeat('x', 1000)); SELECT pg_switch_wal(); CHECKPOINT");
            }

            stopPulling.CancelAfter(TimeSpan.FromSeconds(60));
            var failure = keepsPulling ? await pulled : await PullUntilFailureAsync(source, stopPulling.Token);

            Assert.NotNull(failure);
            Assert.Contains($"replication slot '{db.Slot}' is lost", failure.Message, StringComparison.Ordinal);
            Assert.Contains("max_slot_wal_keep_size", failure.Message, StringComparison.Ordinal);
            Assert.Contains($"slot drop {db.Slot}", failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            await PostgresFixture.StopLocalClusterAsync(dataDir);
            if (reader is not null)
            {
                try
                {
                    await reader.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                }
                catch (TimeoutException)
                {
                }
            }

            try
            {
                Directory.Delete(stateDir, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
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
}
