using System.Collections.Concurrent;
using System.Globalization;
using CdcPipeline.Consumer;
using CdcPipeline.IntegrationTests.Support;
using DownstreamBilling;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>The idempotency library against a real PostgreSQL, driven by the downstream-billing sample's projection.</summary>
public sealed class IdempotentConsumerTests(PostgresFixture fixture) : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private NpgsqlDataSource _dataSource = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("idempotent");
        _dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_db.ConnectionString) { Pooling = true, MaxPoolSize = 40 }.ConnectionString);
        await _db.ExecuteAsync(BillingProjection.SchemaSql);
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Each_of_1000_events_is_applied_once_across_a_replay_with_racing_duplicates()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var events = OrderEvents(orders: 250); // placed, shipped, cancelled?, … : 1000 events

        // First delivery of the first half, in order (as the pipeline would before a crash).
        var results = new ConcurrentDictionary<string, ConcurrentBag<HandleResult>>();
        foreach (var json in events.Take(500))
        {
            Record(results, json, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        }

        // The replay: all 1000 again, and every one delivered twice at the same moment (two sink
        // deliveries racing), eight events at a time.
        await Parallel.ForEachAsync(events, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (json, ct) =>
        {
            var twins = await Task.WhenAll(
                Task.Run(() => consumer.HandleAsync(json, BillingProjection.HandleAsync, ct), ct),
                Task.Run(() => consumer.HandleAsync(json, BillingProjection.HandleAsync, ct), ct));
            foreach (var r in twins)
            {
                Record(results, json, r);
            }
        });

        Assert.Equal(1000, results.Count);
        Assert.All(results, r => Assert.Equal(1, r.Value.Count(x => x == HandleResult.Applied)));
        Assert.Equal(1000L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events WHERE consumer = 'billing'"));
        // Every event's effect happened once: the per-order counters add up to the events, order by order.
        Assert.Equal(1000L, await _db.ScalarAsync<long>("SELECT sum(events)::bigint FROM billing_orders"));
        Assert.Equal(250L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders WHERE events <> 4"));
    }

    [Fact]
    public async Task A_failing_handler_rolls_back_its_writes_and_the_mark_so_a_redelivery_applies_it()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-1", "4711", "99.50");

        await Assert.ThrowsAsync<InvalidOperationException>(() => consumer.HandleAsync(json, async (c, tx, e, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, e, ct);
            throw new InvalidOperationException("the handler failed after writing");
        }, Ct));

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events"));

        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        Assert.Equal(HandleResult.Duplicate, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        Assert.Equal(99.50m, await _db.ScalarAsync<decimal>("SELECT amount FROM billing_orders WHERE order_id = '4711'"));
    }

    [Fact]
    public async Task A_duplicate_waiting_on_an_uncommitted_first_delivery_applies_when_that_one_rolls_back()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-race", "815", "10.00");
        var firstInside = new TaskCompletionSource();
        var releaseFirst = new TaskCompletionSource();

        var first = consumer.HandleAsync(json, async (c, tx, e, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, e, ct);
            firstInside.SetResult();
            await releaseFirst.Task.WaitAsync(ct);
            throw new InvalidOperationException("first delivery fails");
        }, Ct);
        await firstInside.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var second = consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct);
        // The second delivery must be blocked on the first one's uncommitted mark, not have run.
        var blocked = await WaitForLockWaitAsync();
        Assert.True(blocked, "the second delivery did not wait on the first one's row lock");
        Assert.False(second.IsCompleted);

        releaseFirst.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        Assert.Equal(HandleResult.Applied, await second.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders WHERE order_id = '815' AND events = 1"));
    }

    [Fact]
    public async Task A_handler_that_swallows_a_database_error_is_not_reported_applied()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-swallowed", "4712", "20.00");

        // The SQL Server habit: try a statement, catch its error, carry on. In PostgreSQL the error has aborted the
        // transaction, and COMMIT of an aborted transaction rolls back without an error: nothing was applied.
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => consumer.HandleAsync(json, async (c, tx, evt, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, evt, ct);
            try
            {
                await using var failing = new NpgsqlCommand("SELECT 1/0", c, tx);
                await failing.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException)
            {
            }
        }, Ct));
        Assert.Contains("evt-swallowed", e.Message, StringComparison.Ordinal);
        Assert.Contains("aborted", e.Message, StringComparison.Ordinal);

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events"));
        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        Assert.Equal(20.00m, await _db.ScalarAsync<decimal>("SELECT amount FROM billing_orders WHERE order_id = '4712'"));
    }

    [Fact]
    public async Task A_handler_that_commits_the_transaction_itself_is_refused_naming_the_event_and_its_mark_stays_with_its_writes()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-self-committed", "4713", "30.00");

        // The habit of a team that owns its transactions: write, then commit. The mark was inserted in this transaction
        // before the handler ran, so the handler's COMMIT commits the mark with the writes before it.
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => consumer.HandleAsync(json, async (c, tx, evt, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, evt, ct);
            await tx.CommitAsync(ct);
        }, Ct));
        Assert.Contains("evt-self-committed", e.Message, StringComparison.Ordinal);
        Assert.Contains("OrderPlaced", e.Message, StringComparison.Ordinal);
        Assert.Contains("must not commit or roll back the transaction it is given", e.Message, StringComparison.Ordinal);
        Assert.Contains("committed", e.Message, StringComparison.Ordinal);
        Assert.Contains("is marked processed", e.Message, StringComparison.Ordinal);

        // Exactly once all the same: mark and writes committed together, and a redelivery is a duplicate.
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events WHERE event_id = 'evt-self-committed'"));
        Assert.Equal(HandleResult.Duplicate, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders WHERE order_id = '4713' AND amount = 30.00 AND events = 1"));
    }

    [Fact]
    public async Task A_handler_that_rolls_back_the_transaction_itself_and_returns_is_refused_and_nothing_is_marked()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-self-rolled-back", "4714", "40.00");

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => consumer.HandleAsync(json, async (c, tx, evt, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, evt, ct);
            await tx.RollbackAsync(ct);
        }, Ct));
        Assert.Contains("evt-self-rolled-back", e.Message, StringComparison.Ordinal);
        Assert.Contains("OrderPlaced", e.Message, StringComparison.Ordinal);
        Assert.Contains("must not commit or roll back the transaction it is given", e.Message, StringComparison.Ordinal);
        Assert.Contains("is not marked processed", e.Message, StringComparison.Ordinal);

        // Nothing happened: a redelivery applies the event.
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders"));
        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders WHERE order_id = '4714' AND amount = 40.00 AND events = 1"));
    }

    [Fact]
    public async Task A_handler_that_rolls_back_itself_and_throws_has_its_own_exception_propagate_and_nothing_is_marked()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-rollback-rethrown", "4715", "50.00");

        // try { … } catch { await tx.RollbackAsync(); throw; }: the handler's exception is what the caller sees.
        var e = await Assert.ThrowsAsync<TimeoutException>(() => consumer.HandleAsync(json, async (c, tx, evt, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, evt, ct);
            await tx.RollbackAsync(ct);
            throw new TimeoutException("the handler's own failure");
        }, Ct));
        Assert.Equal("the handler's own failure", e.Message);

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events"));
        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
    }

    [Fact]
    public async Task A_handler_that_commits_itself_and_then_throws_has_its_exception_propagate_and_the_event_stays_marked()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-commit-then-throw", "4716", "60.00");

        var e = await Assert.ThrowsAsync<TimeoutException>(() => consumer.HandleAsync(json, async (c, tx, evt, ct) =>
        {
            await BillingProjection.HandleAsync(c, tx, evt, ct);
            await tx.CommitAsync(ct);
            throw new TimeoutException("failed after its own commit");
        }, Ct));
        Assert.Equal("failed after its own commit", e.Message);

        // As documented: the commit took the mark with the writes before it, so the redelivery the exception causes is a duplicate.
        Assert.Equal(HandleResult.Duplicate, await consumer.HandleAsync(json, BillingProjection.HandleAsync, Ct));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders WHERE order_id = '4716' AND events = 1"));
    }

    [Fact]
    public async Task Two_handlers_that_deadlock_each_other_both_apply_once()
    {
        var consumer = new IdempotentConsumer(_dataSource, "ledger");
        await consumer.EnsureSchemaAsync(Ct);
        await _db.ExecuteAsync("CREATE TABLE ledger (account text PRIMARY KEY, postings integer NOT NULL); INSERT INTO ledger VALUES ('a', 0), ('b', 0)");
        var aLocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bLocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;

        // A transfer a→b and one b→a, each locking its first account, then waiting for the other's first lock
        // before taking its second: PostgreSQL detects the deadlock and aborts one of them.
        ConsumedEventHandler Transfer(string first, string second, TaskCompletionSource mine, TaskCompletionSource theirs) => async (c, tx, evt, ct) =>
        {
            Interlocked.Increment(ref runs);
            await PostAsync(c, tx, first, ct);
            mine.TrySetResult();
            await theirs.Task.WaitAsync(ct);
            await PostAsync(c, tx, second, ct);
        };

        var results = await Task.WhenAll(
            Task.Run(() => consumer.HandleAsync(Event("transfer-1", "Transfer", "a", "{}"), Transfer("a", "b", aLocked, bLocked), Ct), Ct),
            Task.Run(() => consumer.HandleAsync(Event("transfer-2", "Transfer", "b", "{}"), Transfer("b", "a", bLocked, aLocked), Ct), Ct));

        Assert.All(results, r => Assert.Equal(HandleResult.Applied, r));
        Assert.Equal(3, runs); // the deadlock victim ran again
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM ledger WHERE postings = 2"));
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events WHERE consumer = 'ledger'"));

        static async Task PostAsync(NpgsqlConnection c, NpgsqlTransaction tx, string account, CancellationToken ct)
        {
            await using var command = new NpgsqlCommand("UPDATE ledger SET postings = postings + 1 WHERE account = $1", c, tx);
            command.Parameters.Add(new NpgsqlParameter { Value = account });
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    [Fact]
    public async Task A_handler_that_keeps_failing_to_serialize_is_given_up_after_a_bounded_number_of_attempts()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var runs = 0;

        var e = await Assert.ThrowsAsync<PostgresException>(() => consumer.HandleAsync(Placed("evt-conflicted", "1", "1.00"), (c, tx, evt, ct) =>
        {
            Interlocked.Increment(ref runs);
            throw new PostgresException("could not serialize access due to concurrent update", "ERROR", "ERROR", PostgresErrorCodes.SerializationFailure);
        }, Ct));

        Assert.Equal(PostgresErrorCodes.SerializationFailure, e.SqlState);
        Assert.Equal(IdempotentConsumer.TransientFailureAttempts, runs);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events"));
    }

    [Fact]
    public async Task A_handler_that_throws_anything_else_runs_once_and_its_exception_propagates()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var runs = 0;

        await Assert.ThrowsAsync<PostgresException>(() => consumer.HandleAsync(Placed("evt-poison", "1", "1.00"), async (c, tx, evt, ct) =>
        {
            Interlocked.Increment(ref runs);
            await using var failing = new NpgsqlCommand("SELECT 1/0", c, tx);
            await failing.ExecuteNonQueryAsync(ct);
        }, Ct));

        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task A_failing_handler_and_an_unreachable_database_are_logged_naming_the_consumer_and_the_event()
    {
        // The exception reaches the service unchanged; but "division by zero" or "Failed to connect to 127.0.0.1:1" alone does
        // not say which event failed, nor that it stays unmarked: the library's log does.
        var logger = new Sinks.WarningRecorder<IdempotentConsumer>();
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName, logger: logger);
        await consumer.EnsureSchemaAsync(Ct);
        await Assert.ThrowsAsync<PostgresException>(() => consumer.HandleAsync(Placed("evt-divides", "1", "1.00"), async (c, tx, evt, ct) =>
        {
            await using var failing = new NpgsqlCommand("SELECT 1/0", c, tx);
            await failing.ExecuteNonQueryAsync(ct);
        }, Ct));

        var failed = Assert.Single(logger.Warnings);
        Assert.Contains("Consumer billing: event evt-divides (OrderPlaced) failed", failed, StringComparison.Ordinal);
        Assert.Contains("division by zero", failed, StringComparison.Ordinal);
        Assert.Contains("not marked processed", failed, StringComparison.Ordinal);

        await using var down = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=billing;Password=x;Database=billing;Timeout=3");
        var unreachable = new IdempotentConsumer(down, BillingProjection.ConsumerName, logger: logger);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => unreachable.HandleAsync(Placed("evt-no-database", "2", "2.00"), (_, _, _, _) => Task.CompletedTask, Ct));
        Assert.Equal(2, logger.Warnings.Count);
        Assert.Contains("Consumer billing: event evt-no-database (OrderPlaced) failed", logger.Warnings[1], StringComparison.Ordinal);
        Assert.Contains("redelivery", logger.Warnings[1], StringComparison.Ordinal);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events"));
    }

    [Fact]
    public async Task Ensuring_the_schema_while_another_instance_creates_it_succeeds()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);

        // Another instance of the service, starting at the same moment, has created the table but not committed yet.
        await using var other = await _dataSource.OpenConnectionAsync(Ct);
        await using var otherTx = await other.BeginTransactionAsync(Ct);
        await using (var create = new NpgsqlCommand(IdempotentConsumer.SchemaSql(), other, otherTx))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        var ensure = consumer.EnsureSchemaAsync(Ct);
        Assert.True(await WaitForLockWaitAsync(), "EnsureSchemaAsync did not wait on the other instance's uncommitted table");
        await otherTx.CommitAsync(Ct);
        await ensure.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(Placed("evt-after-race", "2", "2.00"), BillingProjection.HandleAsync, Ct));
    }

    [Fact]
    public async Task Consumers_deduplicate_under_their_own_names()
    {
        var billing = new IdempotentConsumer(_dataSource, "billing");
        var audit = new IdempotentConsumer(_dataSource, "audit");
        await billing.EnsureSchemaAsync(Ct);
        var json = Placed("evt-shared", "1", "1.00");
        var ran = 0;
        Task Count(NpgsqlConnection c, NpgsqlTransaction t, ConsumedEvent e, CancellationToken ct)
        {
            Interlocked.Increment(ref ran);
            return Task.CompletedTask;
        }

        Assert.Equal(HandleResult.Applied, await billing.HandleAsync(json, Count, Ct));
        Assert.Equal(HandleResult.Applied, await audit.HandleAsync(json, Count, Ct));
        Assert.Equal(HandleResult.Duplicate, await audit.HandleAsync(json, Count, Ct));
        Assert.Equal(2, ran);
    }

    [Fact]
    public async Task The_billing_sample_reading_the_pipelines_file_twice_applies_each_event_once()
    {
        var consumer = new IdempotentConsumer(_dataSource, BillingProjection.ConsumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var file = Path.Combine(Path.GetTempPath(), "cdc-billing-" + Guid.NewGuid().ToString("N")[..8] + ".jsonl");
        try
        {
            var lines = OrderEvents(orders: 5);
            lines.Insert(3, "{\"kind\":\"change\",\"op\":\"c\",\"table\":\"tb_cust_mst\"}"); // a raw change: not for billing
            await File.WriteAllTextAsync(file, string.Join("\n", lines) + "\n", Ct);

            async Task<(int Applied, int Duplicates)> RunOnceAsync()
            {
                var (applied, duplicates) = (0, 0);
                await foreach (var evt in JsonLinesEvents.ReadAsync(file, follow: false, TextWriter.Null, Ct))
                {
                    _ = await consumer.HandleAsync(evt, BillingProjection.HandleAsync, Ct) == HandleResult.Applied ? applied++ : duplicates++;
                }

                return (applied, duplicates);
            }

            Assert.Equal((20, 0), await RunOnceAsync());
            Assert.Equal((0, 20), await RunOnceAsync()); // a restart reads the whole file again
            Assert.Equal(5L, await _db.ScalarAsync<long>("SELECT count(*) FROM billing_orders WHERE status = 'cancelled' AND amount = 13.75 AND events = 4"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("user")]
    [InlineData("public.order")]
    public async Task A_table_named_by_a_reserved_word_marks_and_purges(string table)
    {
        var consumer = new IdempotentConsumer(_dataSource, "billing", table);
        await consumer.EnsureSchemaAsync(Ct);
        var json = Placed("evt-reserved", "1", "1.00");
        Task Nothing(NpgsqlConnection c, NpgsqlTransaction t, ConsumedEvent e, CancellationToken ct) => Task.CompletedTask;

        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(json, Nothing, Ct));
        Assert.Equal(HandleResult.Duplicate, await consumer.HandleAsync(json, Nothing, Ct));
        Assert.Equal(0, await consumer.PurgeAsync(TimeSpan.FromDays(1), Ct));
        var bare = table[(table.IndexOf('.', StringComparison.Ordinal) + 1)..];
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM public.\"{bare}\" WHERE event_id = 'evt-reserved'"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task Purging_with_an_age_that_is_not_positive_is_refused_and_deletes_nothing(int days)
    {
        var consumer = new IdempotentConsumer(_dataSource, "billing");
        await consumer.EnsureSchemaAsync(Ct);
        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(Placed("evt-kept", "1", "1.00"), (c, t, e, ct) => Task.CompletedTask, Ct));

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => consumer.PurgeAsync(TimeSpan.FromDays(days), Ct));

        Assert.Equal("olderThan", e.ParamName);
        Assert.Contains("billing", e.Message, StringComparison.Ordinal);
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM cdc_processed_events WHERE event_id = 'evt-kept'"));
    }

    [Fact]
    public async Task Ensuring_the_schema_indexes_the_marks_by_age_also_on_a_table_created_without_the_index()
    {
        // A table created by an earlier version: the table alone.
        await _db.ExecuteAsync("""
            CREATE TABLE cdc_processed_events (consumer text NOT NULL, event_id text NOT NULL, event_type text NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id))
            """);
        var consumer = new IdempotentConsumer(_dataSource, "billing");

        await consumer.EnsureSchemaAsync(Ct);
        await consumer.EnsureSchemaAsync(Ct); // and again, as every start does

        // An index the purge (consumer = $1 AND processed_at < …) can search: its leading columns are consumer and processed_at.
        var indexed = await _db.QueryAsync("""
            SELECT array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n), ',')
            FROM pg_index i WHERE i.indrelid = 'cdc_processed_events'::regclass
            """);
        Assert.Contains(indexed, r => ((string)r[0]!).StartsWith("consumer,processed_at", StringComparison.Ordinal));
    }

    private async Task<bool> WaitForLockWaitAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var waiting = await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE datname = '{_db.Name}' AND wait_event_type = 'Lock'");
            if (waiting > 0)
            {
                return true;
            }

            await Task.Delay(20, Ct);
        }

        return false;
    }

    private static void Record(ConcurrentDictionary<string, ConcurrentBag<HandleResult>> results, string json, HandleResult result) =>
        results.GetOrAdd(ConsumedEvent.FromCloudEventJson(json).Id, _ => []).Add(result);

    /// <summary>Four events per order: placed, shipped, a re-placement (amount change) and a cancellation.</summary>
    private static List<string> OrderEvents(int orders)
    {
        var list = new List<string>();
        for (var i = 0; i < orders; i++)
        {
            var order = (1000 + i).ToString(CultureInfo.InvariantCulture);
            list.Add(Placed($"{order}-1", order, "12.50"));
            list.Add(Event($"{order}-2", "OrderShipped", order, $"{{\"orderId\":\"{order}\",\"shippedOn\":\"2026-11-25\"}}"));
            list.Add(Placed($"{order}-3", order, "13.75"));
            list.Add(Event($"{order}-4", "OrderCancelled", order, $"{{\"orderId\":\"{order}\",\"previousStatus\":\"SHIPPED\"}}"));
        }

        return list;
    }

    private static string Placed(string id, string order, string total) =>
        Event(id, "OrderPlaced", order, $"{{\"orderId\":\"{order}\",\"customerId\":\"C0000001\",\"total\":\"{total}\"}}");

    private static string Event(string id, string type, string subject, string data) =>
        $"{{\"specversion\":\"1.0\",\"id\":\"{id}\",\"source\":\"/cdcpipeline/test/public.tb_ord_mst\",\"type\":\"{type}\",\"subject\":\"{subject}\",\"datacontenttype\":\"application/json\",\"data\":{data}}}";
}
