using CdcPipeline.Core.Json;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>ALTER TABLE and publication changes are picked up from relation messages, without a restart.</summary>
public sealed class PgOutputSchemaChangeTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task Added_dropped_and_retyped_columns_apply_mid_stream()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, a int, b text)");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO t VALUES (1, 1, 'x')");
        await Db.ExecuteAsync("ALTER TABLE t ADD COLUMN c numeric(5,1) DEFAULT 2.5");
        await Db.ExecuteAsync("INSERT INTO t VALUES (2, 2, 'y')");
        await Db.ExecuteAsync("ALTER TABLE t DROP COLUMN b");
        await Db.ExecuteAsync("ALTER TABLE t ALTER COLUMN a TYPE text");
        await Db.ExecuteAsync("INSERT INTO t VALUES (3, 'three', 3.5)");
        var events = await reader.TakeAsync(3);

        Assert.Equal(
            ["""{"id":1,"a":1,"b":"x"}""", """{"id":2,"a":2,"b":"y","c":"2.5"}""", """{"id":3,"a":"three","c":"3.5"}"""],
            events.Select(e => CanonicalJson.Serialize(e.After!)));
    }

    [Fact]
    public async Task Table_added_to_the_publication_is_captured_from_then_on()
    {
        await Db.ExecuteAsync($"CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); CREATE PUBLICATION {Db.Publication} FOR TABLE a");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO b VALUES (1)");
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE b");
        await Db.ExecuteAsync("INSERT INTO b VALUES (2); INSERT INTO a VALUES (3)");
        var events = await reader.TakeAsync(2);

        Assert.Equal(["b:2", "a:3"], events.Select(e => e.Source.Table + ":" + e.After!["id"]));
    }
}
