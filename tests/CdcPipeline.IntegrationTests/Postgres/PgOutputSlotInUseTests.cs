using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// The same configuration started twice (or an old pod still streaming during a deploy): PostgreSQL lets one
/// walsender hold a slot and refuses START_REPLICATION to the second with 55006 "replication slot … is active for PID n".
/// </summary>
public sealed class PgOutputSlotInUseTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task A_second_source_on_a_slot_another_process_streams_from_names_the_holder_and_stops_after_its_reconnect_attempts()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)");
        var first = await OpenStreamingAsync(Options() with
        {
            ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { ApplicationName = "first-instance" }.ConnectionString,
        });
        var holderPid = 0;
        await using (var connection = new NpgsqlConnection(Db.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (holderPid == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the first source did not start streaming in time");
                await using var cmd = new NpgsqlCommand("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", connection);
                cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Db.Slot });
                holderPid = await cmd.ExecuteScalarAsync(Ct) is int pid ? pid : 0;
                await Task.Delay(holderPid == 0 ? 20 : 0, Ct);
            }
        }

        var logs = new TestOutputLoggerFactory();
        var second = Open(new PgOutputChangeSource(Options() with { MaxReconnectAttempts = 2, ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) }, logs));

        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => second.NextAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains($"replication slot '{Db.Slot}' is in use by another process", e.Message, StringComparison.Ordinal);
        Assert.Contains($"PID {holderPid}", e.Message, StringComparison.Ordinal);
        Assert.Contains("first-instance", e.Message, StringComparison.Ordinal);
        Assert.Contains("cdcpipeline slot list", e.Message, StringComparison.Ordinal);
        var warnings = logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count(l => l.Contains($"PID {holderPid}", StringComparison.Ordinal) && l.Contains("first-instance", StringComparison.Ordinal)));
        Assert.DoesNotContain(warnings, l => l.Contains(" | ", StringComparison.Ordinal)); // an expected condition: no exception attached
        Assert.DoesNotContain(logs.Lines, l => l.Contains("Streaming from slot", StringComparison.Ordinal)); // the server never accepted it

        // the holder goes on undisturbed
        await Db.ExecuteAsync("INSERT INTO t VALUES (1)");
        Assert.Equal("1", (await first.TakeAsync(1)).Single().After!["id"]!.ToString());
    }
}
