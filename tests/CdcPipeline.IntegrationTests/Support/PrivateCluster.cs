using Npgsql;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>
/// A throwaway local cluster of one test's own (scripts/pg-start.sh on a free port), for server settings the shared server
/// must not have (they are server-wide and need a restart: wal_level, max_wal_senders), with one database. The settings
/// are set with ALTER SYSTEM and applied by a restart (none: no restart). Disposing stops the cluster; its data directory is reused fresh.
/// </summary>
public sealed class PrivateCluster : IAsyncDisposable
{
    private readonly string _dataDir;
    private readonly int _port;

    private PrivateCluster(string dataDir, int port, PostgresTestDatabase db)
    {
        _dataDir = dataDir;
        _port = port;
        Db = db;
    }

    public PostgresTestDatabase Db { get; }

    /// <summary>Starts it with <paramref name="settings"/> (name → value, set with ALTER SYSTEM, then a restart).</summary>
    public static async Task<PrivateCluster> StartAsync(string directory, IReadOnlyDictionary<string, string> settings, CancellationToken ct)
    {
        PostgresFixture.RequireServerBinaries("run a private cluster");
        var dataDir = Path.Combine(PostgresFixture.RepoRoot, ".run", directory + "-test");
        var port = FreePorts.Next();
        var admin = await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: true);
        var name = "t_" + directory.Replace('-', '_') + "_" + Guid.NewGuid().ToString("N")[..8];
        var cluster = new PrivateCluster(dataDir, port,
            new PostgresTestDatabase(admin, name, new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString));
        try
        {
            await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString))
            {
                await connection.OpenAsync(ct);
                foreach (var (setting, value) in settings)
                {
                    await using var set = new NpgsqlCommand($"ALTER SYSTEM SET {setting} = '{value}'", connection);
                    await set.ExecuteNonQueryAsync(ct);
                }

                await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                await create.ExecuteNonQueryAsync(ct);
            }

            // wal_level and max_wal_senders take effect only at server start
            if (settings.Count > 0)
            {
                await PostgresFixture.StopLocalClusterAsync(dataDir);
                await PostgresFixture.StartLocalClusterAsync(port, dataDir, fresh: false);
            }

            foreach (var (setting, value) in settings)
            {
                Assert.Equal(value, await cluster.Db.ScalarAsync<string>($"SELECT current_setting('{setting}')"));
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Its data directory (under .run/); a test may keep its own files beside it.</summary>
    public string DataDirectory => _dataDir;

    /// <summary>
    /// Stops the server as scripts/pg-stop.sh does (pg_ctl -m fast: a clean shutdown with its checkpoint) and starts it again,
    /// after <paramref name="downFor"/> (what a client sees while it is down).
    /// </summary>
    public async Task RestartAsync(TimeSpan downFor = default)
    {
        var (code, _, stderr) = await PostgresFixture.StopLocalClusterAsync(_dataDir);
        Assert.True(code == 0, $"pg-stop.sh failed: {stderr}");
        if (downFor > TimeSpan.Zero)
        {
            await Task.Delay(downFor, TestContext.Current.CancellationToken);
        }

        await PostgresFixture.StartLocalClusterAsync(_port, _dataDir, fresh: false);
    }

    public async ValueTask DisposeAsync() => await PostgresFixture.StopLocalClusterAsync(_dataDir);
}
