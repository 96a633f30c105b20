using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// A publication the source would create over a table without a usable replica identity (no primary key and REPLICA
/// IDENTITY DEFAULT, or NOTHING) makes PostgreSQL refuse the legacy application's UPDATE/DELETE on that table. The source
/// refuses to create it and creates nothing else; a publication that already exists is the DBA's and is used as it is.
/// </summary>
public sealed class PgOutputKeylessPublicationTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private async Task AssertNothingCreatedAndDeleteStillWorksAsync(string table)
    {
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{Db.Publication}'"));
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
        // the legacy application's writes still work: no publication publishes deletes of the table
        await Db.ExecuteAsync($"UPDATE {table} SET msg = 'changed'; DELETE FROM {table}");
    }

    [Fact]
    public async Task A_listed_table_without_replica_identity_stops_the_start_before_the_publication_is_created()
    {
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); " +
                              "CREATE TABLE aud_log (at timestamptz DEFAULT now(), msg text); INSERT INTO aud_log (msg) VALUES ('a'); " +
                              "CREATE TABLE nothing_log (id int PRIMARY KEY, msg text) ; ALTER TABLE nothing_log REPLICA IDENTITY NOTHING; INSERT INTO nothing_log VALUES (1, 'n'); " +
                              "CREATE TABLE full_log (msg text); ALTER TABLE full_log REPLICA IDENTITY FULL; " +
                              "CREATE TABLE ev (at int, msg text) PARTITION BY RANGE (at); CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM (0) TO (10); INSERT INTO ev VALUES (1, 'e')");

        // before the fix: the publication was created (and stayed), and the application's DELETE FROM aud_log then failed with
        // "cannot delete from table "aud_log" because it does not have a replica identity and publishes deletes"
        var reader = Open(Options(["public.acct", "public.aud_log", "public.nothing_log", "public.full_log", "public.ev"]));
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

        Assert.Contains("public.aud_log", e.Message, StringComparison.Ordinal);
        Assert.Contains("public.nothing_log", e.Message, StringComparison.Ordinal);
        Assert.Contains("public.ev_1", e.Message, StringComparison.Ordinal); // the partition takes the application's writes
        Assert.DoesNotContain("public.acct", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("public.full_log", e.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"aud_log\" REPLICA IDENTITY FULL", e.Message, StringComparison.Ordinal);
        Assert.Contains("--replica-identity-full", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        await AssertNothingCreatedAndDeleteStillWorksAsync("aud_log");
        await AssertNothingCreatedAndDeleteStillWorksAsync("nothing_log");
        await AssertNothingCreatedAndDeleteStillWorksAsync("ev");
    }

    [Fact]
    public async Task Without_listed_tables_every_keyless_table_of_the_database_stops_the_start_before_a_publication_for_all_tables()
    {
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); " +
                              "CREATE SCHEMA legacy; CREATE TABLE legacy.aud_log (msg text); INSERT INTO legacy.aud_log VALUES ('a'); " +
                              "CREATE TABLE by_index (id int NOT NULL, msg text); CREATE UNIQUE INDEX by_index_id ON by_index (id); " +
                              "ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_id; " +
                              "CREATE UNLOGGED TABLE scratch (msg text)");

        var reader = Open(Options());
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

        Assert.Contains("legacy.aud_log", e.Message, StringComparison.Ordinal);
        Assert.Contains("FOR ALL TABLES", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("acct", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("by_index", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("scratch", e.Message, StringComparison.Ordinal); // unlogged tables are never published
        Assert.DoesNotContain("pg_catalog", e.Message, StringComparison.Ordinal);
        await AssertNothingCreatedAndDeleteStillWorksAsync("legacy.aud_log");
    }

    [Fact]
    public async Task A_listed_unlogged_table_stops_the_start_before_the_publication_is_created_saying_what_to_do()
    {
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, data text)");

        // before the fix: PostgreSQL's "cannot add relation "sessions" to publication" (detail redacted) with a stack trace
        var reader = Open(Options(["public.acct", "public.sessions"]));
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

        Assert.Contains("public.sessions", e.Message, StringComparison.Ordinal);
        Assert.Contains("UNLOGGED", e.Message, StringComparison.Ordinal);
        Assert.Contains("source.postgres.tables", e.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"sessions\" SET LOGGED;", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("public.acct", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{Db.Publication}'"));
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
    }

    [Fact]
    public async Task A_listed_unlogged_table_outside_an_existing_publication_is_said_to_be_uncapturable_not_to_be_added()
    {
        await Db.ExecuteAsync($"CREATE TABLE acct (id int PRIMARY KEY, v int); CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, data text); " +
                              $"CREATE PUBLICATION {Db.Publication} FOR TABLE acct");

        var reader = await OpenStreamingAsync(Options(["public.acct", "public.sessions"]));
        await Db.ExecuteAsync("INSERT INTO acct VALUES (1, 1)");
        Assert.Single(await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

        List<string> lines;
        lock (Logs.Lines)
        {
            lines = Logs.Lines.Where(l => l.Contains("\"public\".\"sessions\"", StringComparison.Ordinal) && l.Contains(" Warning ", StringComparison.Ordinal)).ToList();
        }

        // before the fix: "… not in publication …: Run: ALTER PUBLICATION … ADD TABLE "public"."sessions";", which PostgreSQL refuses
        var warning = Assert.Single(lines);
        Assert.Contains("UNLOGGED", warning, StringComparison.Ordinal);
        Assert.Contains("SET LOGGED", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("ADD TABLE", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_existing_publication_over_a_keyless_table_is_the_dbas_and_is_used_with_a_warning()
    {
        await Db.ExecuteAsync($"CREATE TABLE aud_log (msg text); INSERT INTO aud_log VALUES ('a'); CREATE PUBLICATION {Db.Publication} FOR TABLE aud_log WITH (publish = 'insert')");

        var reader = await OpenStreamingAsync(Options(["public.aud_log"]));
        await Db.ExecuteAsync("INSERT INTO aud_log VALUES ('b'); DELETE FROM aud_log");

        var inserted = await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20));
        Assert.Equal("public.aud_log", inserted[0].Source.QualifiedTable);
    }
}
