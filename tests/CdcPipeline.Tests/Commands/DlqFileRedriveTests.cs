using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Avro.Generic;
using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Hosting;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Postgres.Types;
using CdcPipeline.Sinks.Failures;
using CdcPipeline.Tests.Avro;
using CdcPipeline.Tests.Support;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Commands;

/// <summary>
/// <c>dlq redrive --config F</c> of a pipeline whose dead letters are a file (deadLetter.path): a <c>translate</c> letter is
/// translated again into exactly the events <c>run</c> would have made of its change — the embedded path's change with its
/// values typed as the decoder typed them, a Kafka source's Debezium record (JSON or Avro) decoded as the source decoded it —
/// and <c>--max</c> takes the oldest letters and leaves the rest.
/// </summary>
public sealed class DlqFileRedriveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlq-redrive-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Letters => Path.Combine(_dir, "out", "dead.jsonl");

    private string Delivered => Path.Combine(_dir, "out", "events.jsonl");

    [Fact]
    public async Task A_translate_letter_of_the_embedded_path_gives_its_rules_the_values_typed_as_the_decoder_typed_them()
    {
        // Before: the letter's change came back with timestamps, dates and NUMERICs as text and a double as whatever its JSON
        // number read as, so `after.shp_dt > after.ord_dt` failed and `after.ord_amt + 1` made "150.001".
        var ct = TestContext.Current.CancellationToken;
        const string Broken = """
            table: public.tb_ord_mst
            aggregate: Order
            key: ord_no
            events:
              - type: OrderShipped
                when: op == "u" && after.shp_dt > after.ord_dt
                data:
                  orderId: after.ord_no
                  total: after.ord_amt + 1
                  rate: after.rate
                  shipOn: after.ship_on
                  paidAt: after.paid_at
                  missing: after.no_such_column
            """;
        var config = await ConfigAsync("source:\n  memory: {}", Broken, ct);

        // The row as the embedded capture types pgoutput's text (its own conversions, by type oid).
        static object? Pg(uint oid, string text) => PgTextValues.TryGetBuiltIn(oid)!(text);
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Update,
            Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst", Lsn = 4242, TxId = 77 },
            Position = SourcePosition.ForLsn("cdc_slot", 4242, 0),
            Key = Row.From(("ord_no", "K1")),
            After = Row.From(
                ("ord_no", "K1"),
                ("ord_amt", Pg(1700, "150.00")),
                ("ord_dt", Pg(1114, "2024-03-01 10:00:00")),
                ("shp_dt", Pg(1114, "2024-03-02 09:30:00.25")),
                ("rate", Pg(701, "1.0")),
                ("qty", Pg(21, "3")),
                ("ship_on", Pg(1082, "2024-03-05")),
                ("paid_at", Pg(1184, "2024-03-01 10:00:00.5+02")),
                ("flags", Pg(1560, "101")),
                ("memo_json", Pg(3802, "\"text in json\""))),
        };
        await RunAsync(config, change, ct);

        var fixedRules = Broken.Replace("\n      missing: after.no_such_column", "", StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(_dir, "rules", "orders.yaml"), fixedRules, ct);
        var (exit, output, errors) = await RedriveAsync(config, ct);
        Assert.True(exit == 0, $"exit {exit}: {output} {errors}");
        Assert.Contains("1 redriven, 0 failed again", errors, StringComparison.Ordinal);

        var expected = await TranslateAsync(config, change, ct);
        AssertDelivered(expected);
        var data = JsonNode.Parse(File.ReadAllLines(Delivered).Single())!["data"]!;
        Assert.Equal("151.00", data["total"]!.GetValue<string>());
        Assert.Equal("2024-03-05", data["shipOn"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_kafka_source_s_json_translate_letter_is_decoded_as_the_source_decoded_it_and_translated()
    {
        // Before: "failed again: the payload is not a canonical change" for every such letter.
        var ct = TestContext.Current.CancellationToken;
        var rules = await File.ReadAllTextAsync(Path.Combine(SamplesDirectory, "rules", "tb_ord_mst.yaml"), ct);
        var broken = rules.Replace("total: after.ord_amt", "total: after.ord_total", StringComparison.Ordinal);
        Assert.NotEqual(rules, broken);
        var config = await ConfigAsync("""
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topics: [legacy.public.tb_ord_mst]
                format: json
            """, broken, ct);

        // The sample's first order, as the Kafka source reads it (topic, partition, offset, key, headers) and decodes it.
        var line = File.ReadLines(Path.Combine(SamplesDirectory, "debezium", "changes.jsonl"))
            .Select((text, i) => KcatRecord.TryParse(Encoding.UTF8.GetBytes(text), i + 1)!)
            .First(r => r.Topic == "legacy.public.tb_ord_mst" && Encoding.UTF8.GetString(r.Value!.Value.Span).Contains("\"op\":\"c\"", StringComparison.Ordinal));
        var record = new DebeziumRecord
        {
            Topic = line.Topic,
            Partition = line.Partition,
            Offset = line.Offset,
            Key = line.Key,
            Value = line.Value,
            Headers = [new("trace", "t-1"u8.ToArray()), new("binary", [0xff, 0x00])],
        };
        var change = await new JsonRecordDecoder().DecodeAsync(record, ct);
        await RunAsync(config, change, ct);
        var letter = JsonNode.Parse(File.ReadAllLines(Letters).Single())!;
        Assert.Equal("translate", letter["stage"]!.GetValue<string>());
        Assert.NotNull(letter["key"]);
        Assert.Equal(2, letter["headers"]!.AsArray().Count);

        await File.WriteAllTextAsync(Path.Combine(_dir, "rules", "orders.yaml"), rules, ct);
        var (exit, output, errors) = await RedriveAsync(config, ct);
        Assert.True(exit == 0, $"exit {exit}: {output} {errors}");
        Assert.Contains("1 redriven, 0 failed again", errors, StringComparison.Ordinal);
        var expected = await TranslateAsync(config, change, ct);
        Assert.Equal("OrderPlaced", Assert.Single(expected).Type);
        AssertDelivered(expected);
    }

    [Fact]
    public async Task A_kafka_source_s_avro_translate_letter_is_decoded_with_the_schema_registry_and_translated()
    {
        var ct = TestContext.Current.CancellationToken;
        const string Broken = """
            table: public.t
            aggregate: Thing
            key: v
            events:
              - type: ThingSeen
                when: op == "c"
                data:
                  at: after.v
                  missing: after.no_such_column
            """;
        var config = await ConfigAsync("""
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topics: [srv.public.t]
                format: avro
                schemaRegistryUrl: "http://127.0.0.1:1"
            """, Broken, ct);
        var avro = new DebeziumAvro();
        var value = await avro.SerializeAsync(DebeziumAvro.Envelope(
            """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}""",
            _ => 1_709_280_000_123_456L));
        var record = new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 2, Offset = 41, Value = value };
        var change = await new AvroRecordDecoder(avro.Registry).DecodeAsync(record, ct);
        await RunAsync(config, change, ct);
        Assert.NotNull(JsonNode.Parse(File.ReadAllLines(Letters).Single())!["payloadBase64"]);

        await File.WriteAllTextAsync(Path.Combine(_dir, "rules", "orders.yaml"), Broken.Replace("\n      missing: after.no_such_column", "", StringComparison.Ordinal), ct);
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await DeadLetterFile.RedriveAsync(
            PipelineConfiguration.Load(config), new DeadLetterFile.Selection(null, null), again: false, dryRun: false, output, errors, ct,
            services => services.AddSingleton<ISchemaRegistryClient>(avro.Registry));
        Assert.True(exit == 0, $"exit {exit}: {output} {errors}");
        var expected = await TranslateAsync(config, change, ct);
        Assert.Equal("ThingSeen", Assert.Single(expected).Type);
        AssertDelivered(expected);
    }

    [Fact]
    public async Task Max_redrives_the_oldest_letters_and_says_how_many_remain()
    {
        var ct = TestContext.Current.CancellationToken;
        var config = await ConfigAsync("source:\n  memory: {}", null, ct);
        Directory.CreateDirectory(Path.GetDirectoryName(Letters)!);
        var events = Enumerable.Range(1, 5).Select(i => SinkEvent(i)).ToList();
        await File.WriteAllBytesAsync(Letters, [.. events.SelectMany(e => JsonLinesDeadLetterQueue.Serialize(new DeadLetter
        {
            Stage = "copy", Error = "disk full", EventId = e.Id, EventType = e.Type, Position = e.Position,
            Payload = Encoding.UTF8.GetBytes(Core.Json.EventJson.Serialize(e)), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1,
        }))], ct);

        var (exit, output, errors) = await RedriveAsync(config, ct, "--max", "2", "--dry-run");
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("3 more remain (--max 2)", errors, StringComparison.Ordinal);
        Assert.False(File.Exists(Delivered));

        (exit, output, errors) = await RedriveAsync(config, ct, "--max", "2");
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains("2 redriven, 0 failed again, 0 cannot be redriven, 0 already redriven; 3 more remain (--max 2)", errors, StringComparison.Ordinal);
        Assert.Equal(events.Take(2).Select(e => e.Id), DeliveredIds());

        (exit, _, errors) = await RedriveAsync(config, ct, "--max", "2");
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains("2 redriven, 0 failed again, 0 cannot be redriven, 2 already redriven; 1 more remain", errors, StringComparison.Ordinal);

        (exit, _, errors) = await RedriveAsync(config, ct, "--max", "2");
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains("1 redriven, 0 failed again, 0 cannot be redriven, 4 already redriven", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("remain", errors, StringComparison.Ordinal);
        Assert.Equal(events.Select(e => e.Id), DeliveredIds());
    }

    [Fact]
    public async Task Max_applies_to_a_dead_letter_file_only()
    {
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(["dlq", "redrive", "--topic", "cdc.dead-letters", "--bootstrap-servers", "127.0.0.1:1", "--max", "3"], output, errors, TestContext.Current.CancellationToken);
        Assert.Equal(2, exit);
        Assert.Contains("--max applies to a pipeline's deadLetter.path file only", errors.ToString(), StringComparison.Ordinal);
    }

    private static string SamplesDirectory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "samples", "legacy-orders")))
            {
                dir = dir.Parent;
            }

            return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("samples/legacy-orders above the test's directory"), "samples", "legacy-orders");
        }
    }

    private static DomainEvent SinkEvent(long i)
    {
        var output = new List<DomainEvent>(1);
        new StatusTranslator().Translate(InMemoryChangeSource.Change(i, "K" + i, "S"), output);
        return output[0];
    }

    private async Task<string> ConfigAsync(string source, string? rules, CancellationToken ct)
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        if (rules is not null)
        {
            Directory.CreateDirectory(Path.Combine(_dir, "rules"));
            await File.WriteAllTextAsync(Path.Combine(_dir, "rules", "orders.yaml"), rules, ct);
        }

        await File.WriteAllTextAsync(config, $"""
            name: dlq-redrive
            {source}
            {(rules is null ? "" : "rules: rules")}
            sinks:
              - name: copy
                file: {"{"} path: out/events.jsonl {"}"}
            deadLetter:
              path: out/dead.jsonl
            """, ct);
        return config;
    }

    /// <summary>The pipeline's runner with its translator as run builds it: the change becomes a translate letter in the file.</summary>
    private async Task RunAsync(string config, ChangeEvent change, CancellationToken ct)
    {
        var configuration = PipelineConfiguration.Load(config);
        await using var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider();
        var copy = ConfiguredSinks.Create(configuration, services, "copy");
        var letters = new JsonLinesDeadLetterQueue(Letters);
        await using (letters)
        {
            var source = new InMemoryChangeSource();
            source.Add(change);
            source.Complete();
            var runner = new PipelineRunner(source, PipelineBuilder.Translator(configuration, services), [copy], letters, new PipelineRunnerOptions { MaxBatchSize = 1 });
            await runner.RunAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
        }

        await copy.Sink.DisposeAsync();
        Assert.False(File.Exists(Delivered) && File.ReadAllLines(Delivered).Length > 0, "the broken rules delivered something");
        Assert.Contains("\"stage\":\"translate\"", await File.ReadAllTextAsync(Letters, ct), StringComparison.Ordinal);
    }

    /// <summary>What the rules as they are now make of <paramref name="change"/>: what run would have delivered.</summary>
    private static async Task<List<DomainEvent>> TranslateAsync(string config, ChangeEvent change, CancellationToken ct)
    {
        await using var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider();
        var events = new List<DomainEvent>();
        PipelineBuilder.Translator(PipelineConfiguration.Load(config), services).Translate(change, events);
        Assert.NotEmpty(events);
        ct.ThrowIfCancellationRequested();
        return events;
    }

    private void AssertDelivered(List<DomainEvent> expected)
    {
        var delivered = File.ReadAllLines(Delivered).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(expected.Select(e => e.Id), delivered.Select(d => d["id"]!.GetValue<string>()));
        Assert.Equal(expected.Select(e => e.Type), delivered.Select(d => d["type"]!.GetValue<string>()));
        for (var i = 0; i < expected.Count; i++)
        {
            var want = JsonNode.Parse(Core.Json.EventJson.Serialize(expected[i]))!;
            Assert.True(JsonNode.DeepEquals(want["data"], delivered[i]["data"]), $"data: expected {want["data"]?.ToJsonString()}, delivered {delivered[i]["data"]?.ToJsonString()}");
            Assert.Equal(want["subject"]?.ToJsonString(), delivered[i]["subject"]?.ToJsonString());
            Assert.Equal(want["time"]?.ToJsonString(), delivered[i]["time"]?.ToJsonString());
        }
    }

    private List<string> DeliveredIds() => [.. File.ReadAllLines(Delivered).Select(l => JsonNode.Parse(l)!["id"]!.GetValue<string>())];

    private static async Task<(int Exit, string Output, string Errors)> RedriveAsync(string config, CancellationToken ct, params string[] extra)
    {
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(["dlq", "redrive", "--config", config, .. extra], output, errors, ct);
        return (exit, output.ToString(), errors.ToString());
    }
}
