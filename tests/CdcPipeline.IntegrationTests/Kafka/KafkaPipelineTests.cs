using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.DeadLetters;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>The whole pipeline from its YAML: Debezium topics (derived from the debezium: section) → translator → Kafka domain topics, poison → DLQ topic.</summary>
public sealed class KafkaPipelineTests(KafkaFixture kafka)
{
    [Fact]
    public async Task A_configured_pipeline_turns_Debezium_topics_into_domain_topics_and_dead_letters_poison()
    {
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var records = KafkaRecords.Sample(prefix);
        foreach (var r in records)
        {
            await kafka.ProduceAsync(r.Topic!, r.Key?.ToArray(), r.Value?.ToArray(), partition: 0);
        }

        var ordTopic = prefix + ".public.tb_ord_mst";
        await kafka.ProduceAsync(ordTopic, "{\"ord_no\":1}"u8.ToArray(), "not json at all"u8.ToArray(), partition: 0);
        var domain = kafka.Unique("domain");
        var dlq = kafka.Unique("dlq");
        var dir = Directory.CreateTempSubdirectory("cdc-kafka-");
        var configPath = Path.Combine(dir.FullName, "pipeline.yaml");
        await File.WriteAllTextAsync(configPath, $$"""
            name: kafka-e2e
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
            sinks:
              - name: domain
                kafka: { bootstrapServers: "{{kafka.BootstrapServers}}", topic: "{{domain}}.{aggregate}" }
            deadLetter:
              topic: {{dlq}}
            """, TestContext.Current.CancellationToken);

        var services = new ServiceCollection().AddCdcCore().AddCdcKafka().AddSingleton<ITranslatorProvider, TestTranslator>().BuildServiceProvider();
        var configuration = PipelineConfiguration.Load(configPath, _ => null);
        var expectedChanges = KafkaRecords.ExpectedDecode().Count(l => l.StartsWith("{\"kind\":\"change\"", StringComparison.Ordinal));
        await using (var pipeline = PipelineBuilder.Build(configuration, services))
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            var run = pipeline.Runner.RunAsync(cts.Token);
            await KafkaChangeSourceTests.WaitForAsync(() => pipeline.Runner.EventsDelivered >= expectedChanges && pipeline.Runner.ChangesRead >= records.Count + 1, TimeSpan.FromSeconds(60));
            await cts.CancelAsync();
            await run;
        }

        var orders = kafka.ReadAll(domain + ".tb_ord_mst", 7);
        Assert.Equal(records.Count(r => r.Topic == ordTopic && r.Value is not null), orders.Count); // the tombstone carries no event
        foreach (var order in orders)
        {
            using var json = JsonDocument.Parse(order.Message.Value!);
            Assert.Equal("tb_ord_mstChanged", json.RootElement.GetProperty("type").GetString());
            Assert.Equal(Encoding.UTF8.GetString(order.Message.Key!), json.RootElement.GetProperty("subject").GetString());
        }

        var letter = Assert.Single(kafka.ReadAll(dlq, 1));
        Assert.Equal("not json at all", Encoding.UTF8.GetString(letter.Message.Value!));
        Assert.Equal(ordTopic, Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(DeadLetterHeaders.OriginalTopic)));
        Assert.Equal("decode", Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(DeadLetterHeaders.Stage)));
        dir.Delete(recursive: true);
    }
}
