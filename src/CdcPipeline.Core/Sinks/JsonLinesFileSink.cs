using System.Buffers;
using System.Text.Json;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Appends one JSON line per event to a file. Never truncates. Each batch is one write of whole lines
/// followed by a flush (and, by default, fsync) before the batch counts as delivered. A process killed
/// mid-write can leave a torn last line; on open the sink ends it with a newline so the next line
/// never glues onto it (the torn fragment stays visible as one unparsable line, and its events are
/// re-delivered because their positions were never acknowledged).
/// </summary>
public sealed class JsonLinesFileSink : ISink
{
    private readonly string _path;
    private readonly bool _fsync;
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private FileStream? _stream;

    public JsonLinesFileSink(string name, string path, bool fsync = true)
    {
        Name = name;
        _path = path;
        _fsync = fsync;
    }

    public string Name { get; }

    public string Path => _path;

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        var stream = _stream ??= await OpenAsync(cancellationToken).ConfigureAwait(false);
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer, CanonicalJson.WriterOptions))
        {
            foreach (var e in batch)
            {
                EventJson.Write(writer, e);
                writer.Flush();
                writer.Reset(_buffer);
                _buffer.Write("\n"u8);
            }
        }

        await stream.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (_fsync)
        {
            stream.Flush(flushToDisk: true);
        }
    }

    private async Task<FileStream> OpenAsync(CancellationToken cancellationToken)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var stream = new FileStream(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 4096, FileOptions.Asynchronous);
        try
        {
            if (stream.Length > 0)
            {
                stream.Seek(-1, SeekOrigin.End);
                var last = new byte[1];
                await stream.ReadExactlyAsync(last, cancellationToken).ConfigureAwait(false);
                stream.Seek(0, SeekOrigin.End);
                if (last[0] != (byte)'\n')
                {
                    await stream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                }
            }

            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
            _stream = null;
        }
    }
}
