using global::Avro;
using global::Avro.Generic;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Kafka.Sink;

/// <summary>
/// A generic CloudEvents Avro record: the context attributes as fields, every extension attribute the
/// JSON form carries (<see cref="CloudEventJson.ExtensionAttributes"/>) in the <c>extensions</c> map, and
/// <c>data</c> as its JSON text (domain payloads differ per event type; one registered schema per topic
/// keeps consumers simple). <c>extensions</c> came after the first version of this schema, with a default,
/// so a subject registered before stays compatible (BACKWARD and FORWARD).
/// </summary>
public static class CloudEventAvro
{
    public static readonly RecordSchema Schema = (RecordSchema)global::Avro.Schema.Parse("""
        {"type":"record","name":"CloudEvent","namespace":"io.cloudevents.avro","doc":"A CloudEvents 1.0 event; data is the event payload as JSON text.",
         "fields":[
          {"name":"specversion","type":"string"},
          {"name":"id","type":"string"},
          {"name":"source","type":"string"},
          {"name":"type","type":"string"},
          {"name":"subject","type":["null","string"],"default":null},
          {"name":"time","type":["null","string"],"default":null},
          {"name":"datacontenttype","type":"string"},
          {"name":"data","type":"string"},
          {"name":"extensions","type":{"type":"map","values":"string"},"default":{},"doc":"CloudEvents extension attributes, as in the JSON form: cdckind, cdcposition, cdcaggregate, cdcrule, cdctarget and the event's own."}]}
        """);

    public static GenericRecord ToRecord(DomainEvent e)
    {
        var record = new GenericRecord(Schema);
        record.Add("specversion", "1.0");
        record.Add("id", e.Id);
        record.Add("source", e.Source);
        record.Add("type", e.Type);
        record.Add("subject", string.IsNullOrEmpty(e.Subject) ? null : e.Subject); // CloudEvents: a subject is never empty
        record.Add("time", e.Time is { } time ? CloudEventJson.FormatTime(time) : null);
        record.Add("datacontenttype", "application/json");
        record.Add("data", e.IsRawChange ? CanonicalJson.Serialize(e.Change) : DataJson(e));
        record.Add("extensions", CloudEventJson.ExtensionAttributes(e).ToDictionary(a => a.Key, a => (object)a.Value, StringComparer.Ordinal));
        return record;
    }

    private static string DataJson(DomainEvent e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, CanonicalJson.WriterOptions))
        {
            CanonicalJson.WriteValue(writer, e.Data);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
