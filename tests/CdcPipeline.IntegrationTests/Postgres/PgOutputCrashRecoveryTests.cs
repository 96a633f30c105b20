using CdcPipeline.Core.Changes;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// The capture side of "kill the pipeline at random moments": during 20k row updates, the source is abandoned
/// (no final acknowledgement, unacknowledged events in flight) at random points, at least three times, and
/// re-opened. Per key every version must arrive, in order; duplicates only as exact repeats of a delivery.
/// </summary>
public sealed class PgOutputCrashRecoveryTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private const int Keys = 100;
    private const int Transactions = 2000;
    private const int KeysPerTransaction = 10;

    [Fact]
    public async Task Abandoned_sources_resume_without_loss_and_repeat_only_identically()
    {
        await Db.ExecuteAsync($"CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL); INSERT INTO kv SELECT g, 0 FROM generate_series(1, {Keys}) g");
        var random = new Random(7);
        var reader = await OpenStreamingAsync(Options(["public.kv"]));

        var writer = Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(Db.ConnectionString);
            await connection.OpenAsync(Ct);
            var r = new Random(11);
            for (var t = 0; t < Transactions; t++)
            {
                var ids = Enumerable.Range(1, Keys).OrderBy(_ => r.Next()).Take(KeysPerTransaction);
                await using var cmd = new NpgsqlCommand($"UPDATE kv SET v = v + 1 WHERE id IN ({string.Join(',', ids)})", connection);
                await cmd.ExecuteNonQueryAsync(Ct);
            }

            await using var end = new NpgsqlCommand("SELECT pg_logical_emit_message(false, 'test-end', '')", connection);
            await end.ExecuteNonQueryAsync(Ct);
        }, Ct);

        var delivered = new Dictionary<SourcePosition, string>();
        var versions = new Dictionary<long, List<long>>();
        SourcePosition? highest = null;
        var crashes = 0;
        var finished = false;
        while (!finished)
        {
            // a run reads a random number of events, acknowledges a random prefix of them, and is abandoned
            var budget = crashes < 3 ? random.Next(1500, 5000) : int.MaxValue;
            var unacknowledged = new List<ChangeEvent>();
            for (var n = 0; n < budget && !finished; n++)
            {
                var e = await reader.NextAsync(TimeSpan.FromSeconds(60)) ?? throw new TimeoutException($"no event after {delivered.Count} distinct deliveries");
                if (e.Message?.Prefix == "test-end")
                {
                    finished = true;
                    break;
                }

                if (e.Kind != ChangeKind.Change)
                {
                    continue;
                }

                if (delivered.TryGetValue(e.Position, out var earlier))
                {
                    Assert.Equal(earlier, e.ToString());
                }
                else
                {
                    Assert.True(highest is null || e.Position > highest.Value, $"new position {e.Position} after {highest}");
                    highest = e.Position;
                    delivered[e.Position] = e.ToString();
                    var id = Convert.ToInt64(e.After!["id"]);
                    (versions.TryGetValue(id, out var list) ? list : versions[id] = []).Add(Convert.ToInt64(e.After["v"]));
                }

                unacknowledged.Add(e);
                if (random.Next(4) == 0)
                {
                    await reader.AcknowledgeAsync(unacknowledged);
                    unacknowledged.Clear();
                }
            }

            if (!finished)
            {
                crashes++;
                await reader.DisposeAsync();
                reader = Open(Options(["public.kv"]));
            }
        }

        await writer;
        Assert.True(crashes >= 3);
        var table = (await Db.QueryAsync("SELECT id, v FROM kv")).ToDictionary(r => Convert.ToInt64(r[0]), r => Convert.ToInt64(r[1]));
        Assert.Equal(Transactions * KeysPerTransaction, delivered.Count);
        foreach (var (id, final) in table)
        {
            Assert.Equal(Enumerable.Range(1, (int)final).Select(v => (long)v), versions[id]);
        }
    }
}
