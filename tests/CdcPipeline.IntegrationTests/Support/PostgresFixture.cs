using System.Diagnostics;
using DotNet.Testcontainers.Builders;
using Npgsql;
using Testcontainers.PostgreSql;

[assembly: AssemblyFixture(typeof(CdcPipeline.IntegrationTests.Support.PostgresFixture))]

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>
/// One PostgreSQL server (wal_level=logical) for the whole test run, in this order:
/// <c>CDC_TEST_POSTGRES</c> (a connection string to a superuser), Testcontainers when a Docker engine answers
/// (probed once), else a throwaway local cluster started with <c>scripts/pg-start.sh</c> on its own port.
/// Tests get their own database from <see cref="CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const int LocalPort = 55433;

    private PostgreSqlContainer? _container;
    private string? _unavailable;

    /// <summary>Superuser connection string to the <c>postgres</c> database.</summary>
    public string AdminConnectionString { get; private set; } = "";

    /// <summary>Where the server came from (env, testcontainers, local).</summary>
    public string Origin { get; private set; } = "";

    /// <summary>The local cluster's data directory, when this fixture started one (lets a test start a second, private one).</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CdcPipeline.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (CdcPipeline.sln) above " + AppContext.BaseDirectory);
        }
    }

    public async ValueTask InitializeAsync()
    {
        var fromEnv = Environment.GetEnvironmentVariable("CDC_TEST_POSTGRES");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            AdminConnectionString = fromEnv;
            Origin = "CDC_TEST_POSTGRES";
            return;
        }

        if (TryBuildContainer() is { } container)
        {
            _container = container;
            await container.StartAsync();
            AdminConnectionString = new NpgsqlConnectionStringBuilder(container.GetConnectionString()) { Database = "postgres" }.ConnectionString;
            Origin = "testcontainers";
            return;
        }

        try
        {
            // another cluster may hold our port (other worktrees run their own): try the next ones
            for (var port = LocalPort; ; port++)
            {
                try
                {
                    AdminConnectionString = await StartLocalClusterAsync(port, Path.Combine(RepoRoot, ".run", "pg-tests"), fresh: false);
                    break;
                }
                catch (InvalidOperationException e) when (e.Message.Contains("already in use", StringComparison.Ordinal) && port < LocalPort + 20)
                {
                }
            }

            Origin = "local cluster";
        }
        catch (Exception e)
        {
            _unavailable = "no PostgreSQL for the integration tests: set CDC_TEST_POSTGRES, start Docker, or install postgresql-15 (" + e.Message + ")";
        }
    }

    /// <summary>Skips the calling test (reason printed) when no server could be had.</summary>
    public void RequireServer()
    {
        if (_unavailable is not null)
        {
            Assert.Skip(_unavailable);
        }
    }

    /// <summary>Skips the calling test (reason printed) on a machine without the server binaries a private cluster needs.</summary>
    public static void RequireServerBinaries(string toDo)
    {
        if (!File.Exists("/usr/lib/postgresql/15/bin/initdb") && Environment.GetEnvironmentVariable("PG_BIN") is null)
        {
            Assert.Skip($"needs the PostgreSQL 15 server binaries (apt-get install postgresql-15) to {toDo}");
        }
    }

    /// <summary>Starts (or finds running) a local cluster with scripts/pg-start.sh; returns its connection string.</summary>
    public static async Task<string> StartLocalClusterAsync(int port, string dataDir, bool fresh)
    {
        var script = Path.Combine(RepoRoot, "scripts", "pg-start.sh");
        var args = $"\"{script}\" --port {port} --data-dir \"{dataDir}\"" + (fresh ? " --fresh" : "");
        var (code, stdout, stderr) = await RunAsync("bash", args);
        if (code != 0)
        {
            throw new InvalidOperationException($"scripts/pg-start.sh failed ({code}): {stderr.Trim()}");
        }

        var lines = stdout.Trim().Split('\n');
        return lines[^1].Trim();
    }

    public static Task<(int Code, string Stdout, string Stderr)> StopLocalClusterAsync(string dataDir) =>
        RunAsync("bash", $"\"{Path.Combine(RepoRoot, "scripts", "pg-stop.sh")}\" --data-dir \"{dataDir}\"");

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, string arguments)
    {
        var psi = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    private static PostgreSqlContainer? TryBuildContainer()
    {
        try
        {
            // Without a Docker engine, Build() itself throws (after ~0.7 s): this is the once-per-run probe.
            return new PostgreSqlBuilder("postgres:15")
                .WithCommand("-c", "wal_level=logical", "-c", "max_replication_slots=20", "-c", "max_wal_senders=20", "-c", "logical_decoding_work_mem=64kB")
                .Build();
        }
        catch (DockerUnavailableException)
        {
            return null;
        }
        catch (Exception e) when (e.GetType().Name.Contains("Docker", StringComparison.Ordinal))
        {
            return null;
        }
    }

    /// <summary>A fresh database for one test (class); disposing it drops its slots and the database.</summary>
    public async Task<PostgresTestDatabase> CreateDatabaseAsync(string purpose)
    {
        RequireServer();
        var name = ("t_" + purpose + "_" + Guid.NewGuid().ToString("N")[..8]).ToLowerInvariant();
        await using (var admin = new NpgsqlConnection(AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
            await cmd.ExecuteNonQueryAsync();
        }

        var cs = new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Pooling = false }.ConnectionString;
        return new PostgresTestDatabase(AdminConnectionString, name, cs);
    }

    public async ValueTask DisposeAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }

        // A local cluster stays up for the next run (start is idempotent); scripts/pg-stop.sh stops it.
    }
}
