using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary>
/// A fresh database per test holding the sample legacy schema (samples/legacy-orders) and its seed rows.
/// Roles are cluster-wide: every role a test creates gets a unique name and is dropped after the database.
/// </summary>
public abstract class LegacyDatabaseTestBase(PostgresFixture fixture) : IAsyncLifetime
{
    public static readonly string[] LegacyTables = ["public.tb_cust_mst", "public.tb_ord_mst", "public.tb_ord_dtl", "public.tb_aud_log"];

    private readonly List<string> _roles = [];

    protected PostgresFixture Fixture { get; } = fixture;

    protected PostgresTestDatabase Db { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static string TableList => string.Join(",", LegacyTables);

    public async ValueTask InitializeAsync()
    {
        Db = await Fixture.CreateDatabaseAsync(GetType().Name.Replace("Tests", "", StringComparison.Ordinal));
        var samples = Path.Combine(PostgresFixture.RepoRoot, "samples", "legacy-orders");
        await Db.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(samples, "schema.sql"), Ct));
        await Db.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(samples, "seed.sql"), Ct));
    }

    /// <summary>A unique role name, dropped at the end of the test.</summary>
    protected string NewRoleName(string purpose)
    {
        var name = ("r_" + purpose + "_" + Guid.NewGuid().ToString("N")[..8]).ToLowerInvariant();
        _roles.Add(name);
        return name;
    }

    protected string ConnectionStringAs(string role, string password) =>
        new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Username = role, Password = password }.ConnectionString;

    protected async Task AdminExecuteAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(Fixture.AdminConnectionString);
        await admin.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand(sql, admin);
        await cmd.ExecuteNonQueryAsync(Ct);
    }

    /// <summary>md5 over every row of every legacy table, in a stable order: equal before and after means no row was touched.</summary>
    protected async Task<string> LegacyChecksumAsync()
    {
        var parts = new List<string>();
        foreach (var table in LegacyTables)
        {
            parts.Add(table + "=" + await Db.ScalarAsync<string>($"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') || ':' || count(*) FROM {table} t"));
        }

        return string.Join(";", parts);
    }

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        foreach (var role in _roles)
        {
            try
            {
                await AdminExecuteAsync($"DROP ROLE IF EXISTS \"{role}\"");
            }
            catch (PostgresException)
            {
                // still referenced in another database: harmless leftover of a failed test
            }
        }

        GC.SuppressFinalize(this);
    }
}
