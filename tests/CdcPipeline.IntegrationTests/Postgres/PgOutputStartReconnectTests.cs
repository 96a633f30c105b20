using CdcPipeline.Core.Changes;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// A connection lost in the start's checks (after the slot was looked up, before streaming): retried as a reconnect is, within
/// maxReconnectAttempts, not a failed start with the driver's bare message. The cut is real: the start's own backends are
/// terminated (pg_terminate_backend, 57P01) at the test seam right after the slot lookup. The tests' databases do not pool;
/// these do, as Npgsql does by default, so the start's next query runs on the connection the server terminated (as after a
/// server restart between two of the checks).
/// </summary>
public sealed class PgOutputStartReconnectTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    /// <summary>Terminates the capture's ordinary connections (application_name cdcpipeline) and waits until they are gone.</summary>
    private async Task TerminateStartConnectionsAsync()
    {
        const string Of = "FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' " +
                          "AND application_name = 'cdcpipeline' AND pid <> pg_backend_pid()";
        await Db.ExecuteAsync("SELECT pg_terminate_backend(pid) " + Of);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await Db.ScalarAsync<long>("SELECT count(*) " + Of) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the capture's connections did not end");
            await Task.Delay(20, Ct);
        }
    }

    private PostgresSourceOptions PooledOptions(string[] tables) =>
        Options(tables) with { ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Pooling = true }.ConnectionString };

    private List<string> Warnings(string containing)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal) && l.Contains(containing, StringComparison.Ordinal)).ToList();
        }
    }

    [Fact]
    public async Task A_connection_lost_in_the_start_checks_is_retried_and_the_source_streams_what_was_written_while_stopped()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var options = PooledOptions(["public.t"]);
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();
        await Db.ExecuteAsync("INSERT INTO t VALUES (1)"); // while stopped: the slot holds it

        var lookups = 0;
        var reader = Open(new PgOutputChangeSource(options, Logs)
        {
            AfterSlotLookup = async _ =>
            {
                if (Interlocked.Increment(ref lookups) == 1)
                {
                    await TerminateStartConnectionsAsync();
                }
            },
        });

        // before the fix: the start failed with Npgsql's "57P01: terminating connection due to administrator command"
        var changes = await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(30));
        await Db.ExecuteAsync("INSERT INTO t VALUES (2)");
        changes.AddRange(await reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(30)));

        Assert.Equal(["1", "2"], changes.Where(e => e.Kind == ChangeKind.Change).Select(e => e.After!["id"]!.ToString()));
        Assert.Equal(2, lookups); // the checks ran again after the cut
        var warning = Assert.Single(Warnings("lost while replication slot"));
        Assert.Contains(Db.Slot, warning, StringComparison.Ordinal);
        Assert.Contains("attempt 1", warning, StringComparison.Ordinal);
        Assert.True(((PgOutputChangeSource)reader.Source).IsConnected);
    }

    [Fact]
    public async Task A_start_whose_connection_is_lost_at_every_attempt_gives_up_with_the_reconnect_message()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var options = PooledOptions(["public.t"]) with { MaxReconnectAttempts = 2, ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) };
        var first = await OpenStreamingAsync(options);
        await first.DisposeAsync();

        var lookups = 0;
        var reader = Open(new PgOutputChangeSource(options, Logs)
        {
            AfterSlotLookup = async _ =>
            {
                Interlocked.Increment(ref lookups);
                await TerminateStartConnectionsAsync();
            },
        });

        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));

        // before the fix: the first cut ended the start with the driver's message, without a retry
        Assert.Contains($"replication slot '{Db.Slot}': gave up after 2 failed reconnects", e.Message, StringComparison.Ordinal);
        Assert.Contains("; the last one: ", e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<NpgsqlException>(e.InnerException); // 57P01, or the socket's error when the write sees the close first
        Assert.Contains("maxReconnectAttempts", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, lookups);
        Assert.Equal(2, Warnings("lost while replication slot").Count);
    }

    [Fact]
    public async Task A_server_the_start_never_reached_stops_it_at_once_naming_the_server()
    {
        // not a lost connection: the connection string is what to check (run says so, naming its key), not a retry for ever
        var unreachable = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Host = "127.0.0.1", Port = 1, Timeout = 5 }.ConnectionString;
        var reader = Open(Options(["public.t"]) with { ConnectionString = unreachable });

        var e = await Assert.ThrowsAnyAsync<NpgsqlException>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("127.0.0.1:1", e.Message, StringComparison.Ordinal);
        Assert.Empty(Warnings("lost while replication slot"));
    }

    [Fact]
    public async Task A_configuration_error_at_start_still_stops_at_once_without_a_retry()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var reader = Open(PooledOptions(["public.t", "public.nope"]) with { MaxReconnectAttempts = 5 });

        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.NextAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("public.nope", e.Message, StringComparison.Ordinal);
        Assert.Contains("source.postgres.tables", e.Message, StringComparison.Ordinal);
        Assert.Empty(Warnings("lost while replication slot"));
    }
}
