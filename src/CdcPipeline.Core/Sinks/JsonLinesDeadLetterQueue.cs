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
            if (IsJson(letter.Payload.Span))
            {
                writer.WritePropertyName("payload");
                writer.WriteRawValue(letter.Payload.Span, skipInputValidation: true);
            }
            else
            {
                writer.WriteBase64String("payloadBase64", letter.Payload.Span);
            }

            writer.WriteEndObject();
        }

        ms.WriteByte((byte)'\n');
        return ms.ToArray();
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
