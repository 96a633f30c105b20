using CdcPipeline.Core.Changes;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>Transactions larger than logical_decoding_work_mem arrive streamed while in progress (protocol v2).</summary>
public sealed class PgOutputStreamingTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    // 64kB is PostgreSQL's minimum: a few thousand rows exceed it and make the walsender stream the transaction.
    private CdcPipeline.Postgres.PostgresSourceOptions SmallWorkMem() => Options() with
    {
        ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Options = "-c logical_decoding_work_mem=64kB" }.ConnectionString,
    };

    private Task<long> StreamedTransactionsAsync() =>
        Db.ScalarAsync<long>($"SELECT COALESCE((SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '{Db.Slot}'), 0)");

    [Fact]
    public async Task Large_transaction_is_streamed_and_emitted_once_at_commit()
    {
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY, pad text)");
        var reader = await OpenStreamingAsync(SmallWorkMem());

        await Db.ExecuteAsync("INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
        var events = await reader.TakeAsync(5000, timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(Enumerable.Range(1, 5000).Select(i => (long)i), events.Select(e => Convert.ToInt64(e.After!["id"])));
        Assert.Single(events.Select(e => e.Position.Major).Distinct());
        Assert.Equal(Enumerable.Range(0, 5000).Select(i => (long)i), events.Select(e => e.Position.Minor));
        Assert.True(await StreamedTransactionsAsync() > 0, "the transaction was not streamed: logical_decoding_work_mem did not apply");
    }

    [Fact]
    public async Task Aborted_streamed_transaction_and_rolled_back_savepoint_emit_nothing()
    {
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY, pad text)");
        var reader = await OpenStreamingAsync(SmallWorkMem());

        await using (var connection = new NpgsqlConnection(Db.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var cmd = new NpgsqlCommand(
                "BEGIN; INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g; ROLLBACK;" +
                "BEGIN; INSERT INTO big SELECT g, repeat('y', 100) FROM generate_series(10001, 13000) g;" +
                "SAVEPOINT s; INSERT INTO big SELECT g, repeat('z', 100) FROM generate_series(20001, 23000) g; ROLLBACK TO SAVEPOINT s;" +
                "INSERT INTO big VALUES (30000, 'last'); COMMIT;", connection);
            await cmd.ExecuteNonQueryAsync(Ct);
        }

        await Db.ExecuteAsync("INSERT INTO big VALUES (40000, 'after')");
        var events = await reader.TakeUntilAsync(e => e.After is { } a && Convert.ToInt64(a["id"]) == 40000, TimeSpan.FromSeconds(60));

        var ids = events.Where(e => e.Kind == ChangeKind.Change).Select(e => Convert.ToInt64(e.After!["id"])).ToList();
        Assert.Equal(Enumerable.Range(10001, 3000).Select(i => (long)i).Append(30000).Append(40000), ids);
        Assert.True(await StreamedTransactionsAsync() > 0, "no transaction was streamed: logical_decoding_work_mem did not apply");
    }

    [Fact]
    public async Task Transaction_sent_at_commit_is_handed_out_as_it_arrives_and_a_reconnect_midway_repeats_nothing()
    {
        const int Rows = 100_000; // ~25 MB of pgoutput: far more than the socket buffers hold
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY, pad text)");
        // enough work memory for the walsender to decode the transaction in memory and send it whole at COMMIT
        var reader = await OpenStreamingAsync(Options() with
        {
            ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Options = "-c logical_decoding_work_mem=1GB" }.ConnectionString,
        });
        await Db.ExecuteAsync($"INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, {Rows}) g");

        // Handed out before the COMMIT arrived: the reader pulls one at a time, so the walsender now waits on a
        // full socket in the middle of the transaction. Cut it off there: PostgreSQL re-sends from the BEGIN.
        var first = await reader.TakeAsync(1000, timeout: TimeSpan.FromSeconds(60));
        await Db.ExecuteAsync($"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}' AND active_pid IS NOT NULL");
        var rest = await reader.TakeAsync(Rows - 1000, timeout: TimeSpan.FromSeconds(120));

        Assert.Contains(Logs.Lines, l => l.Contains("reconnecting", StringComparison.Ordinal));
        var all = first.Concat(rest).ToList();
        Assert.Equal(Enumerable.Range(1, Rows).Select(i => (long)i), all.Select(e => Convert.ToInt64(e.After!["id"])));
        Assert.Single(all.Select(e => e.Position.Major).Distinct());
        Assert.Equal(Enumerable.Range(0, Rows).Select(i => (long)i), all.Select(e => e.Position.Minor));
        Assert.Equal(0, await StreamedTransactionsAsync());
        Assert.Null(await reader.NextAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task With_streaming_off_PostgreSQL_spills_the_large_transaction_itself_and_sends_it_at_commit()
    {
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY, pad text)");
        var reader = await OpenStreamingAsync(SmallWorkMem() with { Streaming = false });

        await Db.ExecuteAsync("INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
        var events = await reader.TakeAsync(5000, timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(Enumerable.Range(1, 5000).Select(i => (long)i), events.Select(e => Convert.ToInt64(e.After!["id"])));
        Assert.Equal(Enumerable.Range(0, 5000).Select(i => (long)i), events.Select(e => e.Position.Minor));
        Assert.Equal(0, await StreamedTransactionsAsync());
        Assert.True(
            await Db.ScalarAsync<long>($"SELECT COALESCE((SELECT spill_txns FROM pg_stat_replication_slots WHERE slot_name = '{Db.Slot}'), 0)") > 0,
            "the transaction was not spilled by the walsender: logical_decoding_work_mem did not apply");
    }

    [Fact]
    public async Task A_streamed_transaction_beyond_the_memory_limit_falls_back_to_spilling_and_loses_nothing()
    {
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY, pad text)");
        var reader = await OpenStreamingAsync(SmallWorkMem() with { MaxStreamedTransactionChanges = 1000 });
        await Db.ExecuteAsync("INSERT INTO big VALUES (0, 'before')");

        await Db.ExecuteAsync("INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
        await Db.ExecuteAsync("INSERT INTO big VALUES (5001, 'after')");
        var events = await reader.TakeAsync(5002, timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(Enumerable.Range(0, 5002).Select(i => (long)i), events.Select(e => Convert.ToInt64(e.After!["id"])));
        var big = events.Skip(1).Take(5000).ToList();
        Assert.Single(big.Select(e => e.Position.Major).Distinct());
        Assert.Equal(Enumerable.Range(0, 5000).Select(i => (long)i), big.Select(e => e.Position.Minor));
        Assert.Contains(Logs.Lines, l => l.Contains("without streaming", StringComparison.Ordinal));
        Assert.True(await StreamedTransactionsAsync() > 0, "the transaction was not streamed at first");
        Assert.True(
            await Db.ScalarAsync<long>($"SELECT COALESCE((SELECT spill_txns FROM pg_stat_replication_slots WHERE slot_name = '{Db.Slot}'), 0)") > 0,
            "after the fall-back PostgreSQL did not spill the transaction");
        Assert.Null(await reader.NextAsync(TimeSpan.FromMilliseconds(300)));
    }
}
