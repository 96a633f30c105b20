using System.Text;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using RuleSet = CdcPipeline.Core.Translation.Rules.RuleSet;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Tests.Avro;
using CdcPipeline.Tests.Debezium;
using CdcPipeline.Tests.Pipeline;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Tests.Kafka;

/// <summary>
/// The Kafka source checks the rules' expressions against the column types a record's schema gives (JSON with schemas, Avro)
/// the first time it decodes a record of that schema: the embedded capture's start check (event 1117), which the Kafka path
/// lacked, so that `after.v > "2024-01-01"` on a timestamp dead-lettered every change without a word before.
/// </summary>
public sealed class KafkaRuleTypeCheckTests : IDisposable
{
    private const string MicroTimestamp = """{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1}""";

    private readonly PipelineYaml _yaml = new();
    private readonly TranslationFailureLogTests.RecordedLogs _logs = new(LogLevel.Debug);

    public void Dispose() => _yaml.Dispose();

    private KafkaChangeSource Source(string when, string format = "json", ISchemaRegistryClient? registry = null)
    {
        var rules = RuleSet.Parse([("t.yaml", $"table: public.t\nevents:\n  - type: Seen\n    when: '{when}'\n    data:\n      v: after.v\n")]);
        var context = _yaml.Context($$"""
            name: t
            source:
              kafka:
                bootstrapServers: "127.0.0.1:9"
                format: {{format}}
                schemaRegistryUrl: "http://127.0.0.1:9"
                topics: [srv.public.t]
            sinks:
              - name: out
                file: { path: out.jsonl }
            """, "kafka", "source:kafka");
        var services = new ServiceCollection().AddCdcCore().AddCdcKafka().AddSingleton<ILoggerFactory>(_logs);
        if (registry is not null)
        {
            services.AddSingleton(registry);
        }

        return (KafkaChangeSource)new KafkaSourceFactory().Create(context with { Services = services.BuildServiceProvider(), RuleFiles = rules.Files });
    }

    private static DebeziumRecord Record(string value, long offset) =>
        new() { Topic = "srv.public.t", Partition = 0, Offset = offset, Value = Encoding.UTF8.GetBytes(value) };

    private List<string> Warnings() => _logs.Records.Where(r => r.EventId == 1117).Select(r => r.Message).ToList();

    [Fact]
    public async Task A_rule_comparing_a_timestamp_column_with_text_is_named_at_the_first_record_of_its_schema_and_once()
    {
        await using var source = Source("after.v > \"2024-01-01\"");
        var value = DebeziumJson.Value(MicroTimestamp, "1704067200123456");

        for (var offset = 0; offset < 3; offset++)
        {
            await source.Decoder.DecodeAsync(Record(value, offset), TestContext.Current.CancellationToken);
        }

        var warning = Assert.Single(Warnings());
        Assert.Contains("rule t#Seen (t.yaml:4:", warning, StringComparison.Ordinal);
        Assert.Contains("compares a timestamp (after.v, int64 io.debezium.time.MicroTimestamp) with text (\"2024-01-01\")", warning, StringComparison.Ordinal);
        Assert.Contains("given the column types of public.t", warning, StringComparison.Ordinal);
        Assert.Contains("timestamp(\"20240301081530\", \"yyyyMMddHHmmss\")", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_that_fits_the_column_types_and_a_record_without_schema_give_no_warning()
    {
        await using var right = Source("after.v > timestamp(\"20240101\", \"yyyyMMdd\")");
        await right.Decoder.DecodeAsync(Record(DebeziumJson.Value(MicroTimestamp, "1704067200123456"), 0), TestContext.Current.CancellationToken);

        // schemas.enable=false: the record says nothing of its columns' types, so there is nothing to check
        await using var schemaless = Source("after.v > \"2024-01-01\"");
        var bare = """{"before":null,"after":{"v":1704067200123456},"source":""" + DebeziumJson.Source + ""","op":"c","ts_ms":1709280000500}""";
        await schemaless.Decoder.DecodeAsync(Record(bare, 0), TestContext.Current.CancellationToken);

        Assert.Empty(Warnings());
    }

    [Fact]
    public async Task A_changed_schema_is_checked_again()
    {
        await using var source = Source("after.v == 5");
        await source.Decoder.DecodeAsync(Record(DebeziumJson.Value("""{"type":"int32","optional":true}""", "5"), 0), TestContext.Current.CancellationToken);
        Assert.Empty(Warnings());

        // the column became text (ALTER TABLE … TYPE varchar): the next record carries the new schema
        await source.Decoder.DecodeAsync(Record(DebeziumJson.Value("""{"type":"string","optional":true}""", "\"5\""), 1), TestContext.Current.CancellationToken);

        Assert.Contains("compares text (after.v, string) with a number (5)", Assert.Single(Warnings()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_avro_record_is_checked_against_its_writer_schema_once()
    {
        var avro = new DebeziumAvro();
        await using var source = Source("after.v > \"2024-01-01\"", "avro", avro.Registry);
        var bytes = await avro.SerializeAsync(DebeziumAvro.Envelope(
            """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}""", _ => 1704067200123456L));

        for (var offset = 0; offset < 3; offset++)
        {
            await source.Decoder.DecodeAsync(
                new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 0, Offset = offset, Value = bytes }, TestContext.Current.CancellationToken);
        }

        Assert.Contains("compares a timestamp (after.v, int64 io.debezium.time.MicroTimestamp) with text", Assert.Single(Warnings()), StringComparison.Ordinal);
    }
}
