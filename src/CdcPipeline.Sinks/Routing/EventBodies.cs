using System.Buffers;
using System.Text.Json;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Sinks.Routing;

/// <summary>Event bodies besides <see cref="EventJson"/>'s structured form.</summary>
public static class EventBodies
{
    /// <summary>
    /// The event's data alone (the body of the CloudEvents binary binding): the canonical change JSON
    /// for a raw change, else the data rendered canonically.
    /// </summary>
    public static byte[] Data(DomainEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, CanonicalJson.WriterOptions))
        {
            if (e.IsRawChange)
            {
                CanonicalJson.Write(writer, e.Change);
            }
            else
            {
                CanonicalJson.WriteValue(writer, e.Data);
            }
        }

        return buffer.WrittenSpan.ToArray();
    }
}
