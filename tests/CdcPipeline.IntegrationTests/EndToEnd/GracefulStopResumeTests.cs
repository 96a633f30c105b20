using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// A rule author's walkthrough: a change is dead-lettered (or delivered), <c>run</c> gets SIGTERM seconds later, the
/// PostgreSQL server is stopped with scripts/pg-stop.sh (a clean, fast shutdown) and started again, and so is <c>run</c>.
/// The change was acknowledged and confirmed to the slot before the stop, so it must not be read again. PostgreSQL 15 keeps
/// a slot's confirmed_flush_lsn in memory only, unless its restart_lsn moved too (the walsender leaves tracking the progress
/// to the client): after the server's restart the slot may stand before the change, and only the state file knows better.
/// </summary>
public sealed class GracefulStopResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-stop-resume-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("S", "dead-lettered")]
    [InlineData("7", "delivered")]
    public async Task A_change_acknowledged_before_SIGTERM_is_not_read_again_after_the_server_and_the_pipeline_restart(string value, string outcome)
    {
        await using var cluster = await PrivateCluster.StartAsync("ack-" + outcome, new Dictionary<string, string>(), Ct);
        var db = cluster.Db;
        await db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL)");
        Directory.CreateDirectory(Path.Combine(_dir, "rules"));
        // integer() refuses 'S': that change fails its rule and is dead-lettered; every other change makes one event.
        await File.WriteAllTextAsync(Path.Combine(_dir, "rules", "kv.yaml"), """
            table: public.kv
            aggregate: Kv
            key: id
            events:
              - type: KvWritten
                when: op == "c"
                data:
                  v: integer(after.v)
            """, Ct);
        var config = Path.Combine(_dir, "pipeline.yaml");
        // No heartbeats: nothing else is confirmed after the change, as in the walkthrough's few seconds before the stop.
        await File.WriteAllTextAsync(config, $"""
            name: stop-resume
            source:
              postgres:
                connectionString: "{db.ConnectionString}"
                publication: {db.Publication}
                slot: {db.Slot}
                tables: [public.kv]
                snapshot: never
                stateDirectory: state
                heartbeatInterval: "00:00:00"
            rules: rules
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            deadLetter: {"{"} path: dead.jsonl {"}"}
            """, Ct);
        var events = Path.Combine(_dir, "events.jsonl");
        var letters = Path.Combine(_dir, "dead.jsonl");
        ulong confirmed; // the slot's confirmed_flush_lsn once the change was acknowledged, before the stop

        using (var first = PipelineProcess.Start("run", "--config", config))
        {
            await WaitUntilAsync(() => Task.FromResult(first.Log.Contains("Starting replication from slot", StringComparison.Ordinal)), first);

            await WaitConfirmedAsync(db, "INSERT INTO kv VALUES (1, '1')", first);
            confirmed = await WaitConfirmedAsync(db, $"INSERT INTO kv VALUES (2, '{value}')", first);
            TestContext.Current.TestOutputHelper?.WriteLine($"confirmed_flush_lsn before the stop: {confirmed:X}");

            Assert.True(await first.TerminateAsync(TimeSpan.FromSeconds(60)) == 0, $"first run; log:\n{first.Log}");
        }

        await cluster.RestartAsync();
        var restarted = await db.ConfirmedFlushAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"confirmed_flush_lsn after the server's restart: {restarted:X}");

        using (var second = PipelineProcess.Start("run", "--config", config))
        {
            await WaitUntilAsync(() => Task.FromResult(second.Log.Contains("Starting replication from slot", StringComparison.Ordinal)), second);
            // Once row 3 is in the file, everything before it was read (and would have been written) again.
            await db.ExecuteAsync("INSERT INTO kv VALUES (3, '3')");
            await WaitUntilAsync(async () => File.Exists(events) && (await File.ReadAllTextAsync(events, Ct)).Contains("\"v\":3", StringComparison.Ordinal), second);
            Assert.True(await second.TerminateAsync(TimeSpan.FromSeconds(60)) == 0, $"second run; log:\n{second.Log}");

            var written = (await File.ReadAllLinesAsync(events, Ct)).Where(l => l.Length > 0).ToList();
            var dead = File.Exists(letters) ? (await File.ReadAllLinesAsync(letters, Ct)).Where(l => l.Length > 0).ToList() : [];
            var expected = outcome == "delivered" ? new[] { 1, 7, 3 } : [1, 3];
            Assert.True(expected.Length == written.Count, $"events written:\n{string.Join('\n', written)}\nsecond run's log:\n{second.Log}");
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.Contains($"\"v\":{expected[i]}", written[i], StringComparison.Ordinal);
            }

            Assert.True((outcome == "dead-lettered" ? 1 : 0) == dead.Count, $"dead letters:\n{string.Join('\n', dead)}\nsecond run's log:\n{second.Log}");
            if (restarted < confirmed)
            {
                // the server lost the confirmation (PostgreSQL 15 did in every run seen): the start says where it resumes and why
                Assert.Contains("Resuming slot " + db.Slot + " at ", second.Log, StringComparison.Ordinal);
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="sql"/> and waits until the slot confirmed its commit (the pipeline acknowledged it and told the
    /// server): past the WAL position from before it, which only a later commit's end is.
    /// </summary>
    private static async Task<ulong> WaitConfirmedAsync(PostgresTestDatabase db, string sql, PipelineProcess pipeline)
    {
        var before = (ulong)await db.ScalarAsync<long>("SELECT (pg_current_wal_lsn() - '0/0')::bigint");
        await db.ExecuteAsync(sql);
        ulong confirmed = 0;
        await WaitUntilAsync(async () => (confirmed = await db.ConfirmedFlushAsync()) > before, pipeline);
        return confirmed;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, PipelineProcess pipeline)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not reached; pipeline log:\n{pipeline.Log}");
            Assert.False(pipeline.HasExited, $"the pipeline exited; log:\n{pipeline.Log}");
            await Task.Delay(200, Ct);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
