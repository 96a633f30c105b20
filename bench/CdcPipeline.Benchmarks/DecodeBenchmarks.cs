using System.Buffers;
using System.Text;
using System.Text.Json;
using Avro;
using Avro.Generic;
using BenchmarkDotNet.Attributes;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.Avro;
using CdcPipeline.Kafka.SchemaRegistry;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;

namespace CdcPipeline.Benchmarks;

/// <summary>
/// Decode and decode+translate throughput over a corpus of Debezium records, beside a parse-only
/// ceiling (one <see cref="Utf8JsonReader"/> pass over the same bytes). The JSON corpus is the sample's
/// recorded tb_ord_mst / tb_cust_mst / tb_ord_dtl values (JSON converter with schemas) without the
/// TOASTed memo; the Avro corpus is the same order changes as Debezium's AvroConverter writes them.
/// Each benchmark processes the whole corpus once: divide <see cref="CorpusSize"/> by the mean for events/s.
/// Run: <c>dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- --filter '*DecodeBenchmarks*'</c>.
/// </summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    public const int CorpusSize = 1000;

    private readonly List<DomainEvent> _events = new(4);
    private readonly ArrayBufferWriter<byte> _output = new(1 << 20);
    private readonly DebeziumJsonDecoder _json = new();
    private byte[][] _jsonValues = [];
    private string[] _jsonTopics = [];
    private byte[][] _avroValues = [];
    private DebeziumAvroDecoder _avro = null!;
    private IChangeTranslator _translator = null!;

    [GlobalSetup]
    public void Setup()
    {
        var repo = Repository.Root();
        _translator = Translators.Create(Path.Combine(repo, "samples", "legacy-orders", "rules"), "bench");

        var values = new List<(string Topic, byte[] Value)>();
        foreach (var line in File.ReadLines(Path.Combine(repo, "samples", "legacy-orders", "debezium", "changes.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var topic = doc.RootElement.GetProperty("topic").GetString()!;
            var payload = doc.RootElement.GetProperty("payload");
            if (!topic.StartsWith("legacy.public.tb_", StringComparison.Ordinal) || payload.ValueKind != JsonValueKind.String)
            {
                continue;
            }

            var text = payload.GetString()!;
            if (text.Contains("Note 001", StringComparison.Ordinal))
            {
                continue; // the multi-kilobyte memo would make this a TOAST benchmark
            }

            values.Add((topic, Encoding.UTF8.GetBytes(text)));
        }

        _jsonValues = Enumerable.Range(0, CorpusSize).Select(i => values[i % values.Count].Value).ToArray();
        _jsonTopics = Enumerable.Range(0, CorpusSize).Select(i => values[i % values.Count].Topic).ToArray();
        Console.WriteLine($"// JSON corpus: {values.Count} distinct records, {_jsonValues.Average(v => v.Length):F0} bytes on average ({_jsonValues.Min(v => v.Length)}–{_jsonValues.Max(v => v.Length)})");

        var registry = new InMemorySchemaRegistryClient();
        _avro = new DebeziumAvroDecoder(registry);
        var serializer = new AvroSerializer<GenericRecord>(registry, new AvroSerializerConfig { AutoRegisterSchemas = true });
        _avroValues = Enumerable.Range(0, CorpusSize)
            .Select(i => serializer.SerializeAsync(AvroOrders.Change(i), new SerializationContext(MessageComponentType.Value, AvroOrders.Topic)).GetAwaiter().GetResult())
            .ToArray();
        Console.WriteLine($"// Avro corpus: {_avroValues.Average(v => v.Length):F0} bytes on average");
    }

    [Benchmark(Description = "JSON parse-only ceiling (Utf8JsonReader)")]
    public long ParseOnly()
    {
        long tokens = 0;
        foreach (var value in _jsonValues)
        {
            var reader = new Utf8JsonReader(value);
            while (reader.Read())
            {
                tokens++;
            }
        }

        return tokens;
    }

    [Benchmark(Description = "JSON decode")]
    public int DecodeJson()
    {
        var n = 0;
        for (var i = 0; i < _jsonValues.Length; i++)
        {
            n += _json.Decode(new DebeziumRecord { Topic = _jsonTopics[i], Partition = 0, Offset = i, Value = _jsonValues[i] }).Kind == ChangeKind.Change ? 1 : 0;
        }

        return n;
    }

    [Benchmark(Description = "JSON decode + translate + CloudEvents JSON")]
    public int DecodeTranslateJson()
    {
        _output.ResetWrittenCount();
        var n = 0;
        for (var i = 0; i < _jsonValues.Length; i++)
        {
            n += TranslateAndWrite(_json.Decode(new DebeziumRecord { Topic = _jsonTopics[i], Partition = 0, Offset = i, Value = _jsonValues[i] }));
        }

        return n;
    }

    [Benchmark(Description = "Avro decode")]
    public async Task<int> DecodeAvro()
    {
        var n = 0;
        for (var i = 0; i < _avroValues.Length; i++)
        {
            var change = await _avro.DecodeAsync(new DebeziumRecord { Topic = AvroOrders.Topic, Partition = 0, Offset = i, Value = _avroValues[i] });
            n += change.Kind == ChangeKind.Change ? 1 : 0;
        }

        return n;
    }

    [Benchmark(Description = "Avro decode + translate + CloudEvents JSON")]
    public async Task<int> DecodeTranslateAvro()
    {
        _output.ResetWrittenCount();
        var n = 0;
        for (var i = 0; i < _avroValues.Length; i++)
        {
            n += TranslateAndWrite(await _avro.DecodeAsync(new DebeziumRecord { Topic = AvroOrders.Topic, Partition = 0, Offset = i, Value = _avroValues[i] }));
        }

        return n;
    }

    private int TranslateAndWrite(ChangeEvent change)
    {
        _events.Clear();
        _translator.Translate(change, _events);
        foreach (var e in _events)
        {
            EventJson.Write(_output, e);
        }

        return _events.Count;
    }

    /// <summary>tb_ord_mst changes as Debezium's AvroConverter shapes them (connect.name / connect.parameters).</summary>
    private static class AvroOrders
    {
        public const string Topic = "legacy.public.tb_ord_mst";

        private static readonly RecordSchema Envelope = (RecordSchema)Schema.Parse("""
            {"type":"record","name":"Envelope","namespace":"legacy.public.tb_ord_mst","fields":[
              {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
                {"name":"ord_no","type":{"type":"bytes","scale":0,"precision":10,"connect.version":1,"connect.parameters":{"scale":"0","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
                {"name":"cust_no","type":"string"},{"name":"ord_dt","type":"string"},
                {"name":"ord_sts_cd","type":{"type":"string","connect.default":"P"},"default":"P"},
                {"name":"ord_amt","type":{"type":"bytes","scale":2,"precision":12,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"12"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
                {"name":"shp_dt","type":{"type":"string","connect.default":"        "},"default":"        "},
                {"name":"ord_memo","type":["null","string"],"default":null},
                {"name":"upd_ts","type":{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}}],
               "connect.name":"legacy.public.tb_ord_mst.Value"}],"default":null},
              {"name":"after","type":["null","Value"],"default":null},
              {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
                {"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},
                {"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},
                {"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},{"name":"ts_us","type":["null","long"],"default":null},
                {"name":"schema","type":"string"},{"name":"table","type":"string"},{"name":"txId","type":["null","long"],"default":null},
                {"name":"lsn","type":["null","long"],"default":null},{"name":"xmin","type":["null","long"],"default":null}],
               "connect.name":"io.debezium.connector.postgresql.Source"}},
              {"name":"op","type":"string"},
              {"name":"ts_ms","type":["null","long"],"default":null}],
             "connect.version":2,"connect.name":"legacy.public.tb_ord_mst.Envelope"}
            """);

        /// <summary>Thirds: an order placed, an order shipped (P → S), an amount correction (no event).</summary>
        public static GenericRecord Change(int i)
        {
            var kind = i % 3;
            var valueSchema = (RecordSchema)((UnionSchema)Envelope["after"].Schema).Schemas.First(s => s.Tag == Schema.Type.Record);
            GenericRecord Row(string status, string shipped, long amount)
            {
                var row = new GenericRecord(valueSchema);
                row.Add("ord_no", new AvroDecimal(1_000_000 + i));
                row.Add("cust_no", "C0000001");
                row.Add("ord_dt", "20240301");
                row.Add("ord_sts_cd", status);
                row.Add("ord_amt", new AvroDecimal(new System.Numerics.BigInteger(amount), 2));
                row.Add("shp_dt", shipped);
                row.Add("ord_memo", null);
                row.Add("upd_ts", 1_709_280_000_000_000L + i);
                return row;
            }

            var source = new GenericRecord((RecordSchema)Envelope["source"].Schema);
            source.Add("version", "2.7.3.Final");
            source.Add("connector", "postgresql");
            source.Add("name", "legacy");
            source.Add("ts_ms", 1_709_280_000_412L + i);
            source.Add("snapshot", "false");
            source.Add("db", "legacy");
            source.Add("sequence", null);
            source.Add("ts_us", null);
            source.Add("schema", "public");
            source.Add("table", "tb_ord_mst");
            source.Add("txId", 770L + i);
            source.Add("lsn", 24_023_040L + (i * 512));
            source.Add("xmin", null);
            var record = new GenericRecord(Envelope);
            record.Add("before", kind == 0 ? null : Row("P", "        ", 25870));
            record.Add("after", kind switch { 0 => Row("P", "        ", 25870), 1 => Row("S", "20240302", 25870), _ => Row("P", "        ", 24870) });
            record.Add("source", source);
            record.Add("op", kind == 0 ? "c" : "u");
            record.Add("ts_ms", 1_709_280_000_500L + i);
            return record;
        }
    }
}
