using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks.Postgres;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>The PostgreSQL sink against a real server, read back with SELECT.</summary>
public sealed class PostgresSinkTests(PostgresFixture fixture) : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("sink");

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    private PostgresSink Sink(PostgresSinkMode mode, string table = "domain_events", PostgresProjectionOptions? projection = null) =>
        new("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = table, Mode = mode, Projection = projection ?? new() });

    [Fact]
    public async Task Append_creates_the_table_stores_each_event_once_and_ignores_a_replay()
    {
        var source = SinkHarness.Source(25, 5);
        var dlq = new RecordingDeadLetterQueue();
        await using (var sink = Sink(PostgresSinkMode.Append))
        {
            await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 10, sinks: new SinkBinding(sink, SinkHarness.FastRetry)));

            // a replay of the same changes yields the same ids: nothing new is stored
            var replay = SinkHarness.Source(25, 5);
            await SinkHarness.RunToEndAsync(SinkHarness.Runner(replay, dlq, batch: 7, sinks: new SinkBinding(sink, SinkHarness.FastRetry)));
        }

        Assert.Empty(dlq.Letters);
        var rows = await _db.QueryAsync("SELECT id, type, source, subject, data::text, position, delivered_at FROM domain_events ORDER BY position_order(position)".Replace("position_order(position)", "split_part(split_part(position, '@', 2), ':', 1)::bigint", StringComparison.Ordinal));
        Assert.Equal(25, rows.Count);
        var first = SinkHarness.Event(1, "K1");
        Assert.Equal(first.Id, rows[0][0]);
        Assert.Equal("StatusS", rows[0][1]);
        Assert.Equal("/test", rows[0][2]);
        Assert.Equal("K1", rows[0][3]);
        Assert.Equal("""{"ord_no": "K1", "ord_sts_cd": "S"}""", rows[0][4]);
        Assert.Equal("slot@1:0", rows[0][5]);
        Assert.NotNull(rows[0][6]);
    }

    [Fact]
    public async Task Upsert_keeps_the_latest_state_per_subject_and_a_replayed_older_event_never_overwrites_it()
    {
        var projection = new PostgresProjectionOptions { KeyColumn = "order_no", DataColumn = "state", DeleteTypes = ["StatusDEL"] };
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders", projection);
        var ct = TestContext.Current.CancellationToken;

        // K1 goes through three states in one batch (only the last may win), K2 through one
        await sink.DeliverAsync([SinkHarness.Event(1, "K1", "P"), SinkHarness.Event(2, "K2", "P"), SinkHarness.Event(3, "K1", "S"), SinkHarness.Event(4, "K1", "D")], ct);
        // a replay of older events (positions 1 and 3) arrives later
        await sink.DeliverAsync([SinkHarness.Event(1, "K1", "P"), SinkHarness.Event(3, "K1", "S")], ct);
        // K2 moves on; then K2 is deleted (a tombstone row), and an older event cannot resurrect it
        await sink.DeliverAsync([SinkHarness.Event(5, "K2", "S")], ct);
        await sink.DeliverAsync([SinkHarness.Event(6, "K2", "DEL")], ct);
        await sink.DeliverAsync([SinkHarness.Event(5, "K2", "S")], ct);

        var rows = await _db.QueryAsync("SELECT order_no, type, state->>'ord_sts_cd', event_id, position_major, deleted FROM orders ORDER BY order_no");
        Assert.Equal(2, rows.Count);
        Assert.Equal(["K1", "StatusD", "D", SinkHarness.Event(4, "K1", "D").Id, 4L, false], rows[0]);
        Assert.Equal(["K2", "StatusDEL", null, SinkHarness.Event(6, "K2", "DEL").Id, 6L, true], rows[1]);
    }

    /// <summary>Event <paramref name="major"/> of <paramref name="stream"/> (a Kafka topic-partition) for order <paramref name="key"/>.</summary>
    private static DomainEvent On(string stream, long major, string key, string status)
    {
        var output = new List<DomainEvent>(1);
        new StatusTranslator().Translate(InMemoryChangeSource.Change(major, key, status, stream: stream), output);
        return output[0];
    }

    [Fact]
    public async Task Upsert_fed_by_two_streams_never_goes_back_when_one_stream_is_replayed()
    {
        // One order's events come from two topics (master and detail, both keyed by the order). The row was last written from
        // the detail stream; an operator then replays the master topic from an old offset: its old events must not roll it back.
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        var ct = TestContext.Current.CancellationToken;
        await sink.DeliverAsync([On("tb_ord_mst/0", 10, "K1", "P")], ct);
        await sink.DeliverAsync([On("tb_ord_mst/0", 11, "K1", "S")], ct);
        await sink.DeliverAsync([On("tb_ord_dtl/2", 40, "K1", "D")], ct);

        // the replay of the master stream, alone and mixed with the detail stream's replay in one batch
        await sink.DeliverAsync([On("tb_ord_mst/0", 10, "K1", "P")], ct);
        Assert.Equal(["D", "tb_ord_dtl/2", 40L], (await _db.QueryAsync("SELECT data->>'ord_sts_cd', position_stream, position_major FROM orders"))[0]);
        await sink.DeliverAsync([On("tb_ord_mst/0", 11, "K1", "S"), On("tb_ord_dtl/2", 39, "K1", "R")], ct);
        Assert.Equal(["D", "tb_ord_dtl/2", 40L], (await _db.QueryAsync("SELECT data->>'ord_sts_cd', position_stream, position_major FROM orders"))[0]);

        // a new event of either stream applies: across streams the last applied wins
        await sink.DeliverAsync([On("tb_ord_mst/0", 12, "K1", "C")], ct);
        Assert.Equal(["C", "tb_ord_mst/0", 12L], (await _db.QueryAsync("SELECT data->>'ord_sts_cd', position_stream, position_major FROM orders"))[0]);
        Assert.Equal("""{"tb_ord_dtl/2": [40, 0], "tb_ord_mst/0": [12, 0]}""", await _db.ScalarAsync<string>("SELECT positions::text FROM orders"));
    }

    [Fact]
    public async Task Upsert_finds_what_the_outbox_relay_stored_under_its_former_spelling_of_the_stream_and_carries_it_over()
    {
        // Earlier versions named the relay's stream after the table as configured: table: Outbox gave outbox-polling:public.Outbox.
        // It is outbox-polling:public.outbox now. A row republished from before the upgrade (its status set back to pending) must
        // not roll the projection back because its stream looks new to the row.
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        var ct = TestContext.Current.CancellationToken;
        await sink.DeliverAsync([On("outbox-polling:public.Outbox", 10, "K1", "P"), On("outbox-polling:Sales.OUTBOX", 20, "K2", "P")], ct);
        await sink.DeliverAsync([On("tb_ord_dtl/2", 40, "K2", "D")], ct); // K2 last written from another stream

        await sink.DeliverAsync([On("outbox-polling:public.outbox", 9, "K1", "R"), On("outbox-polling:sales.outbox", 19, "K2", "R")], ct);
        Assert.Equal(
            [["K1", "P", "outbox-polling:public.Outbox", 10L], ["K2", "D", "tb_ord_dtl/2", 40L]],
            await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_stream, position_major FROM orders ORDER BY subject"));

        // A new row applies and from then on the position is kept under the new name.
        await sink.DeliverAsync([On("outbox-polling:public.outbox", 11, "K1", "S"), On("outbox-polling:sales.outbox", 21, "K2", "S")], ct);
        Assert.Equal(
            [["K1", "S", "outbox-polling:public.outbox", 11L], ["K2", "S", "outbox-polling:sales.outbox", 21L]],
            await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_stream, position_major FROM orders ORDER BY subject"));
        Assert.Equal(11L, await _db.ScalarAsync<long>("SELECT (positions -> 'outbox-polling:public.outbox' ->> 0)::bigint FROM orders WHERE subject = 'K1'"));

        // Kafka topics are case-sensitive: another case is another stream, not a former spelling.
        await sink.DeliverAsync([On("TB_ORD_DTL/2", 1, "K2", "C")], ct);
        Assert.Equal("C", await _db.ScalarAsync<string>("SELECT data->>'ord_sts_cd' FROM orders WHERE subject = 'K2'"));
    }

    [Fact]
    public async Task Upsert_applies_a_new_event_of_one_stream_batched_with_a_stale_event_of_another()
    {
        // A batch holds both streams' events for one order: the master stream's is new, the detail stream's (last in the batch)
        // is a replayed old one. Keeping only the subject's last event of the batch would lose the new one.
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        var ct = TestContext.Current.CancellationToken;
        await sink.DeliverAsync([On("tb_ord_dtl/2", 40, "K1", "D"), On("tb_ord_mst/0", 10, "K2", "P")], ct);

        await sink.DeliverAsync([On("tb_ord_mst/0", 12, "K1", "S"), On("tb_ord_mst/0", 13, "K2", "S"), On("tb_ord_dtl/2", 39, "K1", "R"), On("tb_ord_dtl/2", 41, "K2", "D")], ct);

        var rows = await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_stream, position_major FROM orders ORDER BY subject");
        Assert.Equal(["K1", "S", "tb_ord_mst/0", 12L], rows[0]);
        Assert.Equal(["K2", "D", "tb_ord_dtl/2", 41L], rows[1]);
        Assert.Equal(
            ["""{"tb_ord_dtl/2": [40, 0], "tb_ord_mst/0": [12, 0]}""", """{"tb_ord_dtl/2": [41, 0], "tb_ord_mst/0": [13, 0]}"""],
            (await _db.QueryAsync("SELECT positions::text FROM orders ORDER BY subject")).Select(r => r[0]));
    }

    [Fact]
    public async Task Upsert_upgrades_a_table_of_the_previous_version_and_keeps_what_its_guard_knew()
    {
        // The table as the version before the positions column created it, with a row last written at mst/0 offset 11.
        await _db.ExecuteAsync("""
            CREATE TABLE orders (subject text PRIMARY KEY, type text NOT NULL, data jsonb, event_id text NOT NULL, position_stream text NOT NULL,
                position_major bigint NOT NULL, position_minor bigint NOT NULL, deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO orders VALUES ('K1', 'StatusS', '{"ord_sts_cd": "S"}', 'old', 'tb_ord_mst/0', 11, 0, false, now());
            """);
        var ct = TestContext.Current.CancellationToken;
        await using (var manual = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "orders", Mode = PostgresSinkMode.Upsert, CreateTable = false }))
        {
            // createTable: false leaves the table alone: the error names the missing column and the migration
            var error = await Assert.ThrowsAnyAsync<Exception>(async () => await manual.DeliverAsync([On("tb_ord_mst/0", 12, "K1", "C")], ct));
            Assert.IsNotType<PermanentDeliveryException>(error);
            Assert.Contains("positions", error.Message, StringComparison.Ordinal);
            Assert.Contains("ALTER TABLE \"orders\" ADD COLUMN positions jsonb", error.Message, StringComparison.Ordinal);
        }

        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        await sink.DeliverAsync([On("tb_ord_mst/0", 10, "K1", "P")], ct);
        Assert.Equal("S", await _db.ScalarAsync<string>("SELECT data->>'ord_sts_cd' FROM orders"));

        await sink.DeliverAsync([On("tb_ord_dtl/2", 40, "K1", "D")], ct);
        await sink.DeliverAsync([On("tb_ord_mst/0", 11, "K1", "S")], ct);
        Assert.Equal("D", await _db.ScalarAsync<string>("SELECT data->>'ord_sts_cd' FROM orders"));
        Assert.Equal("""{"tb_ord_dtl/2": [40, 0], "tb_ord_mst/0": [11, 0]}""", await _db.ScalarAsync<string>("SELECT positions::text FROM orders"));
    }

    [Fact]
    public async Task Upsert_is_not_rolled_back_by_a_replay_after_a_version_before_positions_wrote_the_row()
    {
        // A rolling upgrade: instances of the version before the positions column still write the table. They set position_*
        // only, and their guard compared them only when the row's last stream was the event's own.
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        var ct = TestContext.Current.CancellationToken;
        await sink.DeliverAsync([On("tb_ord_mst/0", 12, "K1", "S"), On("tb_ord_mst/0", 12, "K2", "S")], ct);

        // The old version writes K2 last, later than the new one did: a replay of that stream by the new version is not applied.
        Assert.Equal(1L, await OldVersionWritesAsync("tb_ord_mst/0", 20, "K2", "C"));
        await sink.DeliverAsync([On("tb_ord_mst/0", 15, "K2", "R")], ct);
        Assert.Equal(["C", "tb_ord_mst/0", 20L], (await _db.QueryAsync("SELECT data->>'ord_sts_cd', position_stream, position_major FROM orders WHERE subject = 'K2'"))[0]);

        // The old version writes K1 from the detail stream, then applies a replayed master event (offset 10, behind the 12
        // the new version applied): position_* now say mst/0 at 10, positions still mst/0 at 12.
        Assert.Equal(1L, await OldVersionWritesAsync("tb_ord_dtl/2", 40, "K1", "D"));
        Assert.Equal(1L, await OldVersionWritesAsync("tb_ord_mst/0", 10, "K1", "P"));
        await sink.DeliverAsync([On("tb_ord_mst/0", 11, "K1", "R")], ct);
        Assert.Equal(["P", "tb_ord_mst/0", 10L], (await _db.QueryAsync("SELECT data->>'ord_sts_cd', position_stream, position_major FROM orders WHERE subject = 'K1'"))[0]);

        // Another stream's event applies and folds position_* into positions: the later of the two is kept.
        await sink.DeliverAsync([On("tb_ord_dtl/2", 41, "K1", "D")], ct);
        Assert.Equal("""{"tb_ord_dtl/2": [41, 0], "tb_ord_mst/0": [12, 0]}""", await _db.ScalarAsync<string>("SELECT positions::text FROM orders WHERE subject = 'K1'"));
        await sink.DeliverAsync([On("tb_ord_mst/0", 11, "K1", "R")], ct);
        Assert.Equal("D", await _db.ScalarAsync<string>("SELECT data->>'ord_sts_cd' FROM orders WHERE subject = 'K1'"));

        // Newer events apply.
        await sink.DeliverAsync([On("tb_ord_mst/0", 13, "K1", "C"), On("tb_ord_mst/0", 21, "K2", "D")], ct);
        Assert.Equal(
            [["K1", "C", "tb_ord_mst/0", 13L], ["K2", "D", "tb_ord_mst/0", 21L]],
            await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_stream, position_major FROM orders ORDER BY subject"));
    }

    [Fact]
    public async Task A_version_before_positions_can_still_upsert_into_a_table_this_version_created_during_a_rolling_upgrade()
    {
        // This version creates the table; instances of the version before the positions column still write it with their
        // statement, which leaves positions out. PostgreSQL checks NOT NULL before ON CONFLICT: a NOT NULL positions would fail
        // every one of their upserts, the update of an existing row as well as a new row.
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        var ct = TestContext.Current.CancellationToken;
        await sink.DeliverAsync([On("tb_ord_mst/0", 12, "K1", "S")], ct);

        // The old version's statement (1c4412e^), its parameters written in: K1 moves on, K2 is new.
        await _db.ExecuteAsync("""
            INSERT INTO orders AS t (subject, type, data, event_id, position_stream, position_major, position_minor, deleted, updated_at)
            SELECT u.subject, u.type, u.data::jsonb, u.id, u.stream, u.major, u.minor, u.deleted, now()
            FROM unnest(ARRAY['K1', 'K2'], ARRAY['StatusC', 'StatusS'], ARRAY['{"ord_no": "K1", "ord_sts_cd": "C"}', '{"ord_no": "K2", "ord_sts_cd": "S"}'],
                ARRAY['old-1', 'old-2'], ARRAY['tb_ord_mst/0', 'tb_ord_mst/0'], ARRAY[20, 5]::bigint[], ARRAY[0, 0]::bigint[], ARRAY[false, false])
                AS u(subject, type, data, id, stream, major, minor, deleted)
            ON CONFLICT (subject) DO UPDATE SET
                type = EXCLUDED.type, data = EXCLUDED.data, event_id = EXCLUDED.event_id,
                position_stream = EXCLUDED.position_stream, position_major = EXCLUDED.position_major,
                position_minor = EXCLUDED.position_minor, deleted = EXCLUDED.deleted, updated_at = now()
            WHERE t.position_stream <> EXCLUDED.position_stream
               OR (t.position_major, t.position_minor) < (EXCLUDED.position_major, EXCLUDED.position_minor)
            """);
        Assert.Equal(
            [["K1", "C", 20L, """{"tb_ord_mst/0": [12, 0]}"""], ["K2", "S", 5L, null]],
            await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_major, positions::text FROM orders ORDER BY subject"));

        // The new sink's guard still holds on both rows: replays of what the old version wrote are not applied, later events are.
        await sink.DeliverAsync([On("tb_ord_mst/0", 15, "K1", "R"), On("tb_ord_mst/0", 3, "K2", "R")], ct);
        Assert.Equal(
            [["K1", "C", 20L], ["K2", "S", 5L]],
            await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_major FROM orders ORDER BY subject"));
        await sink.DeliverAsync([On("tb_ord_mst/0", 21, "K1", "D"), On("tb_ord_mst/0", 6, "K2", "D")], ct);
        Assert.Equal(
            [["K1", "D", 21L, """{"tb_ord_mst/0": [21, 0]}"""], ["K2", "D", 6L, """{"tb_ord_mst/0": [6, 0]}"""]],
            await _db.QueryAsync("SELECT subject, data->>'ord_sts_cd', position_major, positions::text FROM orders ORDER BY subject"));
    }

    /// <summary>
    /// What the upsert of the version before the positions column did to an existing row (its ON CONFLICT branch, with its
    /// guard): position_* set, positions untouched. Returns the number of rows it changed.
    /// </summary>
    private Task<long> OldVersionWritesAsync(string stream, long major, string key, string status) => _db.ScalarAsync<long>($$"""
        WITH u AS (
            UPDATE orders AS t SET type = 'Status{{status}}', data = '{"ord_no": "{{key}}", "ord_sts_cd": "{{status}}"}', event_id = 'old-{{stream}}-{{major}}',
                position_stream = '{{stream}}', position_major = {{major}}, position_minor = 0, deleted = false, updated_at = now()
            WHERE t.subject = '{{key}}' AND (t.position_stream <> '{{stream}}' OR (t.position_major, t.position_minor) < ({{major}}, 0))
            RETURNING 1)
        SELECT count(*) FROM u
        """);

    [Fact]
    public async Task Upsert_dead_letters_an_event_without_subject_while_the_rest_flow()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 6; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + i, "S"));
        }

        source.Complete();
        var dlq = new RecordingDeadLetterQueue();
        await using var sink = Sink(PostgresSinkMode.Upsert, "orders");
        var runner = new Core.Pipeline.PipelineRunner(source, new NoSubjectForK3(), [new SinkBinding(sink, SinkHarness.FastRetry)], dlq);
        await SinkHarness.RunToEndAsync(runner);

        var letter = Assert.Single(dlq.Letters);
        Assert.Contains("no subject", letter.Error, StringComparison.Ordinal);
        Assert.Equal(5L, await _db.ScalarAsync<long>("SELECT count(*) FROM orders"));
    }

    [Fact]
    public async Task A_data_error_is_permanent_so_only_that_event_is_dead_lettered_while_the_rest_flow()
    {
        // A NUL character is legal in a MySQL or SQL Server text column but never in PostgreSQL's text or jsonb (SQLSTATE
        // 22P05 / 22021): that event can never be stored, however often it is retried.
        const string Nul = "BAD\u0000";
        await using (var direct = Sink(PostgresSinkMode.Append, "direct_events"))
        {
            var bad = SinkHarness.Event(3, "K3", Nul);
            var error = await Assert.ThrowsAsync<PermanentDeliveryException>(async () => await direct.DeliverAsync([bad], TestContext.Current.CancellationToken));
            Assert.Equal(bad.Id, error.Event.Id);
            Assert.Contains(bad.Id, error.Message, StringComparison.Ordinal);
            Assert.Contains("22", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(_db.ConnectionString, error.Message, StringComparison.Ordinal);
        }

        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 6; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + i, i == 3 ? Nul : "S"));
        }

        source.Complete();
        var dlq = new RecordingDeadLetterQueue();
        await using var sink = Sink(PostgresSinkMode.Append);

        // Retrying until success: a data error taken for transient would hold the pipeline here for good.
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 10, sinks: new SinkBinding(sink, SinkHarness.RetryForever)), TimeSpan.FromSeconds(30));

        var letter = Assert.Single(dlq.Letters);
        Assert.Equal(SinkHarness.Event(3, "K3", Nul).Id, letter.EventId);
        Assert.Equal(5L, await _db.ScalarAsync<long>("SELECT count(*) FROM domain_events"));
        Assert.Equal(6L, source.Acknowledged.Last().Major);
    }

    [Fact]
    public async Task A_table_whose_column_has_another_type_is_a_retried_error_naming_the_table_and_column()
    {
        // A table made by hand (createTable: false) with data as integer: every event fails with 42804, which names the column
        // but not the table. It is a schema problem the operator fixes, so it stays transient (nothing is lost meanwhile).
        await _db.ExecuteAsync("CREATE TABLE hand_made (id text PRIMARY KEY, type text, source text, subject text, time timestamptz, data integer, position text)");
        await using var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "hand_made", CreateTable = false });

        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken));

        Assert.IsNotType<PermanentDeliveryException>(error);
        Assert.Contains("hand_made", error.Message, StringComparison.Ordinal);
        Assert.Contains("\"data\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("42804", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_db.ConnectionString, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_table_missing_a_column_under_a_bounded_retry_dead_letters_each_event_and_its_error_says_so()
    {
        // An operator who made the table by hand without `subject` saw, in the log and in every dead letter, "retried until it
        // does" — while the runner gave each event up after retry.maxAttempts (10 by default) and dead-lettered it. The error
        // must not promise a hold the sink's retry policy does not make: it names the policy and the way to hold instead.
        await _db.ExecuteAsync("CREATE TABLE no_subject (id text PRIMARY KEY, type text, source text, time timestamptz, data jsonb, position text)");
        var dlq = new RecordingDeadLetterQueue();
        await using (var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "no_subject", CreateTable = false }))
        {
            await SinkHarness.RunToEndAsync(SinkHarness.Runner(SinkHarness.Source(2, 2), dlq, sinks: new SinkBinding(sink, SinkHarness.FastRetry)));
        }

        Assert.Equal(2, dlq.Letters.Count);
        var error = dlq.Letters.First().Error;
        Assert.Contains("no_subject", error, StringComparison.Ordinal);
        Assert.Contains("\"subject\"", error, StringComparison.Ordinal);
        Assert.DoesNotContain("until it does", error, StringComparison.Ordinal);
        Assert.Contains("retry.maxAttempts", error, StringComparison.Ordinal);
        Assert.Contains("dead-letter", error, StringComparison.Ordinal);
    }

    private const string AppendColumns = "(id text PRIMARY KEY, type text NOT NULL, source text NOT NULL, subject text, time timestamptz, data jsonb, position text NOT NULL, delivered_at timestamptz NOT NULL DEFAULT now())";

    [Fact]
    public async Task A_mixed_case_table_name_means_what_it_means_unquoted_in_SQL_as_psql_reads_it()
    {
        // A table made by hand as psql users make it: CREATE TABLE Orders is the table orders.
        await _db.ExecuteAsync("CREATE TABLE Orders " + AppendColumns);
        await using (var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "Orders", CreateTable = false }))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM orders"));

        // Created by the sink: Sales.Orders is the table sales.orders; a reserved word is a name too.
        await _db.ExecuteAsync("CREATE SCHEMA sales");
        await using (var sink = Sink(PostgresSinkMode.Upsert, "Sales.Orders"))
        {
            await sink.DeliverAsync([SinkHarness.Event(2, "K2")], TestContext.Current.CancellationToken);
        }

        await using (var sink = Sink(PostgresSinkMode.Append, "Order"))
        {
            await sink.DeliverAsync([SinkHarness.Event(3, "K3")], TestContext.Current.CancellationToken);
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM sales.orders"));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"order\""));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relname <> lower(relname) AND relkind = 'r' AND relnamespace::regnamespace::text IN ('public', 'sales')"));
    }

    [Fact]
    public async Task A_name_written_quoted_keeps_its_case_and_may_hold_any_character()
    {
        await using (var sink = Sink(PostgresSinkMode.Append, "\"Orders\""))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        await _db.ExecuteAsync("CREATE SCHEMA \"Sales Dept\"");
        await using (var sink = Sink(PostgresSinkMode.Upsert, "\"Sales Dept\".\"Order \"\"Lines\"\"\""))
        {
            await sink.DeliverAsync([SinkHarness.Event(2, "K2")], TestContext.Current.CancellationToken);
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Orders\""));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Sales Dept\".\"Order \"\"Lines\"\"\""));
        Assert.False(await _db.ScalarAsync<bool>("SELECT to_regclass('orders') IS NOT NULL"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_table_an_earlier_version_created_with_the_name_quoted_as_written_is_not_silently_replaced(bool createTable)
    {
        const string Rename = "ALTER TABLE \"Order\" RENAME TO \"order\"";
        // Earlier versions quoted table: Order as written and created "Order". Folded now, the name means order, which does not
        // exist: creating it would move the sink's writes to a new, empty table. Refused, saying how to go on.
        await _db.ExecuteAsync("CREATE TABLE \"Order\" " + AppendColumns);
        await using (var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "Order", CreateTable = createTable }))
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(async () => await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken));

            Assert.IsNotType<PermanentDeliveryException>(error);
            // The statement runs as given: the folded name is a reserved word here, so it is quoted.
            Assert.Contains(Rename, error.Message, StringComparison.Ordinal);
            Assert.Contains("table: '\"Order\"'", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(_db.ConnectionString, error.Message, StringComparison.Ordinal);
        }

        Assert.False(await _db.ScalarAsync<bool>("SELECT to_regclass('\"order\"') IS NOT NULL"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Order\""));

        // Renamed as the error says, the sink goes on with the same table.
        await _db.ExecuteAsync(Rename);
        await using (var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "Order", CreateTable = createTable }))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"order\""));
    }

    [Fact]
    public async Task The_old_spelled_table_kept_with_the_name_written_quoted_is_written_as_before()
    {
        await _db.ExecuteAsync("CREATE TABLE \"Orders\" " + AppendColumns);
        await using (var sink = Sink(PostgresSinkMode.Append, "\"Orders\""))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Orders\""));
        Assert.False(await _db.ScalarAsync<bool>("SELECT to_regclass('orders') IS NOT NULL"));
    }

    [Fact]
    public async Task Both_the_old_spelled_table_and_the_new_one_existing_is_warned_once_naming_both_and_the_ways_on()
    {
        // An earlier version wrote "Orders" (table: Orders, quoted as written); now someone also has orders. The sink writes orders,
        // and the rows of the earlier version sit in "Orders" unseen: it said nothing. Warned once, at the start of delivery.
        await _db.ExecuteAsync("CREATE TABLE \"Orders\" " + AppendColumns + "; CREATE TABLE orders " + AppendColumns);
        await _db.ExecuteAsync("INSERT INTO \"Orders\" (id, type, source, position) VALUES ('old', 't', 's', '0/1')");
        var logger = new WarningRecorder<PostgresSink>();
        await using (var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "Orders" }, key => key == "table" ? "pipeline.yaml:7" : null, logger))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
            await sink.DeliverAsync([SinkHarness.Event(2, "K2")], TestContext.Current.CancellationToken);
        }

        var warning = Assert.Single(logger.Warnings);
        Assert.Contains("postgres sink 'pg'", warning, StringComparison.Ordinal);
        Assert.Contains("table: Orders (pipeline.yaml:7)", warning, StringComparison.Ordinal);
        Assert.Contains("the table \"orders\"", warning, StringComparison.Ordinal);
        Assert.Contains("DROP", warning, StringComparison.Ordinal);
        Assert.Contains("table: '\"Orders\"'", warning, StringComparison.Ordinal);
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM orders"));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Orders\""));

        // Only one of them there: nothing to warn about.
        await _db.ExecuteAsync("DROP TABLE \"Orders\"");
        var quiet = new WarningRecorder<PostgresSink>();
        await using (var sink = new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "Orders" }, null, quiet))
        {
            await sink.DeliverAsync([SinkHarness.Event(3, "K3")], TestContext.Current.CancellationToken);
        }

        Assert.Empty(quiet.Warnings);
    }

    [Fact]
    public async Task Both_the_old_spelled_projection_column_and_the_new_one_existing_is_warned_naming_both()
    {
        await _db.ExecuteAsync("""
            CREATE TABLE orders (orderid text PRIMARY KEY, "OrderId" text, type text NOT NULL, state jsonb, event_id text NOT NULL, position_stream text NOT NULL,
                position_major bigint NOT NULL, position_minor bigint NOT NULL, positions jsonb NOT NULL, deleted boolean NOT NULL DEFAULT false,
                updated_at timestamptz NOT NULL DEFAULT now())
            """);
        var logger = new WarningRecorder<PostgresSink>();
        var options = new PostgresSinkOptions
        {
            ConnectionString = _db.ConnectionString, Table = "orders", Mode = PostgresSinkMode.Upsert, Projection = new PostgresProjectionOptions { KeyColumn = "OrderId", DataColumn = "state" },
        };
        await using (var sink = new PostgresSink("pg", options, null, logger))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        var warning = Assert.Single(logger.Warnings);
        Assert.Contains("keyColumn: OrderId", warning, StringComparison.Ordinal);
        Assert.Contains("the column \"orderid\"", warning, StringComparison.Ordinal);
        Assert.Contains("keyColumn: '\"OrderId\"'", warning, StringComparison.Ordinal);
        Assert.Equal([["K1"]], await _db.QueryAsync("SELECT orderid FROM orders"));
    }

    [Fact]
    public async Task Projection_columns_mean_what_they_mean_in_SQL_plain_folds_and_quoted_keeps_its_case()
    {
        // keyColumn: OrderId named the column "OrderId", which psql cannot name unquoted, while table: Orders is orders.
        var ct = TestContext.Current.CancellationToken;
        await using (var sink = Sink(PostgresSinkMode.Upsert, "orders", new PostgresProjectionOptions { KeyColumn = "OrderId", DataColumn = "State" }))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1", "P")], ct);
        }

        Assert.Equal([["K1", "P"]], await _db.QueryAsync("SELECT orderid, state->>'ord_sts_cd' FROM orders"));

        // Quoted, the name keeps its case (and may hold other characters); "Type" is not the sink's own type column.
        await using (var sink = Sink(PostgresSinkMode.Upsert, "quoted", new PostgresProjectionOptions { KeyColumn = "\"Type\"", DataColumn = "\"Order State\"" }))
        {
            await sink.DeliverAsync([SinkHarness.Event(2, "K2", "S")], ct);
        }

        Assert.Equal([["K2", "S", "StatusS"]], await _db.QueryAsync("SELECT \"Type\", \"Order State\"->>'ord_sts_cd', type FROM quoted"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_upsert_table_an_earlier_version_created_with_columns_quoted_as_written_is_refused_saying_how_to_go_on(bool createTable)
    {
        // Earlier versions made keyColumn: OrderId the column "OrderId". Folded, it means orderid: the INSERT would fail on every
        // event (42703), or, had someone added orderid, write beside the old key. Refused before anything is written.
        await _db.ExecuteAsync("""
            CREATE TABLE orders ("OrderId" text PRIMARY KEY, type text NOT NULL, "State" jsonb, event_id text NOT NULL, position_stream text NOT NULL,
                position_major bigint NOT NULL, position_minor bigint NOT NULL, positions jsonb NOT NULL, deleted boolean NOT NULL DEFAULT false,
                updated_at timestamptz NOT NULL DEFAULT now())
            """);
        var projection = new PostgresProjectionOptions { KeyColumn = "OrderId", DataColumn = "State" };
        var options = new PostgresSinkOptions { ConnectionString = _db.ConnectionString, Table = "orders", Mode = PostgresSinkMode.Upsert, CreateTable = createTable, Projection = projection };
        await using (var sink = new PostgresSink("pg", options))
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(async () => await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken));

            Assert.IsNotType<PermanentDeliveryException>(error);
            Assert.Contains("ALTER TABLE \"orders\" RENAME COLUMN \"OrderId\" TO \"orderid\"", error.Message, StringComparison.Ordinal);
            Assert.Contains("ALTER TABLE \"orders\" RENAME COLUMN \"State\" TO \"state\"", error.Message, StringComparison.Ordinal);
            Assert.Contains("keyColumn: '\"OrderId\"'", error.Message, StringComparison.Ordinal);
            Assert.Contains("dataColumn: '\"State\"'", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM orders"));

        // Kept by writing the names quoted, the sink writes the old columns.
        await using (var sink = Sink(PostgresSinkMode.Upsert, "orders", new PostgresProjectionOptions { KeyColumn = "\"OrderId\"", DataColumn = "\"State\"" }))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1", "P")], TestContext.Current.CancellationToken);
        }

        // Renamed as the error says, the unquoted names go on with the same rows.
        await _db.ExecuteAsync("ALTER TABLE orders RENAME COLUMN \"OrderId\" TO orderid; ALTER TABLE orders RENAME COLUMN \"State\" TO state");
        await using (var sink = new PostgresSink("pg", options))
        {
            await sink.DeliverAsync([SinkHarness.Event(2, "K1", "S")], TestContext.Current.CancellationToken);
        }

        Assert.Equal([["K1", "S"]], await _db.QueryAsync("SELECT orderid, state->>'ord_sts_cd' FROM orders"));
    }

    [Fact]
    public async Task A_raw_change_is_stored_as_the_canonical_change_json()
    {
        await using var sink = Sink(PostgresSinkMode.Append, "raw_changes");
        var change = InMemoryChangeSource.Change(9, "K9", "S");
        var raw = new DomainEvent { Id = EventIds.For(change.Position, "raw"), Type = DomainEvent.RawChangeType, Source = "/legacy/public.tb_ord_mst", Subject = "K9", Position = change.Position, Change = change };
        await sink.DeliverAsync([raw], TestContext.Current.CancellationToken);

        var data = await _db.ScalarAsync<string>("SELECT data::text FROM raw_changes");
        var json = JsonDocument.Parse(data).RootElement;
        Assert.Equal("change", json.GetProperty("kind").GetString());
        Assert.Equal("u", json.GetProperty("op").GetString());
        Assert.Equal("K9", json.GetProperty("after").GetProperty("ord_no").GetString());
    }

    private sealed class NoSubjectForK3 : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
        {
            var inner = new List<DomainEvent>();
            new StatusTranslator().Translate(change, inner);
            var e = inner[0];
            output.Add(e.Subject == "K3"
                ? new DomainEvent { Id = e.Id, Type = e.Type, Source = e.Source, Data = e.Data, Position = e.Position, Change = e.Change }
                : e);
        }
    }
}
