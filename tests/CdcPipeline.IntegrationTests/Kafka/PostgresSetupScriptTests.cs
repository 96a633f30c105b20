using CdcPipeline.IntegrationTests.Readiness;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// connector-config/postgres-setup.sql runs as the compose stack's (and the Testcontainers suite's) third
/// init script, after the sample schema and seed; the image's entrypoint stops at the first error, so the
/// whole stack fails to start if this script does. Here it runs the same way on a fresh database.
/// </summary>
public sealed class PostgresSetupScriptTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    [Fact]
    public async Task The_DBA_setup_script_runs_after_the_sample_schema_and_again_without_error()
    {
        // The script names the compose database (legacy); this test's database has its own name.
        var script = await File.ReadAllTextAsync(Path.Combine(PostgresFixture.RepoRoot, "connector-config", "postgres-setup.sql"), Ct);
        Assert.Contains("ON DATABASE legacy ", script, StringComparison.Ordinal);
        script = script.Replace("ON DATABASE legacy ", $"ON DATABASE \"{Db.Name}\" ", StringComparison.Ordinal);

        await Db.ExecuteAsync(script);

        // A DBA may run it twice (e.g. after adding a table): it must stay idempotent.
        await Db.ExecuteAsync(script);

        var published = (await Db.QueryAsync("SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 'debezium_legacy_pub' ORDER BY 1"))
            .Select(r => (string)r[0]!).ToList();
        Assert.Equal(LegacyTables.Append("public.debezium_heartbeat").Order(StringComparer.Ordinal), published);
        Assert.True(await Db.ScalarAsync<bool>("SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = 'cdc'"));
        Assert.True(await Db.ScalarAsync<bool>("SELECT has_table_privilege('cdc', 'public.debezium_heartbeat', 'INSERT, UPDATE')"));
        Assert.True(await Db.ScalarAsync<bool>("SELECT has_table_privilege('cdc', 'public.debezium_signal', 'INSERT, SELECT, DELETE')"));
        Assert.True(await Db.ScalarAsync<bool>("SELECT has_table_privilege('cdc', 'public.tb_ord_mst', 'SELECT')"));
        var identities = (await Db.QueryAsync("SELECT relname || '=' || relreplident::text FROM pg_class WHERE relname IN ('tb_aud_log', 'tb_ord_mst', 'tb_cust_mst') ORDER BY 1"))
            .Select(r => (string)r[0]!).ToList();
        Assert.Equal(["tb_aud_log=f", "tb_cust_mst=f", "tb_ord_mst=f"], identities);
    }
}
