using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres.Setup;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>Inserts, updates, deletes, truncates, TOAST and messages: what each op carries in key, before and after.</summary>
public sealed class PgOutputOperationsTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task Default_identity_update_has_no_before_and_delete_carries_the_key()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, name text, qty numeric(8,3))");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO t VALUES (1, 'a', 1.5)");
        await Db.ExecuteAsync("UPDATE t SET name = 'b' WHERE id = 1");
        await Db.ExecuteAsync("DELETE FROM t WHERE id = 1");
        var events = await reader.TakeAsync(3);

        Assert.Equal([ChangeOperation.Create, ChangeOperation.Update, ChangeOperation.Delete], events.Select(e => e.Operation!.Value));
        Assert.Equal("""{"id":1,"name":"b","qty":"1.500"}""", CanonicalJson.Serialize(events[1].After!));
        Assert.Null(events[1].Before);
        Assert.Equal("""{"id":1}""", CanonicalJson.Serialize(events[2].Key!));
        Assert.Equal("""{"id":1,"name":null,"qty":null}""", CanonicalJson.Serialize(events[2].Before!));
        Assert.Null(events[2].After);
        Assert.True(events[0].Position < events[1].Position && events[1].Position < events[2].Position);
    }

    [Fact]
    public async Task Replica_identity_full_gives_complete_before_images()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, name text, n int); ALTER TABLE t REPLICA IDENTITY FULL");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO t VALUES (1, 'a', 10)");
        await Db.ExecuteAsync("UPDATE t SET n = 11 WHERE id = 1");
        await Db.ExecuteAsync("DELETE FROM t WHERE id = 1");
        var events = await reader.TakeAsync(3);

        Assert.Equal("""{"id":1,"name":"a","n":10}""", CanonicalJson.Serialize(events[1].Before!));
        Assert.Equal("""{"id":1,"name":"a","n":11}""", CanonicalJson.Serialize(events[1].After!));
        // the key stays the primary key even though pgoutput flags every column of a FULL identity as "key"
        Assert.Equal("""{"id":1}""", CanonicalJson.Serialize(events[1].Key!));
        Assert.Equal("""{"id":1,"name":"a","n":11}""", CanonicalJson.Serialize(events[2].Before!));
    }

    [Fact]
    public async Task Primary_key_change_becomes_delete_of_old_key_and_create_of_new_one()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, name text)");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO t VALUES (1, 'a')");
        await Db.ExecuteAsync("UPDATE t SET id = 2 WHERE id = 1");
        var events = await reader.TakeAsync(3);

        Assert.Equal(ChangeOperation.Delete, events[1].Operation);
        Assert.Equal("""{"id":1}""", CanonicalJson.Serialize(events[1].Key!));
        Assert.Equal("""{"id":2}""", CanonicalJson.Serialize(events[1].NewKey!));
        Assert.Equal(ChangeOperation.Create, events[2].Operation);
        Assert.Equal("""{"id":2,"name":"a"}""", CanonicalJson.Serialize(events[2].After!));
        Assert.Equal("""{"id":1}""", CanonicalJson.Serialize(events[2].OldKey!));
        Assert.Equal((events[1].Position.Major, 0L, 1L), (events[2].Position.Major, events[1].Position.Minor, events[2].Position.Minor));
    }

    [Fact]
    public async Task Truncate_gives_one_t_event_per_table()
    {
        await Db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)");
        await Db.ExecuteAsync("TRUNCATE a, b");
        var events = await reader.TakeAsync(4);

        var truncates = events.Where(e => e.Operation == ChangeOperation.Truncate).ToList();
        Assert.Equal(["a", "b"], truncates.Select(e => e.Source.Table!).Order());
        Assert.All(truncates, e => Assert.True(e.Key is null && e.Before is null && e.After is null));
        Assert.Equal(truncates[0].Position.Major, truncates[1].Position.Major);
    }

    [Fact]
    public async Task Unchanged_toasted_value_is_the_unavailable_marker_unless_reselected()
    {
        await Db.ExecuteAsync("CREATE TABLE doc (id int PRIMARY KEY, body text, n int); CREATE TABLE doc2 (id int PRIMARY KEY, body text, n int)");
        var reader = await OpenStreamingAsync(Options() with { ReselectToastTables = ["public.doc2"] });
        // random text does not compress below the TOAST threshold, so it is stored out of line
        const string big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400))";

        await Db.ExecuteAsync($"INSERT INTO doc VALUES (1, {big}, 1); INSERT INTO doc2 VALUES (1, {big}, 1)");
        await Db.ExecuteAsync("UPDATE doc SET n = 2 WHERE id = 1; UPDATE doc2 SET n = 2 WHERE id = 1");
        var events = await reader.TakeAsync(4);
        var body2 = await Db.ScalarAsync<string>("SELECT body FROM doc2 WHERE id = 1");

        var docUpdate = events.Single(e => e.Operation == ChangeOperation.Update && e.Source.Table == "doc");
        Assert.Same(Unavailable.Value, docUpdate.After!["body"]);
        Assert.Equal("""{"id":1,"body":{"$unavailable":true},"n":2}""", CanonicalJson.Serialize(docUpdate.After));
        var doc2Update = events.Single(e => e.Operation == ChangeOperation.Update && e.Source.Table == "doc2");
        Assert.Equal(body2, doc2Update.After!["body"]);
        Assert.Equal(12800, ((string)events.Single(e => e.Operation == ChangeOperation.Create && e.Source.Table == "doc").After!["body"]!).Length);
    }

    [Fact]
    public async Task With_replica_identity_full_an_unchanged_toasted_value_is_taken_from_the_before_image()
    {
        // pgoutput marks the value unchanged in the NEW tuple even under FULL; the old tuple carries it, and
        // Debezium (DBZ-3835) copies it into after — a value the update left alone is the old one
        await Db.ExecuteAsync("CREATE TABLE doc (id int PRIMARY KEY, body text, n int); ALTER TABLE doc REPLICA IDENTITY FULL");
        var reader = await OpenStreamingAsync(Options());
        const string big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400))";

        await Db.ExecuteAsync($"INSERT INTO doc VALUES (1, {big}, 1)");
        await Db.ExecuteAsync("UPDATE doc SET n = 2 WHERE id = 1");
        var events = await reader.TakeAsync(2);
        var body = await Db.ScalarAsync<string>("SELECT body FROM doc WHERE id = 1");

        var update = events.Single(e => e.Operation == ChangeOperation.Update);
        Assert.True(body == update.Before!["body"] as string, "the before image lacks the body");
        Assert.True(body == update.After!["body"] as string, $"after.body is {(update.After["body"] is Unavailable ? "the unavailable marker" : "another value")}, not the unchanged body");
        Assert.Equal(2L, update.After["n"]);
    }

    [Fact]
    public async Task A_source_whose_slot_was_dropped_under_it_fails_and_still_disposes()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        // slow reconnects, so that the drop below wins the slot back from the source
        var reader = await OpenStreamingAsync(Options() with { ReconnectMinDelay = TimeSpan.FromSeconds(3), ReconnectMaxDelay = TimeSpan.FromSeconds(3) });
        await Db.ExecuteAsync("INSERT INTO t VALUES (1)");
        Assert.Single(await reader.TakeAsync(1));

        await using (var dataSource = NpgsqlDataSource.Create(Db.ConnectionString))
        {
            await ReplicationSetup.DropSlotAsync(dataSource, Db.Slot, force: true, Ct);
        }

        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));

        // not created again (a new slot would start at "now", past the changes in between): a clear error instead
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"replication slot '{Db.Slot}' does not exist any more", e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);

        // The pipeline disposes a source whose read failed; that must return, or the process never exits to be restarted.
        var disposing = reader.DisposeAsync().AsTask();
        Assert.Same(disposing, await Task.WhenAny(disposing, Task.Delay(TimeSpan.FromSeconds(20), Ct)));
    }

    [Fact]
    public async Task Changes_of_one_transaction_share_the_commit_lsn_and_count_up()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); INSERT INTO t VALUES (3); COMMIT; INSERT INTO t VALUES (4)");
        var events = await reader.TakeAsync(4);

        Assert.Equal([0L, 1L, 2L, 0L], events.Select(e => e.Position.Minor));
        Assert.Single(events.Take(3).Select(e => e.Position.Major).Distinct());
        Assert.Single(events.Take(3).Select(e => e.Source.TxId).Distinct());
        Assert.True(events[3].Position.Major > events[0].Position.Major);
        // source.lsn is each change's own record, below the commit LSN
        Assert.All(events.Take(3), e => Assert.True(e.Source.Lsn < e.Position.Major));
        Assert.Equal(3, events.Take(3).Select(e => e.Source.Lsn).Distinct().Count());
    }

    [Fact]
    public async Task Logical_messages_become_message_events()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("BEGIN; INSERT INTO t VALUES (1); SELECT pg_logical_emit_message(true, 'audit', 'in-tx'); COMMIT");
        await Db.ExecuteAsync("SELECT pg_logical_emit_message(false, 'audit', 'outside')");
        var events = await reader.TakeAsync(2, e => e.Kind == ChangeKind.Message);

        var messages = events.Where(e => e.Kind == ChangeKind.Message).ToList();
        Assert.Equal(["in-tx", "outside"], messages.Select(m => Encoding.UTF8.GetString(m.Message!.Content)));
        Assert.Equal([true, false], messages.Select(m => m.Message!.Transactional));
        Assert.All(messages, m => Assert.Equal(ChangeOperation.Message, m.Operation));
    }

    [Fact]
    public async Task Table_without_key_or_full_identity_gets_a_warning_that_says_what_to_run()
    {
        // the DBA's publication: run refuses to create one over a keyless table itself (PgOutputKeylessPublicationTests)
        await Db.ExecuteAsync($"CREATE TABLE nokey (a int, b text); CREATE PUBLICATION {Db.Publication} FOR TABLE nokey WITH (publish = 'insert')");
        var reader = await OpenStreamingAsync(Options());

        await Db.ExecuteAsync("INSERT INTO nokey VALUES (1, 'x')");
        var insert = (await reader.TakeAsync(1)).Single();

        Assert.Null(insert.Key);
        Assert.Contains(Logs.Lines, l => l.Contains("ALTER TABLE \"public\".\"nokey\" REPLICA IDENTITY FULL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_commit_right_after_a_non_transactional_message_is_not_mistaken_for_it()
    {
        // pgoutput reports a non-transactional message at the end of its WAL record; a COMMIT written right
        // after it starts exactly there for one of the eight message lengths below (records are 8-byte aligned).
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var reader = await OpenStreamingAsync(Options());
        for (var k = 0; k < 8; k++)
        {
            await Db.ExecuteAsync($"BEGIN; INSERT INTO t VALUES ({k}); SELECT pg_logical_emit_message(false, 'adjacent', repeat('x', {k})); COMMIT;");
        }

        var events = await reader.TakeAsync(8, timeout: TimeSpan.FromSeconds(30));
        var rows = events.Where(e => e.Kind == ChangeKind.Change).ToList();
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (long)i), rows.Select(e => Convert.ToInt64(e.After!["id"])));
        Assert.Equal(8, events.Count(e => e.Kind == ChangeKind.Message));
        var positions = events.Select(e => e.Position).ToList();
        Assert.Equal(positions.Order(), positions);
        Assert.Equal(positions.Count, positions.Distinct().Count());
    }
}
