using System.Collections.Concurrent;
using CdcPipeline.Consumer.Outbox;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Outbox;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres.Outbox;
using CdcPipeline.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>The polling relay (source.outboxPolling) with the outbox writer, through the real pipeline runner.</summary>
public sealed class OutboxPollingRelayTests(PostgresFixture fixture) : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private readonly string _deadLetters = Path.Combine(Path.GetTempPath(), "cdc-outbox-dlq-" + Guid.NewGuid().ToString("N")[..8] + ".jsonl");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("outboxpoll");
        await _db.ExecuteAsync(OutboxWriter.SchemaSql());
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await _db.DisposeAsync();
        File.Delete(_deadLetters);
    }

    [Fact]
    public async Task Rows_of_concurrent_writers_are_delivered_in_seq_order_and_marked_sent_only_after_the_sink_accepted_them()
    {
        const int writers = 4;
        const int perWriter = 50;
        var sink = new GatedSink();
        await using var source = Relay();
        var runner = new PipelineRunner(source, Translator(), [new SinkBinding(sink, SinkPolicy.Default)], new JsonLinesDeadLetterQueue(_deadLetters));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var running = runner.RunAsync(stop.Token);

        var writerTasks = Enumerable.Range(0, writers).Select(w => Task.Run(() => WriteAsync(w, perWriter), Ct)).ToArray();

        // The sink holds its first batch: nothing may be marked sent while it does.
        await sink.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'sent'"));
        sink.Open();

        await Task.WhenAll(writerTasks);
        await WaitUntilAsync(async () => await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'sent'") == writers * perWriter);
        await stop.CancelAsync();
        await running;

        var inSeqOrder = (await _db.QueryAsync("SELECT id::text FROM outbox ORDER BY seq")).Select(r => (string)r[0]!).ToList();
        var delivered = sink.Delivered.Select(e => e.Id).ToList();
        Assert.Equal(inSeqOrder, delivered);
        Assert.All(sink.Delivered, e => Assert.Equal("Order", e.AggregateType));
        // Per aggregate, the writer's own order is kept too.
        foreach (var group in sink.Delivered.GroupBy(e => e.Subject))
        {
            var steps = group.Select(e => ((RawJson)e.Data!).Text).Select(t => int.Parse(t.Split(':')[1].TrimEnd('}'), System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(steps.Order().ToList(), steps);
        }
    }

    [Fact]
    public async Task A_crash_before_acknowledgement_publishes_the_rows_again_with_the_same_ids()
    {
        await WriteAsync(0, 10);
        List<ChangeEvent> first;
        await using (var relay = new SourceReader(Relay(), Ct))
        {
            first = await relay.TakeAsync(10);
        } // "crash": nothing acknowledged

        Assert.Equal(10L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'pending'"));
        var translator = new OutboxTranslator("test", new OutboxOptions());
        await using (var relay = new SourceReader(Relay(), Ct))
        {
            var again = await relay.TakeAsync(10);
            Assert.Equal(Ids(translator, first), Ids(translator, again));
            await relay.Source.AcknowledgeAsync(again[^1].Position, Ct);
        }

        Assert.Equal(10L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'sent'"));
        Assert.Equal(20L, await _db.ScalarAsync<long>("SELECT sum(attempts)::bigint FROM outbox"));
        await using (var relay = new SourceReader(Relay(), Ct))
        {
            Assert.Null(await relay.NextAsync(TimeSpan.FromMilliseconds(500)));
        }
    }

    [Fact]
    public async Task Closing_the_relay_while_a_poll_runs_cancels_the_poll_before_closing_its_connection()
    {
        // A stop cut short by runner.drainTimeout (or a test) closes the source while a poll may still run on the lock
        // connection. Closing a connection under a running command is not safe: it hung waiting for the command's results.
        await WriteAsync(0, 1);
        await using var holder = new NpgsqlConnection(_db.ConnectionString);
        await holder.OpenAsync(Ct);
        await using var tx = await holder.BeginTransactionAsync(Ct);
        await using (var lockRow = new NpgsqlCommand("SELECT seq FROM outbox FOR UPDATE", holder, tx))
        {
            await lockRow.ExecuteNonQueryAsync(Ct);
        }

        var source = Relay("relay-closing");
        await using var relay = new SourceReader(source, Ct);
        Assert.Null(await relay.NextAsync(TimeSpan.FromMilliseconds(200)));
        await WaitUntilAsync(async () => await _db.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relay-closing' AND wait_event_type = 'Lock'") == 1);

        var closing = source.DisposeAsync().AsTask();
        var first = await Task.WhenAny(closing, Task.Delay(TimeSpan.FromSeconds(30), Ct));
        Assert.True(first == closing, "DisposeAsync did not return within 30 s while a poll waited on a row lock");
        await closing;

        // The poll's UPDATE was cancelled, not left to run once the lock goes: the row was not handed out.
        await tx.RollbackAsync(Ct);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relay-closing'"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT sum(attempts)::bigint FROM outbox"));
    }

    [Fact]
    public async Task A_row_committed_late_by_a_writer_that_does_not_serialize_is_still_published_and_marked_sent()
    {
        var unserialized = new OutboxWriter(serializeCommits: false);
        await using var slow = new NpgsqlConnection(_db.ConnectionString);
        await slow.OpenAsync(Ct);
        await using var slowTx = await slow.BeginTransactionAsync(Ct);
        var late = await unserialized.AddAsync(slow, slowTx, new OutboxMessage { AggregateType = "Order", AggregateId = "a", Type = "T", PayloadJson = "{}" }, Ct);
        await WriteAsync(1, 1); // draws a higher seq and commits first

        await using var relay = new SourceReader(Relay(), Ct);
        var first = await relay.TakeAsync(1);
        await relay.Source.AcknowledgeAsync(first[0].Position, Ct);

        await slowTx.CommitAsync(Ct);
        var second = await relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15));
        Assert.Equal(late.ToString(), second[0].After!["id"]);
        Assert.True(second[0].Position.Major < first[0].Position.Major);
        await relay.Source.AcknowledgeAsync(second[0].Position, Ct);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'pending'"));
    }

    [Fact]
    public async Task A_second_relay_stands_by_until_the_active_one_stops()
    {
        await WriteAsync(0, 3);
        var active = new SourceReader(Relay(), Ct);
        await active.TakeAsync(3);
        await using var standby = new SourceReader(Relay(), Ct);
        Assert.Null(await standby.NextAsync(TimeSpan.FromMilliseconds(700)));

        await active.DisposeAsync();
        var taken = await standby.TakeAsync(3, timeout: TimeSpan.FromSeconds(15));
        Assert.Equal(3, taken.Count);
    }

    [Fact]
    public async Task Money_in_an_outbox_row_reads_with_the_configured_fraction_digits()
    {
        // A yen database stores ¥1,000 as the integer 1000, printed '10.00' under lc_monetary C (as the relay reads it).
        await _db.ExecuteAsync("ALTER TABLE outbox ADD COLUMN amount money");
        await _db.ExecuteAsync("""
            SET lc_monetary = 'C';
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, amount)
            VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', '10.00'), (gen_random_uuid(), 'Order', 'o-2', 'OrderPlaced', '{}', '-12345.67')
            """);
        var config = Path.Combine(Path.GetTempPath(), "cdc-outbox-money-" + Guid.NewGuid().ToString("N")[..8] + ".yaml");
        File.WriteAllText(config, $$"""
            name: shop
            source:
              outboxPolling:
                connectionString: "{{_db.ConnectionString}}"
                table: public.outbox
                interval: 00:00:00.050
                moneyFractionDigits: 0
            sinks:
              - name: out
                file: { path: "{{Path.ChangeExtension(config, ".jsonl")}}" }
            """);
        try
        {
            await using var services = new ServiceCollection().AddCdcPipeline().BuildServiceProvider(); // what run registers
            await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(config, _ => null), services);
            await using var relay = new SourceReader(pipeline.Source, Ct);

            var rows = await relay.TakeAsync(2);

            Assert.Equal(["1000", "-1234567"], rows.Select(e => e.After!["amount"]!.ToString()));
        }
        finally
        {
            File.Delete(config);
            File.Delete(Path.ChangeExtension(config, ".jsonl"));
        }
    }

    [Fact]
    public async Task A_value_the_relay_cannot_convert_stops_it_naming_table_row_column_and_value()
    {
        await _db.ExecuteAsync("ALTER TABLE outbox ADD COLUMN due timestamptz");
        await _db.ExecuteAsync("""
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, due)
            VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', '294276-12-31 23:59:59+00')
            """);
        var seq = await _db.ScalarAsync<long>("SELECT seq FROM outbox");
        await using var relay = new SourceReader(Relay(), Ct);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15)));

        Assert.IsNotType<TimeoutException>(e);
        Assert.Contains("public.outbox", e.Message, StringComparison.Ordinal);
        Assert.Contains($"seq {seq}", e.Message, StringComparison.Ordinal);
        Assert.Contains("'due'", e.Message, StringComparison.Ordinal);
        Assert.Contains("294276-12-31 23:59:59", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enums_arrays_numerics_without_scale_and_one_bit_strings_read_as_the_embedded_capture_reads_them()
    {
        // The relay's rows are the same change events pgoutput yields: types resolved by pg_type and the column's modifier.
        await _db.ExecuteAsync("""
            CREATE TYPE mood AS ENUM ('happy', 'sad');
            ALTER TABLE outbox ADD COLUMN feeling mood, ADD COLUMN feelings mood[], ADD COLUMN lines int[],
                ADD COLUMN total numeric, ADD COLUMN price numeric(10,2), ADD COLUMN prices numeric(8,3)[], ADD COLUMN flag bit(1);
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, feeling, feelings, lines, total, price, prices, flag)
            VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', 'sad', '{happy,sad}', '{1,2,3}', 1.500, 3.5, '{1.5,2}', B'1')
            """);
        await using var relay = new SourceReader(Relay(), Ct);

        var row = (await relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15)))[0].After!;

        Assert.Equal("sad", row["feeling"]);
        Assert.Equal(["happy", "sad"], Assert.IsAssignableFrom<IReadOnlyList<object?>>(row["feelings"]));
        Assert.Equal([1L, 2L, 3L], Assert.IsAssignableFrom<IReadOnlyList<object?>>(row["lines"]));
        Assert.Equal("1.5", Assert.IsType<ExactDecimal>(row["total"]).ToString()); // VariableScaleDecimal: trailing zeros stripped
        Assert.Equal("3.50", Assert.IsType<ExactDecimal>(row["price"]).ToString());
        Assert.Equal(["1.500", "2.000"], Assert.IsAssignableFrom<IReadOnlyList<object?>>(row["prices"]).Select(v => Assert.IsType<ExactDecimal>(v).ToString()));
        Assert.Equal(true, row["flag"]);
    }

    [Fact]
    public async Task Columns_of_domain_types_read_as_the_embedded_capture_reads_them()
    {
        // A query result names a domain column by its base type; the catalog by the domain. Before the fix every poll
        // failed "outbox table public.outbox changed its columns during a poll; polling again" and no row was relayed.
        await _db.ExecuteAsync("""
            CREATE DOMAIN payload_kind AS text CHECK (VALUE <> '');
            CREATE DOMAIN money_amount AS numeric(10,2);
            CREATE DOMAIN order_amount AS money_amount; -- a domain over a domain
            CREATE DOMAIN yes_no AS bit(1); -- reads as a boolean, as Debezium reads it
            ALTER TABLE outbox ADD COLUMN kind payload_kind, ADD COLUMN amount order_amount, ADD COLUMN confirmed yes_no;
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, kind, amount, confirmed)
            VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', 'json', 3.5, B'1')
            """);
        await using var relay = new SourceReader(Relay(), Ct);

        var row = (await relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15)))[0].After!;

        Assert.Equal("json", row["kind"]);
        Assert.Equal("3.50", Assert.IsType<ExactDecimal>(row["amount"]).ToString());
        Assert.Equal(true, row["confirmed"]);
    }

    [Fact]
    public async Task A_sequence_column_of_a_domain_over_bigint_is_relayed_in_its_order()
    {
        await _db.ExecuteAsync("""
            CREATE DOMAIN outbox_seq AS bigint;
            ALTER TABLE outbox DROP COLUMN seq;
            ALTER TABLE outbox ADD COLUMN seq outbox_seq NOT NULL;
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, seq) VALUES (gen_random_uuid(), 'Order', 'o-2', 'OrderPlaced', '{}', 2);
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, seq) VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', 1);
            """);
        await using var relay = new SourceReader(Relay(), Ct);

        var rows = await relay.TakeAsync(2, timeout: TimeSpan.FromSeconds(15));
        await relay.Source.AcknowledgeAsync(rows[^1].Position, Ct);

        Assert.Equal(["o-1", "o-2"], rows.Select(r => (string?)r.After!["aggregateid"]));
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'sent'"));
    }

    [Theory]
    [InlineData("flag bit(1)", "B'1'", "flag TYPE bit(3) USING flag || B'00'", "B'101'", "101")] // a BIT(1) reads as a boolean, a BIT(3) as bits
    [InlineData("total numeric", "1.500", "total TYPE numeric(10,2)", "1.5", "1.50")] // unconstrained: trailing zeros stripped; (10,2): scale 2
    public async Task A_column_altered_to_another_type_modifier_while_relaying_reads_with_its_new_modifier(string column, string before, string alter, string after, string expected)
    {
        var name = column.Split(' ')[0];
        await _db.ExecuteAsync($"ALTER TABLE outbox ADD COLUMN {column}");
        await using var relay = new SourceReader(Relay(), Ct);
        await _db.ExecuteAsync($"INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, {name}) VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{{}}', {before})");
        Assert.NotNull((await relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15)))[0].After![name]);

        // Same column name and type OID, another atttypmod: the converter the relay resolved for the old modifier must go.
        await _db.ExecuteAsync($"ALTER TABLE outbox ALTER COLUMN {alter}");
        await _db.ExecuteAsync($"INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, {name}) VALUES (gen_random_uuid(), 'Order', 'o-2', 'OrderPlaced', '{{}}', {after})");
        var row = (await relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15)))[0].After!;

        Assert.Equal("o-2", row["aggregateid"]);
        Assert.Equal(expected, row[name]?.ToString());
    }

    [Theory]
    [InlineData("numeric NOT NULL", "numeric")]
    [InlineData("text NOT NULL", "text")]
    [InlineData("bigint", "NOT NULL")]
    public async Task A_sequence_column_that_is_not_a_non_null_integer_is_refused_at_start_naming_table_column_and_type(string definition, string named)
    {
        var second = definition == "bigint" ? "NULL" : "'2'";
        await _db.ExecuteAsync($$"""
            ALTER TABLE outbox DROP COLUMN seq;
            ALTER TABLE outbox ADD COLUMN seq {{definition}};
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, seq) VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', '1');
            INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, seq) VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}', {{second}});
            """);
        await using var relay = new SourceReader(Relay(), Ct);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => relay.TakeAsync(2, timeout: TimeSpan.FromSeconds(10)));

        Assert.IsNotType<TimeoutException>(e);
        Assert.Contains("public.outbox", e.Message, StringComparison.Ordinal);
        Assert.Contains("'seq'", e.Message, StringComparison.Ordinal);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
        Assert.Contains("bigint or integer", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("status, attempts, sent_at")]
    [InlineData("sent_at")]
    public async Task A_table_without_the_columns_the_relay_updates_is_refused_at_start_naming_every_missing_column(string missing)
    {
        // A hand-made outbox table (or one from an older schema): before the fix the poll's (or the mark-sent's) SQL error
        // was retried for ever with only a warning, or the rows were published and never marked sent.
        var columns = missing.Split(", ");
        await _db.ExecuteAsync($"ALTER TABLE outbox {string.Join(", ", columns.Select(c => "DROP COLUMN " + c))}");
        await _db.ExecuteAsync("INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES (gen_random_uuid(), 'Order', 'o-1', 'OrderPlaced', '{}')");
        await using var relay = new SourceReader(Relay(), Ct);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(10)));

        Assert.IsType<CaptureStoppedException>(e);
        Assert.Contains("public.outbox", e.Message, StringComparison.Ordinal);
        Assert.All(columns, c => Assert.Contains($"'{c}'", e.Message, StringComparison.Ordinal));
        Assert.All(new[] { "status", "attempts", "sent_at" }.Except(columns), c => Assert.DoesNotContain($"'{c}'", e.Message, StringComparison.Ordinal));
        Assert.Contains("OutboxWriter.SchemaSql()", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_relay_whose_lock_connection_died_stops_publishing_so_only_one_relay_is_active()
    {
        // The relay lock is a session lock: killed with its connection (an idle-connection timeout, a failover, a DBA),
        // it passes to the standby. The relay that lost it must notice and stand by too, or both publish every row.
        const string HolderSql = """
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
            """;
        await using var first = new SourceReader(Relay("relay-a"), Ct);
        Assert.Null(await first.NextAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Equal("relay-a", await _db.ScalarAsync<string>(HolderSql));
        await using var second = new SourceReader(Relay("relay-b"), Ct);
        Assert.Null(await second.NextAsync(TimeSpan.FromMilliseconds(300)));

        await _db.ExecuteAsync("""
            SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'relay-a'
            """);
        Assert.Null(await first.NextAsync(TimeSpan.FromMilliseconds(500)));
        await WaitUntilAsync(async () => (await _db.QueryAsync(HolderSql)).Count == 1);
        var holder = await _db.ScalarAsync<string>(HolderSql);
        var (active, idle) = holder == "relay-a" ? (first, second) : (second, first);

        await WriteAsync(0, 3);

        Assert.Equal(3, (await active.TakeAsync(3, timeout: TimeSpan.FromSeconds(15))).Count);
        Assert.Null(await idle.NextAsync(TimeSpan.FromMilliseconds(700)));
    }

    [Theory]
    [InlineData("outbox")]
    [InlineData("Public.Outbox")]
    [InlineData("PUBLIC.outbox")]
    public async Task A_relay_configured_with_another_spelling_of_the_table_stands_by(string spelling)
    {
        await WriteAsync(0, 3);
        await using var active = new SourceReader(Relay(), Ct);
        await active.TakeAsync(3);

        var decided = new RelayStateLogger();
        await using var other = new SourceReader(new OutboxPollingSource("test", new OutboxPollingOptions
        {
            ConnectionString = _db.ConnectionString,
            Table = spelling,
            Interval = TimeSpan.FromMilliseconds(50),
        }, decided), Ct);
        Assert.Null(await other.NextAsync(TimeSpan.FromMilliseconds(1))); // starts it

        var state = await decided.State.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.True(state == RelayStateLogger.StandingBy, $"a relay of '{spelling}' became active beside the relay of 'public.outbox' (one table, two relays publishing it)");
    }

    [Fact]
    public async Task A_table_named_with_reserved_words_is_written_and_relayed()
    {
        // "user" is a reserved word, and so is "order": unquoted, user.order is not valid SQL.
        await _db.ExecuteAsync("CREATE SCHEMA \"user\"");
        await _db.ExecuteAsync("CREATE TABLE \"user\".\"order\" (LIKE public.outbox INCLUDING ALL)");
        var writer = new OutboxWriter("User.Order");
        await using (var connection = new NpgsqlConnection(_db.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var tx = await connection.BeginTransactionAsync(Ct);
            await writer.AddAsync(connection, tx, "Order", "1", "OrderPlaced", new { orderId = 1 }, Ct);
            await tx.CommitAsync(Ct);
        }

        await using var relay = new SourceReader(new OutboxPollingSource("test", new OutboxPollingOptions
        {
            ConnectionString = _db.ConnectionString,
            Table = "user.order",
            Interval = TimeSpan.FromMilliseconds(50),
        }), Ct);
        var taken = await relay.TakeAsync(1, timeout: TimeSpan.FromSeconds(15));
        await relay.AcknowledgeAsync(taken);

        Assert.Equal("OrderPlaced", taken[0].After!["type"]);
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"user\".\"order\" WHERE status = 'sent'"));
    }

    [Theory]
    [InlineData("Outbox")]
    [InlineData("outbox")]
    [InlineData("PUBLIC.OUTBOX")]
    public async Task A_relay_of_any_spelling_of_the_table_yields_changes_of_the_real_table_that_the_outbox_routes(string spelling)
    {
        await WriteAsync(0, 2);
        await using var relay = new SourceReader(new OutboxPollingSource("test", new OutboxPollingOptions
        {
            ConnectionString = _db.ConnectionString,
            Table = spelling,
            Interval = TimeSpan.FromMilliseconds(50),
        }), Ct);

        var taken = await relay.TakeAsync(2, timeout: TimeSpan.FromSeconds(15));

        // As the WAL names it, so an outbox: table of public.outbox (the default) routes the rows as events, not as raw changes.
        Assert.All(taken, c => Assert.Equal("public.outbox", c.Source.QualifiedTable));
        // One table, one position stream: a sink that keeps positions per stream (the upsert's replay guard) sees one stream.
        Assert.All(taken, c => Assert.Equal("outbox-polling:public.outbox", c.Position.Stream));
        var events = new List<DomainEvent>();
        foreach (var change in taken)
        {
            Translator().Translate(change, events);
        }

        Assert.Equal(["OrderPlaced", "OrderPlaced"], events.Select(e => e.Type));
    }

    [Theory]
    [InlineData("offset", "offset")]
    [InlineData("seq", "Seq")]
    [InlineData("user", "USER")]
    public async Task A_sequence_column_named_by_a_reserved_word_or_in_capitals_is_relayed(string column, string configured)
    {
        if (column != "seq")
        {
            await _db.ExecuteAsync($"ALTER TABLE outbox RENAME COLUMN seq TO \"{column}\"");
        }

        await WriteAsync(0, 3);
        await using var relay = new SourceReader(new OutboxPollingSource("test", new OutboxPollingOptions
        {
            ConnectionString = _db.ConnectionString,
            Table = "outbox",
            SequenceColumn = configured,
            Interval = TimeSpan.FromMilliseconds(50),
        }), Ct);

        var taken = await relay.TakeAsync(3, timeout: TimeSpan.FromSeconds(15));
        await relay.AcknowledgeAsync(taken);

        Assert.Equal(taken.Select(c => (long)c.After![column]!).Order(), taken.Select(c => (long)c.After![column]!));
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE status = 'sent'"));
    }

    private OutboxPollingSource Relay(string? applicationName = null) => new("test", new OutboxPollingOptions
    {
        ConnectionString = applicationName is null ? _db.ConnectionString : new NpgsqlConnectionStringBuilder(_db.ConnectionString) { ApplicationName = applicationName }.ConnectionString,
        Table = "public.outbox",
        Interval = TimeSpan.FromMilliseconds(50),
        BatchSize = 7,
    });

    private static OutboxRoutingTranslator Translator() =>
        new(new OutboxTranslator("test", new OutboxOptions { Table = "public.outbox" }), new NothingElse());

    private static List<string> Ids(OutboxTranslator translator, IEnumerable<ChangeEvent> changes)
    {
        var events = new List<DomainEvent>();
        foreach (var c in changes)
        {
            translator.Translate(c, events);
        }

        return events.Select(e => e.Id).ToList();
    }

    /// <summary>One writer: <paramref name="count"/> transactions, each adding one outbox row for its own aggregate.</summary>
    private async Task WriteAsync(int writer, int count)
    {
        var outbox = new OutboxWriter();
        await using var connection = new NpgsqlConnection(_db.ConnectionString);
        await connection.OpenAsync(Ct);
        for (var i = 0; i < count; i++)
        {
            await using var tx = await connection.BeginTransactionAsync(Ct);
            await outbox.AddAsync(connection, tx, new OutboxMessage
            {
                AggregateType = "Order",
                AggregateId = "order-" + writer,
                Type = "OrderPlaced",
                PayloadJson = $"{{\"step\": {i}}}",
            }, Ct);
            await tx.CommitAsync(Ct);
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in 60 s");
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>Tells whether a relay became active (event 1100) or stood by (1101), whichever it logged first.</summary>
    private sealed class RelayStateLogger : ILogger<OutboxPollingSource>
    {
        public const int Active = 1100;
        public const int StandingBy = 1101;

        public TaskCompletionSource<int> State { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id is Active or StandingBy)
            {
                State.TrySetResult(eventId.Id);
            }
        }
    }

    private sealed class NothingElse : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
        {
        }
    }

    private sealed class GatedSink : ISink
    {
        private readonly ConcurrentQueue<DomainEvent> _delivered = new();
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "gated";

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<DomainEvent> Delivered => _delivered.ToArray();

        public void Open() => _gate.TrySetResult();

        public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await _gate.Task.WaitAsync(cancellationToken);
            foreach (var e in batch)
            {
                _delivered.Enqueue(e);
            }
        }

        public ValueTask DisposeAsync() => default;
    }
}
