using System.Buffers;
using System.Text.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Json;

/// <summary>
/// The one body every sink writes for an event: the canonical change JSON for a raw change passing
/// through, CloudEvents 1.0 structured JSON for a domain event.
/// </summary>
public static class EventJson
{
    public static void Write(Utf8JsonWriter writer, DomainEvent domainEvent)
    {
        if (domainEvent.IsRawChange)
        {
            CanonicalJson.Write(writer, domainEvent.Change);
            return;
        }

        writer.WriteStartObject();
        writer.WriteString("specversion", "1.0");
        writer.WriteString("id", domainEvent.Id);
        writer.WriteString("source", domainEvent.Source);
        writer.WriteString("type", domainEvent.Type);
        if (domainEvent.Subject is { } subject)
        {
            writer.WriteString("subject", subject);
        }

        if (domainEvent.Time is { } time)
        {
            writer.WriteString("time", time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture));
        }

        writer.WriteString("datacontenttype", "application/json");
        writer.WritePropertyName("data");
        CanonicalJson.WriteValue(writer, domainEvent.Data);
        writer.WriteEndObject();
    }

    public static byte[] SerializeToUtf8(DomainEvent domainEvent)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, CanonicalJson.WriterOptions))
        {
            Write(writer, domainEvent);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static string Serialize(DomainEvent domainEvent) => System.Text.Encoding.UTF8.GetString(SerializeToUtf8(domainEvent));
}
