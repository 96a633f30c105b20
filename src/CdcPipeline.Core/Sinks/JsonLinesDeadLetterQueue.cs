using System.Text.Json;
using CdcPipeline.Core.Json;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Dead letters as JSON lines in a file (the embedded path's DLQ; the Kafka path uses a topic).
/// The payload is embedded as JSON when it is JSON, else as base64, so nothing is lost either way.
/// </summary>
public sealed class JsonLinesDeadLetterQueue : IDeadLetterQueue, IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly string _path;
    private FileStream? _stream;

    public JsonLinesDeadLetterQueue(string path)
    {
        _path = path;
    }

    public string Path => _path;

    public async ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        var line = Serialize(letter);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stream is null)
            {
                var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path));
                if (!string.IsNullOrEmpty(directory))
                {
                    Directory.CreateDirectory(directory);
                }

                _stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
            }

            await _stream.WriteAsync(line, cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            _stream.Flush(flushToDisk: true);
        }
        finally
        {
            _lock.Release();
        }
    }

    public static byte[] Serialize(DeadLetter letter)
    {
        using var ms = new MemoryStream();
        using (var writer = new Utf8JsonWriter(ms, CanonicalJson.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("stage", letter.Stage);
            writer.WriteString("error", letter.Error);
            if (letter.ErrorType is not null)
            {
                writer.WriteString("errorType", letter.ErrorType);
            }

            if (letter.Position is { } position)
            {
                writer.WriteString("position", position.ToString());
            }

            if (letter.EventId is not null)
            {
                writer.WriteString("eventId", letter.EventId);
            }

            if (letter.EventType is not null)
            {
                writer.WriteString("eventType", letter.EventType);
            }

            writer.WriteString("failedAt", letter.FailedAt);
            writer.WriteNumber("attempts", letter.Attempts);
            WriteBytes(writer, "payload", letter.Payload.Span);
            if (letter.ValueTypes is not null)
            {
                writer.WritePropertyName("valueTypes");
                writer.WriteRawValue(letter.ValueTypes, skipInputValidation: true);
            }

            if (letter.Origin is not null)
            {
                writer.WriteString("origin", letter.Origin);
            }

            // A source record's key and headers (a Kafka source's letter): decoding it again needs them (the key is the change's
            // key row, a primary-key change's headers name the other key), and its events' ids are made from what they hold.
            if (letter.Key is { } key)
            {
                WriteBytes(writer, "key", key.Span);
            }

            if (letter.Headers is { Count: > 0 } headers)
            {
                writer.WriteStartArray("headers");
                foreach (var (name, value) in headers)
                {
                    writer.WriteStartObject();
                    writer.WriteString("name", name);
                    if (value is null)
                    {
                        writer.WriteNull("value");
                    }
                    else if (System.Text.Unicode.Utf8.IsValid(value))
                    {
                        writer.WriteString("value", value);
                    }
                    else
                    {
                        writer.WriteBase64String("valueBase64", value);
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    /// <summary>
    /// As JSON when it is JSON on one line (<c>name</c>), else as base64 (<c>nameBase64</c>): nothing is lost either way. JSON
    /// with line breaks between its tokens (a producer's pretty-printed record) is kept as its bytes, as base64: written as it
    /// is, it would cut the letter's line in two.
    /// </summary>
    private static void WriteBytes(Utf8JsonWriter writer, string name, ReadOnlySpan<byte> bytes)
    {
        if (bytes.IndexOfAny((byte)'\n', (byte)'\r') < 0 && IsJson(bytes))
        {
            writer.WritePropertyName(name);
            writer.WriteRawValue(bytes, skipInputValidation: true);
        }
        else
        {
            writer.WriteBase64String(name + "Base64", bytes);
        }
    }

    private static bool IsJson(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(payload);
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        _lock.Dispose();
    }
}
