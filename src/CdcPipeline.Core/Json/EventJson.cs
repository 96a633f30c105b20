using System.Buffers;
using System.Text.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Json;

/// <summary>
/// The one JSON form of a <see cref="DomainEvent"/> that every sink writes: the canonical change JSON for a
/// raw change passing through without rules, CloudEvents 1.0 otherwise. One line, no indentation.
/// </summary>
public static class EventJson
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static void Write(Utf8JsonWriter writer, DomainEvent e)
    {
        if (e.IsRawChange)
        {
            CanonicalJson.Write(writer, e.Change);
        }
        else
        {
            CloudEventJson.Write(writer, e);
        }
    }

    /// <summary>Appends the event's JSON (without a newline) to <paramref name="output"/>, reusing a per-thread writer.</summary>
    public static void Write(IBufferWriter<byte> output, DomainEvent e)
    {
        var writer = t_writer;
        if (writer is null)
        {
            writer = new Utf8JsonWriter(output, CanonicalJson.WriterOptions);
            t_writer = writer;
        }
        else
        {
            writer.Reset(output);
        }

        try
        {
            Write(writer, e);
            writer.Flush();
        }
        finally
        {
            // Do not keep the caller's buffer reachable from the thread.
            writer.Reset(Stream.Null);
        }
    }

    /// <summary>The event's JSON as UTF-8 bytes (a new array; sinks that own a buffer use <see cref="Write(IBufferWriter{byte}, DomainEvent)"/>).</summary>
    public static byte[] SerializeToUtf8(DomainEvent e)
    {
        var buffer = RentBuffer();
        Write(buffer, e);
        return buffer.WrittenSpan.ToArray();
    }

    public static string Serialize(DomainEvent e)
    {
        var buffer = RentBuffer();
        Write(buffer, e);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static ArrayBufferWriter<byte> RentBuffer()
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        return buffer;
    }
}
