using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// A captured table that stops being there after the start-up checks passed: taken out of the publication while the
/// capture streams (pgoutput just stops sending its changes), or dropped before the initial snapshot reads it.
/// </summary>
public sealed class PgOutputTableLifeTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private List<string> LogLines(string level, string containing)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains($" {level} ", StringComparison.Ordinal) && l.Contains(containing, StringComparison.Ordinal)).ToList();
        }
    }

    private async Task<string> WaitForLogAsync(string level, string containing, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            if (LogLines(level, containing) is [var line, ..])
            {
                return line;
            }

            Assert.True(DateTime.UtcNow < deadline, what);
            await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task The_resnapshot_instruction_runs_as_given_and_names_the_table_whatever_it_is_called()
    {
        // The errors about a table that left the publication or arrived renamed end with this INSERT, for an operator to paste.
        await Db.ExecuteAsync("CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        const string Table = "public.it's \"x\"";
        var instruction = PgOutputChangeSource.ResnapshotInstruction("public.cdc_signal", Table, new DateTime(2026, 12, 7, 0, 0, 0, DateTimeKind.Utc));
        var insert = instruction[instruction.IndexOf("INSERT INTO", StringComparison.Ordinal)..];

        await Db.ExecuteAsync(insert);

        var data = await Db.ScalarAsync<string>("SELECT data FROM cdc_signal WHERE type = 'execute-snapshot'");
        using var json = System.Text.Json.JsonDocument.Parse(data);
        Assert.Equal(Table, json.RootElement.GetProperty("data-collections")[0].GetString());
    }

    [Fact]
    public async Task A_table_taken_out_of_the_publication_while_streaming_is_reported_as_an_error_and_the_other_tables_go_on()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); " +
                              "CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var options = Options(["public.a", "public.b"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200), SignalTable = "public.cdc_signal" };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");

        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} DROP TABLE b");
        await Db.ExecuteAsync("INSERT INTO b VALUES (1)"); // never sent: pgoutput decodes it with the publication of its time
        await Db.ExecuteAsync("INSERT INTO a VALUES (1)");

        // before the fix nothing was said until the next start; b's change was lost without a word
        var error = await WaitForLogAsync("Error", "public.b", "no error named the table that left the publication");
        Assert.Contains(Db.Publication, error, StringComparison.Ordinal);
        Assert.Matches(@"[0-9A-F]+/[0-9A-F]+", error); // the LSN from which its changes are missing
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"b\";", error, StringComparison.Ordinal);
        Assert.Contains("""INSERT INTO "public"."cdc_signal" (id, type, data) VALUES ('resnapshot-public.b-""", error, StringComparison.Ordinal);
        Assert.Contains("""'execute-snapshot', '{"data-collections":["public.b"]}');""", error, StringComparison.Ordinal);
        Assert.Equal(["public.b"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
        Assert.Contains("public.b (not in the publication)", source.Degraded, StringComparison.Ordinal); // what the probes say

        // the other tables keep streaming
        var a = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change && e.Source.Table == "a", TimeSpan.FromSeconds(20));
        Assert.Equal(ChangeOperation.Create, a.Single(e => e.Kind == ChangeKind.Change).Operation); // b's row 1 did not come before it
        Assert.Single(LogLines("Error", "public.b")); // said once, not at every check

        // added again: said so, no longer counted; its later changes stream, the gap is for the incremental snapshot
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE b");
        var back = await WaitForLogAsync("Information", "public.b", "the table's return to the publication was not reported");
        Assert.Contains("execute-snapshot", back, StringComparison.Ordinal);
        Assert.Empty(source.UnpublishedTables);
        Assert.Equal(0L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
        await Db.ExecuteAsync("INSERT INTO b VALUES (2)");
        var b = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change && e.Source.Table == "b", TimeSpan.FromSeconds(20));
        Assert.Equal(2, Convert.ToInt32(b.Single(e => e.Kind == ChangeKind.Change).After!["id"], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_captured_table_renamed_away_in_a_rename_swap_while_streaming_is_reported_as_an_error()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); " +
                              "CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        // heartbeat off: the Relation message alone has to say it (the publication check runs only with heartbeats)
        var options = Options(["public.orders", "public.other"]) with { SignalTable = "public.cdc_signal" };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");
        await Db.ExecuteAsync("INSERT INTO orders VALUES (1)");
        var first = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal("orders", first.Single(e => e.Kind == ChangeKind.Change).Source.Table);

        // the legacy migration: the publication keeps the old table (by oid) under its new name, the new orders is not in it
        await Db.ExecuteAsync("CREATE TABLE orders_new (id int PRIMARY KEY); ALTER TABLE orders RENAME TO orders_old; ALTER TABLE orders_new RENAME TO orders");
        await Db.ExecuteAsync("INSERT INTO orders_old VALUES (2)"); // sent as public.orders_old, not in source.postgres.tables: left out
        await Db.ExecuteAsync("INSERT INTO orders VALUES (3)"); // never sent: the new table is not in the publication
        await Db.ExecuteAsync("INSERT INTO other VALUES (1)");
        var changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["other"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));

        // before the fix: nothing said (the start-up warning only at the next start); public.orders just went quiet
        var error = await WaitForLogAsync("Error", "public.orders_old", "no error named the captured table arriving under another name");
        Assert.Contains("public.orders ", error, StringComparison.Ordinal);
        Assert.Contains(Db.Slot, error, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"orders\";", error, StringComparison.Ordinal);
        Assert.Contains("source.postgres.tables", error, StringComparison.Ordinal);
        Assert.Contains("""'execute-snapshot', '{"data-collections":["public.orders"]}');""", error, StringComparison.Ordinal);
        Assert.Equal(["public.orders"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // said once, not at every Relation message of the renamed table
        await Db.ExecuteAsync("ALTER TABLE orders_old ADD COLUMN note text; INSERT INTO orders_old VALUES (4, 'x'); INSERT INTO other VALUES (2)");
        var later = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["other"], later.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        Assert.Single(LogLines("Error", "public.orders_old"));
    }

    [Fact]
    public async Task A_captured_table_dropped_while_streaming_is_reported_as_an_error_and_the_other_tables_go_on()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); " +
                              "CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var options = Options(["public.a", "public.b"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200), SignalTable = "public.cdc_signal" };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");

        // DROP TABLE takes the table out of pg_publication_tables too: its changes just stop
        await Db.ExecuteAsync("DROP TABLE b");
        await Db.ExecuteAsync("INSERT INTO a VALUES (1)");

        // before the fix the heartbeat check left out tables that no longer resolve: nothing was said
        var error = await WaitForLogAsync("Error", "public.b", "no error named the captured table that was dropped");
        Assert.Contains("no longer exists", error, StringComparison.Ordinal);
        Assert.Contains(Db.Slot, error, StringComparison.Ordinal);
        Assert.Matches(@"[0-9A-F]+/[0-9A-F]+", error); // the LSN range since the last check that saw it
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"b\";", error, StringComparison.Ordinal);
        Assert.Contains("""'execute-snapshot', '{"data-collections":["public.b"]}');""", error, StringComparison.Ordinal);
        Assert.Contains("remove it from source.postgres.tables", error, StringComparison.Ordinal);
        Assert.Equal(["public.b"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
        // what the probes say after "degraded: " (before the fix: "public.b (not in the publication)", as if it were still there)
        Assert.Equal(
            $"1 captured table not published under its configured name: public.b (dropped); their changes are not captured as configured (slot {Db.Slot}; " +
            "the log's events 1031, 1033 and 1035 say what to do)",
            source.Degraded);

        // the other tables keep streaming; said once, not at every check
        var a = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change && e.Source.Table == "a", TimeSpan.FromSeconds(20));
        Assert.Equal(ChangeOperation.Create, a.Single(e => e.Kind == ChangeKind.Change).Operation);
        await Db.ExecuteAsync("INSERT INTO a VALUES (2)");
        await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change && e.Source.Table == "a", TimeSpan.FromSeconds(20));
        Assert.Single(LogLines("Error", "public.b"));
    }

    [Fact]
    public async Task A_rename_swap_seen_first_by_the_heartbeat_check_is_reported_once_as_the_rename_not_as_taken_out()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); " +
                              "CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var options = Options(["public.orders", "public.other"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200), SignalTable = "public.cdc_signal" };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");

        // nothing is written to the renamed table yet, so no Relation message: the heartbeat check sees the swap first
        await Db.ExecuteAsync("CREATE TABLE orders_new (id int PRIMARY KEY); ALTER TABLE orders RENAME TO orders_old; ALTER TABLE orders_new RENAME TO orders");

        // before the fix: 1031 "taken out of publication" for public.orders (the new table, never in it), 1033 only later
        var error = await WaitForLogAsync("Error", "public.orders_old", "the heartbeat check did not report the rename");
        Assert.Contains("arrives as public.orders_old", error, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"orders\";", error, StringComparison.Ordinal);
        Assert.Empty(LogLines("Error", "taken out of publication"));
        Assert.Equal(["public.orders"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // the Relation message of the renamed table comes later: the rename was said already
        await Db.ExecuteAsync("INSERT INTO orders_old VALUES (1); INSERT INTO other VALUES (1)");
        var changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["other"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        await Db.ExecuteAsync("INSERT INTO other VALUES (2)");
        await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Single(LogLines("Error", "public.orders"));
    }

    [Fact]
    public async Task A_captured_table_renamed_back_to_its_configured_name_is_logged_and_no_longer_counted()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options(["public.orders", "public.other"]));
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync("ALTER TABLE orders RENAME TO orders_x; INSERT INTO orders_x VALUES (1); INSERT INTO other VALUES (1)");
        await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        await WaitForLogAsync("Error", "public.orders_x", "the rename was not reported");
        Assert.Equal(["public.orders"], source.UnpublishedTables);

        await Db.ExecuteAsync("ALTER TABLE orders_x RENAME TO orders; INSERT INTO orders VALUES (2)");
        var back = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["orders"], back.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));

        // before the fix the gauge went back to 0 without a word
        var info = await WaitForLogAsync("Information", "renamed back", "the rename back was not logged");
        Assert.Contains("public.orders ", info, StringComparison.Ordinal);
        Assert.Contains("execute-snapshot", info, StringComparison.Ordinal); // the changes in between did not arrive: how to read them
        Assert.Empty(source.UnpublishedTables);
        Assert.Equal(0L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
    }

    [Fact]
    public async Task A_table_renamed_back_without_writes_is_noticed_by_the_heartbeat_check_once()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options(["public.orders", "public.other"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) });
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync("ALTER TABLE orders RENAME TO orders_x");
        await WaitForLogAsync("Error", "public.orders_x", "the heartbeat check did not report the rename");
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // no write, so no Relation message: before the fix the gauge stayed at 1 and nothing was logged until the next change
        await Db.ExecuteAsync("ALTER TABLE orders_x RENAME TO orders");
        var info = await WaitForLogAsync("Information", "renamed back", "the heartbeat check did not notice the rename back");
        Assert.Contains("Captured table public.orders was renamed back from public.orders_x", info, StringComparison.Ordinal);
        Assert.Empty(source.UnpublishedTables);
        Assert.Equal(0L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // its next change (and Relation message) under the configured name is no news
        await Db.ExecuteAsync("INSERT INTO orders VALUES (1)");
        var changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["orders"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        Assert.Single(LogLines("Information", "renamed back"));
        Assert.Single(LogLines("Error", "public.orders_x"));
    }

    [Fact]
    public async Task A_rename_swap_fixed_by_adding_the_new_table_to_the_publication_is_no_longer_counted()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options(["public.orders", "public.other"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) });
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync("CREATE TABLE orders_new (id int PRIMARY KEY); ALTER TABLE orders RENAME TO orders_old; ALTER TABLE orders_new RENAME TO orders");
        await WaitForLogAsync("Error", "public.orders_old", "the rename-swap was not reported");
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // the fix the 1033 line gives; before this fix the old table's rename entry kept counting public.orders until the next start
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE orders");
        var info = await WaitForLogAsync("Information", "is published as another table", "the heartbeat check did not notice the new table published");
        Assert.Contains("public.orders_old", info, StringComparison.Ordinal);
        Assert.Empty(source.UnpublishedTables);
        Assert.Equal(0L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // the new table streams under the configured name; the retired one is not followed as public.orders any more
        await Db.ExecuteAsync("INSERT INTO orders_old VALUES (1); INSERT INTO orders VALUES (2)");
        var changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["orders"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        Assert.Single(LogLines("Error", "public.orders_old"));
        Assert.Single(LogLines("Information", "is published as another table"));
        Assert.Empty(source.UnpublishedTables);
    }

    [Fact]
    public async Task A_table_dropped_created_and_published_again_while_streaming_is_followed_by_its_new_oid()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)");
        var options = Options(["public.a", "public.b"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;
        await Db.ExecuteAsync("DROP TABLE b; CREATE TABLE b (id int PRIMARY KEY)");
        await WaitForLogAsync("Error", "no longer exists", "the drop was not reported");
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE b");
        await WaitForLogAsync("Information", "is in publication", "the table's return was not logged");

        // before the fix the start's oid stayed mapped: this rename was taken for the drop again, not reported as a rename
        await Db.ExecuteAsync("ALTER TABLE b RENAME TO b_x");
        var error = await WaitForLogAsync("Error", "public.b_x", "the rename of the re-created table was not reported");
        Assert.Contains("Captured table public.b arrives as public.b_x", error, StringComparison.Ordinal);
        Assert.Single(LogLines("Error", "no longer exists"));
        Assert.Equal(["public.b"], source.UnpublishedTables);

        // the state file keeps the new oid: the next start finds nothing renamed or dropped while stopped
        await Db.ExecuteAsync("ALTER TABLE b_x RENAME TO b");
        await WaitForLogAsync("Information", "renamed back", "the rename back was not noticed");
        await reader.DisposeAsync();
        var second = await OpenStreamingAsync(options);
        await Db.ExecuteAsync("INSERT INTO b VALUES (1)");
        var changes = await second.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["b"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        Assert.Single(LogLines("Error", "no longer exists"));
        Assert.Empty(((PgOutputChangeSource)second.Source).UnpublishedTables);
    }

    [Fact]
    public async Task A_captured_table_moved_to_another_schema_while_streaming_is_reported_as_renamed_to_its_new_qualified_name()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); CREATE SCHEMA archive");
        var options = Options(["public.a", "public.b"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;

        await Db.ExecuteAsync("ALTER TABLE a SET SCHEMA archive");
        await Db.ExecuteAsync("INSERT INTO archive.a VALUES (1); INSERT INTO b VALUES (1)");

        var changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change && e.Source.Table == "b", TimeSpan.FromSeconds(20));
        Assert.DoesNotContain(changes, e => e.Kind == ChangeKind.Change && e.Source.Table == "a"); // archive.a is not in source.postgres.tables
        var error = await WaitForLogAsync("Error", "archive.a", "the move to another schema was not reported");
        Assert.Contains("Captured table public.a arrives as archive.a", error, StringComparison.Ordinal);
        await Task.Delay(600, Ct); // a few heartbeat checks: they agree, nothing more is said
        Assert.Equal(["public.a"], source.UnpublishedTables);
        Assert.Contains("public.a (renamed to archive.a)", source.Degraded, StringComparison.Ordinal);
        Assert.Single(LogLines("Error", "public.a"));
    }

    [Fact]
    public async Task A_captured_table_renamed_onto_another_captured_name_while_streaming_is_the_first_renamed_and_the_second_followed()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)");
        var options = Options(["public.a", "public.b"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;

        // b's table goes, a's table takes its name: pgoutput sends a's table (still in the publication) under public.b
        await Db.ExecuteAsync("DROP TABLE b; ALTER TABLE a RENAME TO b");
        await Db.ExecuteAsync("INSERT INTO b VALUES (1)");
        var changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["b"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        var error = await WaitForLogAsync("Error", "Captured table public.a arrives as public.b", "the rename of a onto b was not reported");
        await Task.Delay(1000, Ct); // several heartbeat checks
        await Db.ExecuteAsync("INSERT INTO b VALUES (2)");
        changes = await reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["b"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));

        // before the fix: 1033 said public.b's changes were left out (not in source.postgres.tables), the next check reported
        // public.a dropped (1035) and public.b "renamed back from public.b" (1036), and the probes named public.a dropped
        Assert.Contains("public.b is a captured name too", error, StringComparison.Ordinal);
        Assert.Single(LogLines("Error", "arrives as"));
        Assert.Empty(LogLines("Error", "no longer exists"));
        Assert.Empty(LogLines("Information", "renamed back"));
        // public.a is the one not captured as configured; public.b is published (as a's table)
        Assert.Equal(["public.a"], source.UnpublishedTables);
        Assert.Contains("public.a (renamed to public.b)", source.Degraded, StringComparison.Ordinal);
        Assert.DoesNotContain("public.b (", source.Degraded, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plain_rename_while_the_pipeline_was_stopped_stops_the_start_saying_it_was_renamed()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var options = Options(["public.orders", "public.other"]);
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();
        var oid = await Db.ScalarAsync<uint>("SELECT 'public.orders'::regclass::oid");
        await Db.ExecuteAsync("ALTER TABLE orders RENAME TO orders_old");

        var second = Open(options);

        // before the fix: "source.postgres.tables lists public.orders, which does not exist" and nothing about the rename
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));
        Assert.Contains($"public.orders was renamed to public.orders_old while the pipeline was stopped (oid {oid})", e.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"orders_old\" RENAME TO \"orders\"", e.Message, StringComparison.Ordinal);
        Assert.Contains("execute-snapshot", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_table_moved_to_another_schema_and_renamed_while_stopped_stops_the_start_with_the_statements_that_move_it_back()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var options = Options(["public.orders", "public.other"]);
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();
        var oid = await Db.ScalarAsync<uint>("SELECT 'public.orders'::regclass::oid");
        await Db.ExecuteAsync("CREATE SCHEMA \"Archive\"; ALTER TABLE orders SET SCHEMA \"Archive\"; ALTER TABLE \"Archive\".orders RENAME TO orders_old");

        var second = Open(options);

        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));
        Assert.Contains($"public.orders was renamed to Archive.orders_old while the pipeline was stopped (oid {oid})", e.Message, StringComparison.Ordinal);
        // before the fix: "move it back to schema "public" and name "orders"", no statement to run
        const string back = "ALTER TABLE \"Archive\".\"orders_old\" SET SCHEMA \"public\"; ALTER TABLE \"public\".\"orders_old\" RENAME TO \"orders\";";
        Assert.Contains($"rename it back ({back})", e.Message, StringComparison.Ordinal);

        // run as given, they put the table back where the configuration names it
        await Db.ExecuteAsync(back);
        Assert.Equal(oid, await Db.ScalarAsync<uint>("SELECT 'public.orders'::regclass::oid"));
    }

    [Fact]
    public async Task A_table_moved_to_another_schema_under_its_name_while_stopped_is_moved_back_by_one_statement()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var options = Options(["public.orders", "public.other"]);
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();
        await Db.ExecuteAsync("CREATE SCHEMA archive; ALTER TABLE orders SET SCHEMA archive");

        var second = Open(options);

        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));
        Assert.Contains("rename it back (ALTER TABLE \"archive\".\"orders\" SET SCHEMA \"public\";)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rename_swap_while_the_pipeline_was_stopped_is_reported_at_the_next_start_naming_old_and_new_name()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
        var options = Options(["public.orders", "public.other"]);
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();

        // while stopped: the migration, and a change of the old table that is still in the slot (sent as public.orders_old)
        await Db.ExecuteAsync("CREATE TABLE orders_new (id int PRIMARY KEY); ALTER TABLE orders RENAME TO orders_old; ALTER TABLE orders_new RENAME TO orders");
        await Db.ExecuteAsync("INSERT INTO orders_old VALUES (1)");
        await Db.ExecuteAsync("INSERT INTO other VALUES (1)");

        var second = Open(options);
        var source = (PgOutputChangeSource)second.Source;
        var changes = await second.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["other"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));

        // before the fix: the start mapped public.orders to the new table; orders_old's change was left out without a word
        var error = await WaitForLogAsync("Error", "public.orders_old", "the start did not report the rename-swap made while stopped");
        Assert.Contains("Captured table public.orders arrives as public.orders_old", error, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"orders\";", error, StringComparison.Ordinal);
        Assert.Equal(["public.orders"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
        Assert.Single(LogLines("Error", "public.orders_old")); // the Relation message of orders_old does not say it again
    }

    [Fact]
    public async Task A_captured_table_dropped_and_created_again_while_the_pipeline_was_stopped_is_reported_at_the_next_start()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)");
        var options = Options(["public.a", "public.b"]);
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();

        await Db.ExecuteAsync("DROP TABLE b; CREATE TABLE b (id int PRIMARY KEY)");
        await Db.ExecuteAsync("INSERT INTO b VALUES (1)"); // the new b is not in the publication: never sent
        await Db.ExecuteAsync("INSERT INTO a VALUES (1)");

        var second = Open(options);
        var source = (PgOutputChangeSource)second.Source;
        var changes = await second.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["a"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));

        // before the fix: only warning 1007 (not in the publication), nothing about the table having been dropped
        var error = await WaitForLogAsync("Error", "public.b", "the start did not report the table dropped while stopped");
        Assert.Contains("no longer exists", error, StringComparison.Ordinal);
        Assert.Contains("exists again (re-created)", error, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" ADD TABLE \"public\".\"b\";", error, StringComparison.Ordinal);
        Assert.Equal(["public.b"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
        Assert.Contains("public.b (dropped)", source.Degraded, StringComparison.Ordinal); // the table under that name now is another one
    }

    [Fact]
    public async Task A_state_file_without_table_oids_loads_and_gets_them_at_the_next_start()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY)");
        var options = Options(["public.a"]);
        var first = await OpenStreamingAsync(options);
        var path = ((PgOutputChangeSource)first.Source).SnapshotStatePath;
        await first.DisposeAsync();

        // a file as written before the oids were kept
        var json = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(path, Ct))!.AsObject();
        json.Remove("TableOids");
        await File.WriteAllTextAsync(path, json.ToJsonString(), Ct);

        var second = await OpenStreamingAsync(options);
        await Db.ExecuteAsync("INSERT INTO a VALUES (1)");
        await second.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));

        // before the fix the file kept names only
        using var saved = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(path, Ct));
        var oid = await Db.ScalarAsync<uint>("SELECT 'public.a'::regclass::oid");
        Assert.Equal(oid, saved.RootElement.GetProperty("TableOids").GetProperty("public.a").GetUInt32());
        Assert.Empty(LogLines("Error", "public.a"));
    }

    [Fact]
    public async Task A_partitioned_table_in_a_publication_the_pipeline_creates_streams_under_its_own_name()
    {
        // PostgreSQL 15 lists a partitioned table's leaf partitions in pg_publication_tables and sends their changes under the
        // partitions' names unless the publication has publish_via_partition_root = true
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); " +
                              "CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100); CREATE TABLE m_high PARTITION OF m FOR VALUES FROM (100) TO (200)");
        var options = Options(["public.m"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;

        await Db.ExecuteAsync("INSERT INTO m VALUES (1); INSERT INTO m VALUES (150)");

        // before the fix: both arrived as public.m_low / public.m_high, not in source.postgres.tables, left out without a word
        var changes = await reader.TakeAsync(2, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["m", "m"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        Assert.Empty(LogLines("Warning", "public"));   // before the fix: 1007, ADD TABLE for a table that is in the publication
        Assert.Empty(LogLines("Error", "public"));
        Assert.Empty(source.UnpublishedTables);
        Assert.Equal(0L, PostgresMetrics.LastUnpublishedTables(Db.Slot));
    }

    [Fact]
    public async Task A_captured_partitioned_table_published_without_publish_via_partition_root_is_reported_at_start_with_the_fix()
    {
        await Db.ExecuteAsync("CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id); " +
                              "CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100); " +
                              $"CREATE TABLE other (id int PRIMARY KEY); CREATE PUBLICATION {Db.Publication} FOR TABLE m, other");
        var options = Options(["public.m", "public.other"]) with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        var reader = await OpenStreamingAsync(options);
        var source = (PgOutputChangeSource)reader.Source;

        // before the fix: 1007 told to ADD TABLE a table that is in the publication already (PostgreSQL refuses that)
        var warning = await WaitForLogAsync("Warning", "\"public\".\"m\"", "no warning named the partitioned table");
        Assert.Contains($"ALTER PUBLICATION \"{Db.Publication}\" SET (publish_via_partition_root = true);", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("ADD TABLE", warning, StringComparison.Ordinal);
        Assert.Equal(["public.m"], source.UnpublishedTables);
        Assert.Equal(1L, PostgresMetrics.LastUnpublishedTables(Db.Slot));

        // the fix applied while streaming: said by the heartbeat, and the changes come under the parent's name from there on
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} SET (publish_via_partition_root = true)");
        await WaitForLogAsync("Information", "public.m is in publication", "the partitioned table's publication via its root was not reported");
        Assert.Empty(source.UnpublishedTables);
        await Db.ExecuteAsync("INSERT INTO m VALUES (1); INSERT INTO other VALUES (1)");
        var changes = await reader.TakeAsync(2, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(20));
        Assert.Equal(["m", "other"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.Source.Table));
        Assert.Empty(LogLines("Error", "public.m")); // the heartbeat never called it taken out of the publication
    }

    [Fact]
    public async Task A_table_dropped_between_the_start_check_and_the_initial_snapshot_stops_naming_it_and_the_config_key()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1); CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (1)");
        var dropped = false;
        var reader = Open(new PgOutputChangeSource(Options(["public.a", "public.b"], SnapshotMode.Initial), Logs)
        {
            // every start-up check passed and the slot exists; the table goes before the snapshot reads it
            BeforeInitialSnapshot = async _ =>
            {
                await Db.ExecuteAsync("DROP TABLE b");
                dropped = true;
            },
        });

        // before the fix: PostgreSQL's bare 42P01 'relation "public.b" does not exist', which run shows as a bug with its trace
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(3, timeout: TimeSpan.FromSeconds(20)));

        Assert.True(dropped, $"the source failed before the initial snapshot: {e}");
        Assert.Contains("source.postgres.tables lists public.b, which does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("initial snapshot", e.Message, StringComparison.Ordinal);
        Assert.Equal(Npgsql.PostgresErrorCodes.UndefinedTable, Assert.IsType<Npgsql.PostgresException>(e.InnerException).SqlState);
    }
}
