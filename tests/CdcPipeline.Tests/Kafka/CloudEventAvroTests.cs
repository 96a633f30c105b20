using Avro;
using Avro.Generic;
using Avro.IO;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.Sink;

namespace CdcPipeline.Tests.Kafka;

/// <summary>The CloudEvent record a <c>format: avro</c> Kafka sink registers, against the one subjects already hold.</summary>
public class CloudEventAvroTests
{
    // The record as the first releases registered it under <topic>-value.
    private static readonly RecordSchema FirstSchema = (RecordSchema)Schema.Parse("""
        {"type":"record","name":"CloudEvent","namespace":"io.cloudevents.avro","fields":[
          {"name":"specversion","type":"string"},{"name":"id","type":"string"},{"name":"source","type":"string"},{"name":"type","type":"string"},
          {"name":"subject","type":["null","string"],"default":null},{"name":"time","type":["null","string"],"default":null},
          {"name":"datacontenttype","type":"string"},{"name":"data","type":"string"}]}
        """);

    [Fact]
    public void Events_written_with_the_first_schema_read_with_the_current_one_and_back()
    {
        // BACKWARD (the registry's default): a consumer on the current schema reads what the first one wrote.
        var old = new GenericRecord(FirstSchema);
        foreach (var (name, value) in new (string, object?)[]
                 {
                     ("specversion", "1.0"), ("id", "e1"), ("source", "/cdc/p/public.t"), ("type", "OrderPlaced"), ("subject", "42"),
                     ("time", "2024-03-01T08:00:00.000000Z"), ("datacontenttype", "application/json"), ("data", "{}"),
                 })
        {
            old.Add(name, value);
        }

        // The schema as registered: the text the serializer sends, default included.
        var registered = (RecordSchema)Schema.Parse(CloudEventAvro.Schema.ToString());
        var read = Roundtrip(old, FirstSchema, registered);
        Assert.Equal("e1", read["id"]);
        Assert.Empty((IDictionary<string, object>)read["extensions"]);

        // FORWARD: a consumer still on the first schema reads the current records, ignoring the extensions.
        var position = new SourcePosition("legacy.public.t/0", 7);
        var current = CloudEventAvro.ToRecord(new DomainEvent
        {
            Id = "e2", Type = "OrderPlaced", Source = "/cdc/p/public.t", Subject = "42", AggregateType = "Order", Position = position,
            Change = new ChangeEvent { Kind = ChangeKind.Change, Source = new SourceInfo(), Position = position }, Data = Row.From(("n", 1L)),
        });
        Assert.Equal("Order", ((IDictionary<string, object>)current["extensions"])["cdcaggregate"]);
        var back = Roundtrip(current, CloudEventAvro.Schema, FirstSchema);
        Assert.Equal("e2", back["id"]);
        Assert.Equal("""{"n":1}""", back["data"]);
    }

    private static GenericRecord Roundtrip(GenericRecord record, RecordSchema writer, RecordSchema reader)
    {
        using var stream = new MemoryStream();
        new GenericDatumWriter<GenericRecord>(writer).Write(record, new BinaryEncoder(stream));
        stream.Position = 0;
        return new GenericDatumReader<GenericRecord>(writer, reader).Read(null!, new BinaryDecoder(stream));
    }
}
