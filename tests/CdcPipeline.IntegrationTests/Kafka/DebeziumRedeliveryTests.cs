using System.Text.Json;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// What Debezium really writes, through the whole pipeline with the sample's rules: Kafka Connect delivers at least
/// once, so after a worker crash the connector writes records again that the topics already hold; and a delete in a
/// table without primary key (tb_aud_log) is followed by a tombstone with neither key nor value.
/// </summary>
public sealed class DebeziumRedeliveryTests(KafkaFixture kafka) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cdc-redelivery-");

    [Fact]
    public async Task Records_Debezium_writes_again_after_a_crash_make_events_with_the_same_ids()
    {
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var records = KafkaRecords.Sample(prefix);

        // The first delivery, then Connect restarts from an older committed offset and writes all of it again.
        for (var pass = 0; pass < 2; pass++)
        {
            foreach (var r in records)
            {
                await kafka.ProduceAsync(r.Topic!, r.Key?.ToArray(), r.Value?.ToArray(), partition: 0);
            }
        }

        var (events, decodeLetters) = await RunAsync(prefix, expectedReads: 2 * records.Count);

        Assert.NotEmpty(events);
        var ids = events.Select(e => e.GetProperty("id").GetString()!).ToList();
        Assert.All(ids.GroupBy(id => id), g => Assert.Equal(2, g.Count()));
        Assert.Empty(decodeLetters);
    }

    [Fact]
    public async Task The_tombstone_after_a_delete_in_a_table_without_key_is_not_dead_lettered()
    {
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var audit = Assert.Single(KafkaRecords.Sample(prefix), r => r.Topic == prefix + ".public.tb_aud_log");
        Assert.Null(audit.Key);
        await kafka.ProduceAsync(audit.Topic!, (byte[]?)null, audit.Value?.ToArray(), partition: 0);
        await kafka.ProduceAsync(audit.Topic!, (byte[]?)null, null, partition: 0);

        var (_, decodeLetters) = await RunAsync(prefix, expectedReads: 2);

        Assert.Empty(decodeLetters);
    }

    private async Task<(List<JsonElement> Events, string[] DecodeLetters)> RunAsync(string prefix, int expectedReads)
    {
        var configPath = Path.Combine(_dir.FullName, "pipeline.yaml");
        var rules = Path.Combine(KafkaRecords.SampleDirectory, "..", "rules");
        await File.WriteAllTextAsync(configPath, $$"""
            name: redelivery
            source:
              kafka:
                bootstrapServers: "{{kafka.BootstrapServers}}"
                groupId: {{kafka.Unique("g")}}
                format: json
                consumer:
                  session.timeout.ms: "6000"
                debezium:
                  topicPrefix: {{prefix}}
                  tables: [public.tb_cust_mst, public.tb_ord_mst, public.tb_ord_dtl, public.tb_aud_log]
            rules: "{{rules}}"
            sinks:
              - name: out
                file: { path: out/events.jsonl }
            deadLetter:
              path: out/dead-letters.jsonl
            """, TestContext.Current.CancellationToken);

        var services = new ServiceCollection().AddCdcPipeline().BuildServiceProvider();
        var configuration = PipelineConfiguration.Load(configPath, _ => null);
        await using (var pipeline = PipelineBuilder.Build(configuration, services))
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            var run = pipeline.Runner.RunAsync(cts.Token);
            await KafkaChangeSourceTests.WaitForAsync(() => pipeline.Runner.ChangesRead >= expectedReads, TimeSpan.FromSeconds(60));
            await cts.CancelAsync();
            await run;
        }

        var output = Path.Combine(_dir.FullName, "out", "events.jsonl");
        var events = File.Exists(output)
            ? File.ReadAllLines(output).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList()
            : [];
        var letters = Path.Combine(_dir.FullName, "out", "dead-letters.decode.jsonl");
        return (events, File.Exists(letters) ? File.ReadAllLines(letters) : []);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
