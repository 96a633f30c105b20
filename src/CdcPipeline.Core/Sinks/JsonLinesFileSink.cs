using System.Buffers;
using System.Text.Json;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Appends one JSON line per event to a file. Never truncates. Each batch is one write of whole lines
/// followed by a flush (and, by default, fsync) before the batch counts as delivered. A process killed
/// mid-write can leave a torn last line; on open the sink ends it with a newline so the next line
/// never glues onto it (the torn fragment stays visible as one unparsable line, and its events are
/// re-delivered because their positions were never acknowledged).
/// <para>
/// Rotation (optional): before a batch that would take the file past <c>maxBytes</c>, or the first
/// batch of a new UTC hour/day, the current file is closed and renamed to
/// <c>&lt;stem&gt;.&lt;yyyyMMdd'T'HHmmss'Z'&gt;.&lt;NNNN&gt;&lt;ext&gt;</c> — the stamp is when the file's
/// content began (the period start for time rotation), NNNN a sequence number that keeps names
/// unique — and a new file is started under the configured name. A batch is never split across
/// files, so a single batch larger than <c>maxBytes</c> makes one file larger than it. Rotated files
/// are never written again.
/// </para>
/// <para>
/// One writer per file: from its creation to its disposal the sink holds <c>&lt;path&gt;.lock</c> (see
/// <see cref="ExclusiveLockFile"/>; its holder named in <c>&lt;path&gt;.lock.owner</c>), so a second writer — a <c>dlq
/// redrive</c> or <c>failures resend</c> of the same configuration while <c>run</c> writes, a second <c>run</c> — is refused
/// before it writes a line, instead of interleaving its lines with ours. Readers of the file (<c>tail</c>, a consumer) take
/// no lock and read on.
/// </para>
/// </summary>
public sealed class JsonLinesFileSink : ISink
{
    private readonly string _path;
    private readonly bool _fsync;
    private readonly long? _maxBytes;
    private readonly FileRotation _rotation;
    private readonly TimeProvider _time;
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private readonly ExclusiveLockFile _writer;
    private FileStream? _stream;
    private bool _disposed;

    /// <summary>When the current file's content began (null while it is empty).</summary>
    private DateTimeOffset? _contentStart;

    /// <param name="pipeline">Named, with the sink, to a second writer that is refused (<see cref="StateDirectoryInUseException"/>).</param>
    public JsonLinesFileSink(string name, string path, bool fsync = true, long? maxBytes = null, FileRotation rotation = FileRotation.None, TimeProvider? timeProvider = null, string? pipeline = null)
    {
        Name = name;
        _path = path;
        _fsync = fsync;
        _maxBytes = maxBytes;
        _rotation = rotation;
        _time = timeProvider ?? TimeProvider.System;
        _writer = TakeFile(name, path, pipeline);
    }

    /// <summary>Takes the file for this sink (its directory created), or throws naming who writes it.</summary>
    private static ExclusiveLockFile TakeFile(string sink, string path, string? pipeline)
    {
        var full = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        KeyValuePair<string, string>[] details = pipeline is null ? [new("sink", sink)] : [new("pipeline", pipeline), new("sink", sink)];
        return ExclusiveLockFile.TryAcquire(full + ".lock", full + ".lock.owner", details, out var holder)
            ?? throw new StateDirectoryInUseException(
                $"sink '{sink}': file {full} is written by another process ({holder}): two writers interleave their lines and break the "
                    + "order run keeps; stop that process first (a pipeline, or a dlq redrive or failures resend of its configuration), "
                    + "or, if both are meant to run, give each its own file (file.path)",
                sink,
                full,
                holder,
                what: "file");
    }

    public string Name { get; }

    public string Path => _path;

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
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

        if (stream.Length > 0 && NeedsRotation(stream.Length, _buffer.WrittenCount, now))
        {
            await RotateAsync(cancellationToken).ConfigureAwait(false);
            stream = _stream = await OpenAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await FileAppend.WriteAsync(stream, _buffer.WrittenMemory, _fsync, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _stream = null; // closed by the failed append, cut back to where it began: reopened on the next attempt
            throw;
        }

        _contentStart ??= PeriodStart(now);
    }

    private bool NeedsRotation(long length, int incoming, DateTimeOffset now)
    {
        if (_maxBytes is { } max && length + incoming > max)
        {
            return true;
        }

        return _rotation != FileRotation.None && _contentStart is { } start && PeriodStart(now) > PeriodStart(start);
    }

    private DateTimeOffset PeriodStart(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return _rotation switch
        {
            FileRotation.Hourly => new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero),
            FileRotation.Daily => new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero),
            _ => new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, utc.Minute, utc.Second, TimeSpan.Zero),
        };
    }

    /// <summary>Closes the current file and renames it; the next write starts a new file.</summary>
    private async Task RotateAsync(CancellationToken cancellationToken)
    {
        if (_stream is not null)
        {
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
            _stream = null;
        }

        var stamp = (_contentStart ?? PeriodStart(_time.GetUtcNow())).UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path)) ?? ".";
        var stem = System.IO.Path.GetFileNameWithoutExtension(_path);
        var extension = System.IO.Path.GetExtension(_path);
        for (var sequence = 1; ; sequence++)
        {
            var target = System.IO.Path.Combine(directory, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{stem}.{stamp}.{sequence:D4}{extension}"));
            if (File.Exists(target))
            {
                continue;
            }

            // overwrite: false — a rotated file is never replaced, whatever happens.
            File.Move(_path, target, overwrite: false);
            break;
        }

        _contentStart = null;
    }

    /// <summary>The rotated files of this sink, oldest first (names sort by their stamp and sequence).</summary>
    public IReadOnlyList<string> RotatedFiles()
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path)) ?? ".";
        var stem = System.IO.Path.GetFileNameWithoutExtension(_path);
        var extension = System.IO.Path.GetExtension(_path);
        return Directory.Exists(directory)
            ? Directory.GetFiles(directory, stem + ".*" + extension)
                .Where(f => !string.Equals(System.IO.Path.GetFullPath(f), System.IO.Path.GetFullPath(_path), StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];
    }

    private async Task<FileStream> OpenAsync(CancellationToken cancellationToken)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        // Unbuffered: each batch is already one buffer, and a failed write must leave no bytes behind for a later flush.
        var stream = new FileStream(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
        try
        {
            if (stream.Length > 0)
            {
                // An existing file's content began no later than its last write: good enough to decide
                // whether a new hour/day has started since (a restart after midnight rotates it).
                _contentStart = PeriodStart(new DateTimeOffset(File.GetLastWriteTimeUtc(_path), TimeSpan.Zero));
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

        // After the last write is closed: the next writer starts after ours. Once: a second dispose would delete the owner
        // file of whoever holds the file by then.
        if (!_disposed)
        {
            _disposed = true;
            _writer.Dispose();
        }
    }
}
