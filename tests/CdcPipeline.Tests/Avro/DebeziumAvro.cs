using Avro;
using Avro.Generic;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using CdcPipeline.Kafka.Avro;
using CdcPipeline.Kafka.SchemaRegistry;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;

namespace CdcPipeline.Tests.Avro;

/// <summary>
/// Builds Debezium change events as the AvroConverter writes them (Confluent AvroData: connect.name,
/// connect.parameters, connect.version, ["null", T] unions for optional fields) and serializes them
/// with Confluent's AvroSerializer (Apache.Avro's GenericDatumWriter) through the in-memory registry.
/// </summary>
internal sealed class DebeziumAvro
{
    public const string Topic = "srv.public.t";

    private const string SourceSchema = """
        {"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
          {"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},
          {"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},
          {"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},{"name":"ts_us","type":["null","long"],"default":null},
          {"name":"schema","type":"string"},{"name":"table","type":"string"},{"name":"txId","type":["null","long"],"default":null},
          {"name":"lsn","type":["null","long"],"default":null},{"name":"xmin","type":["null","long"],"default":null}],
         "connect.name":"io.debezium.connector.postgresql.Source"}
        """;

    public InMemorySchemaRegistryClient Registry { get; } = new();

    public static RecordSchema EnvelopeSchema(string columnSchema) => (RecordSchema)Schema.Parse($$$"""
        {"type":"record","name":"Envelope","namespace":"srv.public.t","fields":[
          {"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"v","type":{{{columnSchema}}}}],"connect.name":"srv.public.t.Value"}],"default":null},
          {"name":"after","type":["null","Value"],"default":null},
          {"name":"source","type":{{{SourceSchema}}}},
          {"name":"op","type":"string"},
          {"name":"ts_ms","type":["null","long"],"default":null}],
         "connect.version":2,"connect.name":"srv.public.t.Envelope"}
        """);

    public static RecordSchema ValueSchema(RecordSchema envelope) =>
        (RecordSchema)((UnionSchema)envelope["after"].Schema).Schemas.First(s => s.Tag == Schema.Type.Record);

    /// <summary>A create event whose column <c>v</c> holds <paramref name="value"/> (built from the column's Avro schema).</summary>
    public static GenericRecord Envelope(string columnSchema, Func<Schema, object?> value, string op = "c")
    {
        var envelope = EnvelopeSchema(columnSchema);
        var row = new GenericRecord(ValueSchema(envelope));
        row.Add("v", value(row.Schema["v"].Schema));
        var source = new GenericRecord((RecordSchema)envelope["source"].Schema);
        source.Add("version", "2.7.3.Final");
        source.Add("connector", "postgresql");
        source.Add("name", "srv");
        source.Add("ts_ms", 1709280000412L);
        source.Add("snapshot", "first");
        source.Add("db", "legacy");
        source.Add("sequence", null);
        source.Add("ts_us", 1709280000412345L);
        source.Add("schema", "public");
        source.Add("table", "t");
        source.Add("txId", 770L);
        source.Add("lsn", 24023040L);
        source.Add("xmin", null);
        var record = new GenericRecord(envelope);
        record.Add("before", null);
        record.Add("after", row);
        record.Add("source", source);
        record.Add("op", op);
        record.Add("ts_ms", 1709280000500L);
        return record;
    }

    public async Task<byte[]> SerializeAsync(GenericRecord record, MessageComponentType part = MessageComponentType.Value)
    {
        var serializer = new AvroSerializer<GenericRecord>(Registry, new AvroSerializerConfig { AutoRegisterSchemas = true });
        return await serializer.SerializeAsync(record, new SerializationContext(part, Topic));
    }

    public async Task<ChangeEvent> DecodeAsync(GenericRecord value, DebeziumDecoderOptions? options = null)
    {
        var bytes = await SerializeAsync(value);
        return await new DebeziumAvroDecoder(Registry, options).DecodeAsync(
            new DebeziumRecord { Topic = Topic, Partition = 0, Offset = 1, Value = bytes }, TestContext.Current.CancellationToken);
    }

    public async Task<string> DecodeColumnAsync(string columnSchema, Func<Schema, object?> value)
    {
        var change = await DecodeAsync(Envelope(columnSchema, value));
        var json = CanonicalJson.Serialize(change.After!);
        return json["{\"v\":".Length..^1];
    }
}
