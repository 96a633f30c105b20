using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Readiness;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

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

    /// <summary>
    /// The start's warning for a published table without a usable replica identity (event 1005) read the partitioned table's own
    /// identity only, so a DBA's publication of a partitioned table made FULL on the parent alone (ALTER TABLE … REPLICA IDENTITY
    /// does not reach the partitions, and PostgreSQL checks the partition an UPDATE/DELETE touches) started without a word while
    /// db check failed it. Now the start names the partitions db check names, with the statements that fix them; those run,
    /// the application's UPDATE works again and the start says nothing.
    /// </summary>
    [Fact]
    public async Task A_partitioned_table_full_on_the_parent_only_is_warned_at_start_naming_the_partitions_db_check_names()
    {
        await Db.ExecuteAsync("CREATE TABLE m (id int, taken date NOT NULL) PARTITION BY RANGE (taken); " +
                              "CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); " +
                              "CREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); " +
                              "CREATE TABLE m_2027 PARTITION OF m FOR VALUES FROM ('2027-01-01') TO ('2028-01-01'); " +
                              "ALTER TABLE m REPLICA IDENTITY FULL; ALTER TABLE m_2027 REPLICA IDENTITY FULL; INSERT INTO m VALUES (1, '2025-03-01'); " +
                              $"CREATE PUBLICATION {Db.Publication} FOR TABLE m WITH (publish_via_partition_root = true)");
        // what the warning says: PostgreSQL refuses the application's UPDATE on such a partition
        var refused = await Assert.ThrowsAsync<PostgresException>(() => Db.ExecuteAsync("UPDATE m SET id = 2"));
        Assert.Contains("m_2025", refused.MessageText, StringComparison.Ordinal);

        await StreamOneInsertAsync("2026-05-01");

        // before the fix: none (the parent is FULL)
        var warning = Assert.Single(Warnings("replica identity", "REPLICA IDENTITY"));
        Assert.Contains("Partitioned table \"public\".\"m\"", warning, StringComparison.Ordinal);
        Assert.Contains("public.m_2025, public.m_2026", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("m_2027", warning, StringComparison.Ordinal);
        var check = await Cli.RunAsync("db", "check", "--connection", Db.ConnectionString, "--tables", "public.m", "--publication", Db.Publication, "--slot", Db.Slot, "--json");
        using (var json = JsonDocument.Parse(check.Stdout))
        {
            var key = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("check").GetString() == "key");
            Assert.Equal("fail", key.GetProperty("status").GetString());
            Assert.Contains("partitions public.m_2025, public.m_2026 without a replica identity", key.GetProperty("what").GetString(), StringComparison.Ordinal);
        }

        // the statements it prints, as printed: the application's UPDATE works, and the next start says nothing more
        var fix = warning[(warning.IndexOf("Run: ", StringComparison.Ordinal) + "Run: ".Length)..warning.IndexOf(" (a partition attached later", StringComparison.Ordinal)];
        Assert.Equal("ALTER TABLE \"public\".\"m_2025\" REPLICA IDENTITY FULL; ALTER TABLE \"public\".\"m_2026\" REPLICA IDENTITY FULL;", fix);
        await Db.ExecuteAsync(fix);
        await Db.ExecuteAsync("UPDATE m SET id = 2");
        lock (Logs.Lines)
        {
            Logs.Lines.Clear();
        }

        await StreamOneInsertAsync("2027-05-01");
        Assert.Empty(Warnings("replica identity", "REPLICA IDENTITY"));
    }

    /// <summary>
    /// A start that streams (its checks done), one insert read through it and acknowledged to the slot (so that the next start
    /// does not decode it again, with the catalog as it was then), and the source stopped.
    /// </summary>
    private async Task StreamOneInsertAsync(string taken)
    {
        await using var reader = await OpenStreamingAsync(Options(["public.m"]));
        var before = await Db.ConfirmedFlushAsync();
        await Db.ExecuteAsync($"INSERT INTO m VALUES (10, '{taken}')");
        var read = await reader.TakeAsync(1, e => e.Operation == ChangeOperation.Create, TimeSpan.FromSeconds(20)); // after the changes written before it
        Assert.Equal(ChangeOperation.Create, read[^1].Operation);
        await reader.AcknowledgeAsync(read);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Db.ConfirmedFlushAsync() <= before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the acknowledged insert was not confirmed to the slot");
            await reader.NextAsync(TimeSpan.FromMilliseconds(100)); // the read sends the confirmation
        }
    }

    private List<string> Warnings(params string[] about)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal) && about.Any(a => l.Contains(a, StringComparison.Ordinal))).ToList();
        }
    }
}
