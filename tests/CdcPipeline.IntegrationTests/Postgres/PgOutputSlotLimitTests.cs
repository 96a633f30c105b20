using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;

namespace CdcPipeline.IntegrationTests.Postgres;

// It takes every free replication slot of the shared test server for a moment: no other test may run meanwhile.
[CollectionDefinition(nameof(PgOutputSlotLimitTests), DisableParallelization = true)]
public sealed class PgOutputSlotLimitTestsCollection;

/// <summary>A legacy server whose replication slots are all in use (max_replication_slots): the start says what to do.</summary>
[Collection(nameof(PgOutputSlotLimitTests))]
public sealed class PgOutputSlotLimitTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task A_start_that_finds_every_slot_in_use_stops_naming_max_replication_slots_and_what_to_drop()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
        var fillers = new List<string>();
        try
        {
            var free = await Db.ScalarAsync<long>(
                "SELECT current_setting('max_replication_slots')::bigint - (SELECT count(*) FROM pg_replication_slots)");
            for (var i = 0; i < free; i++)
            {
                var filler = $"{Db.Slot}_fill{i}";
                await Db.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{filler}', 'pgoutput')");
                fillers.Add(filler);
            }

            var reader = Open(Options(["public.t"], SnapshotMode.Initial));
            // before the fix: PostgreSQL's bare 53400 "all replication slots are in use", shown by run as
            // "check that the server is up and that source.postgres.connectionString is right"
            var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

            Assert.Contains($"'{Db.Slot}'", e.Message, StringComparison.Ordinal);
            Assert.Contains("max_replication_slots", e.Message, StringComparison.Ordinal);
            Assert.Contains("cdcpipeline slot list", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var filler in fillers)
            {
                await Db.ExecuteAsync($"SELECT pg_drop_replication_slot('{filler}')");
            }
        }
    }
}
