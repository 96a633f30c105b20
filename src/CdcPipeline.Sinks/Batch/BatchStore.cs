using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// The batch sink's local state: a spool file per open interval and an archive of closed batches.
/// <para>
/// Why a spool: the pipeline acknowledges source positions as soon as <c>DeliverAsync</c> returns, but
/// a batch is only built when its interval ends, maybe an hour later. So delivery appends each event to
/// the interval's spool file and fsyncs before returning: from then on the event survives a crash, and
/// the replication slot may move past it. A crash mid-append leaves a torn last line, which belongs to
/// a delivery that never returned (so never acknowledged, and will come again): it is cut off on reopen.
/// </para>
/// <para>
/// Closing an interval builds the batch file and manifest from the spool — deterministically, so a
/// crash anywhere in closing just repeats it with identical bytes — archives them, uploads the data
/// file and then the manifest, and only then deletes the spool. Re-sending reads the archive.
/// </para>
/// </summary>
public sealed class BatchStore : IAsyncDisposable
{
    public const string TimeBasis = "arrival";
    private const string SpoolSuffix = ".spool";
    private const string StartFormat = "yyyyMMdd'T'HHmmss'Z'";
    private const int StartFormatLength = 16; // 20261125T100000Z
    private const string DataSuffix = ".jsonl";
    private const string ManifestSuffix = ".manifest.json";
    private const string TempSuffix = ".tmp";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private FileStream? _spool;
    private DateTimeOffset _spoolStart;
    private SpoolLock? _spoolLock;

    public BatchStore(string pipeline, string sink, TimeSpan interval, string spoolDirectory, string archiveDirectory, IBatchTarget target)
    {
        if (IntervalProblem(interval) is { } problem)
        {
            throw new ArgumentException(problem, nameof(interval));
        }

        Pipeline = pipeline;
        Sink = sink;
        Interval = interval;
        SpoolDirectory = Path.GetFullPath(spoolDirectory);
        ArchiveDirectory = Path.GetFullPath(archiveDirectory);
        Target = target;
    }

    /// <summary>Why <paramref name="interval"/> cannot be a batch interval, or null when it can.</summary>
    public static string? IntervalProblem(TimeSpan interval) =>
        interval <= TimeSpan.Zero || TimeSpan.FromDays(1).Ticks % interval.Ticks != 0 && interval.Ticks % TimeSpan.FromDays(1).Ticks != 0
            ? $"batch interval {interval} must divide a day or be whole days (e.g. 00:15:00, 01:00:00, 1.00:00:00), so intervals align to midnight UTC"
            : null;

    public string Pipeline { get; }

    public string Sink { get; }

    public TimeSpan Interval { get; }

    public string SpoolDirectory { get; }

    public string ArchiveDirectory { get; }

    public IBatchTarget Target { get; }

    /// <summary>
    /// Takes the spool directory for this store's lifetime (see <see cref="SpoolLock"/>): what a running sink and
    /// <c>batch close</c> do before they write or close spools; <c>batch list|resend</c> only read the archive and do not.
    /// Throws <see cref="Core.Sinks.StateDirectoryInUseException"/> when another process or store holds it.
    /// </summary>
    public void LockSpool()
    {
        if (_spoolLock is null)
        {
            EnsureDirectory(SpoolDirectory);
            _spoolLock = SpoolLock.Acquire(SpoolDirectory, Pipeline, Sink);
        }
    }

    /// <summary>The start of the interval <paramref name="time"/> falls in (intervals are aligned to the Unix epoch, UTC).</summary>
    public DateTimeOffset IntervalStart(DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var start = ticks - (((ticks % Interval.Ticks) + Interval.Ticks) % Interval.Ticks);
        return DateTimeOffset.UnixEpoch.AddTicks(start);
    }

    public string BatchId(DateTimeOffset intervalStart) =>
        string.Concat(Pipeline, "-", Sink, "-", intervalStart.UtcDateTime.ToString(StartFormat, CultureInfo.InvariantCulture));

    /// <summary>Appends <paramref name="events"/> to the spool of the interval <paramref name="arrival"/> falls in, durably (fsync) before returning.</summary>
    public async Task AppendAsync(DateTimeOffset arrival, IReadOnlyList<DomainEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        var start = IntervalStart(arrival);
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer, CanonicalJson.WriterOptions))
        {
            foreach (var e in events)
            {
                // Position first, tab-separated: the manifest names the first and last position, and
                // the data file carries exactly the event JSON the other sinks write.
                _buffer.Write(Encoding.UTF8.GetBytes(e.Position.ToString().Replace('\t', ' ').Replace('\n', ' ')));
                _buffer.Write("\t"u8);
                EventJson.Write(writer, e);
                writer.Flush();
                writer.Reset(_buffer);
                _buffer.Write("\n"u8);
            }
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_spool is null || _spoolStart != start)
            {
                // A closed batch never changes: if the clock stepped back into an interval that was
                // already closed, the events go to the next interval that is still open.
                while (File.Exists(Path.Combine(ArchiveDirectory, ManifestName(BatchId(start)))))
                {
                    start += Interval;
                }
            }

            if (_spool is null || _spoolStart != start)
            {
                await CloseSpoolStreamAsync().ConfigureAwait(false);
                _spool = await OpenSpoolAsync(start, cancellationToken).ConfigureAwait(false);
                _spoolStart = start;
            }

            try
            {
                await FileAppend.WriteAsync(_spool, _buffer.WrittenMemory, flushToDisk: true, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // A failed append is retried by the pipeline; the spool, closed and cut back, is reopened by the next append.
                _spool = null;
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Closes every spooled interval that ended at or before <paramref name="now"/>: build, archive, upload, forget the spool.</summary>
    public async Task<IReadOnlyList<BatchManifest>> CloseDueAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var closed = new List<BatchManifest>();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var (start, path) in SpoolFiles())
            {
                if (start + Interval > now)
                {
                    continue;
                }

                if (_spool is not null && _spoolStart == start)
                {
                    await CloseSpoolStreamAsync().ConfigureAwait(false);
                }

                var (data, manifest) = await BuildAsync(start, path, cancellationToken).ConfigureAwait(false);
                await WriteAtomicAsync(Path.Combine(ArchiveDirectory, manifest.File), data, cancellationToken).ConfigureAwait(false);
                await WriteAtomicAsync(Path.Combine(ArchiveDirectory, ManifestName(manifest.BatchId)), manifest.ToUtf8Json(), cancellationToken).ConfigureAwait(false);
                await UploadAsync(manifest, data, cancellationToken).ConfigureAwait(false);
                File.Delete(path);
                closed.Add(manifest);
            }
        }
        finally
        {
            _gate.Release();
        }

        return closed;
    }

    /// <summary>
    /// Uploads an archived batch again under the same names: the target replaces the files atomically,
    /// so the batch is not duplicated downstream. The archived data is checked against its manifest first.
    /// </summary>
    public async Task<BatchManifest> ResendAsync(string batchId, CancellationToken cancellationToken)
    {
        var manifestPath = Path.Combine(ArchiveDirectory, ManifestName(batchId));
        if (!File.Exists(manifestPath))
        {
            var known = (await ListAsync(cancellationToken).ConfigureAwait(false)).Select(m => m.BatchId);
            throw new FileNotFoundException($"no archived batch '{batchId}' in {ArchiveDirectory}; archived batches: {string.Join(", ", known.DefaultIfEmpty("(none)"))}", manifestPath);
        }

        var manifest = BatchManifest.FromUtf8Json(await File.ReadAllBytesAsync(manifestPath, cancellationToken).ConfigureAwait(false));
        var data = await File.ReadAllBytesAsync(Path.Combine(ArchiveDirectory, manifest.File), cancellationToken).ConfigureAwait(false);
        var checksum = Convert.ToHexStringLower(SHA256.HashData(data));
        if (!string.Equals(checksum, manifest.Sha256, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"archived batch '{batchId}' is corrupt: {manifest.File} has SHA-256 {checksum}, its manifest says {manifest.Sha256}; refusing to re-send it");
        }

        await UploadAsync(manifest, data, cancellationToken).ConfigureAwait(false);
        return manifest;
    }

    /// <summary>This sink's archived batches (<see cref="OwnsFile"/>): an archive directory may be shared by several sinks.</summary>
    public async Task<IReadOnlyList<BatchManifest>> ListAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(ArchiveDirectory))
        {
            return [];
        }

        var manifests = new List<BatchManifest>();
        foreach (var path in Directory.EnumerateFiles(ArchiveDirectory, "*" + ManifestSuffix).Order(StringComparer.Ordinal))
        {
            if (!OwnsFile(Path.GetFileName(path)))
            {
                continue; // the pipeline's other batch sinks may archive into the same directory
            }

            manifests.Add(BatchManifest.FromUtf8Json(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false)));
        }

        return manifests;
    }

    /// <summary>
    /// Deletes what writes killed between writing and renaming (kill -9, power cut) left behind: the target's
    /// temporary files and the archive's <c>*.tmp</c> files — only of this sink's own batches (<see cref="OwnsFile"/>)
    /// and only if last written before <paramref name="writtenBefore"/>, so a live instance's write in progress stays.
    /// </summary>
    public async Task<IReadOnlyList<BatchLeftover>> DeleteLeftoversAsync(DateTimeOffset writtenBefore, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var results = new List<BatchLeftover>(await Target.DeleteLeftoversAsync(OwnsFile, writtenBefore, cancellationToken).ConfigureAwait(false));
            if (Directory.Exists(ArchiveDirectory))
            {
                foreach (var path in Directory.EnumerateFiles(ArchiveDirectory, "*" + TempSuffix))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var name = Path.GetFileName(path);
                    if (OwnsFile(name[..^TempSuffix.Length]) && BatchLeftover.DeleteIfOlder(path, writtenBefore) is { } leftover)
                    {
                        results.Add(leftover);
                    }
                }
            }

            return results;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Whether <paramref name="name"/> is the data file or manifest of one of this sink's batches, exactly
    /// <c>{pipeline}-{sink}-{yyyyMMddTHHmmssZ}.jsonl</c> or <c>.manifest.json</c>: a sink whose name merely begins
    /// with this one's (<c>export-eu</c> beside <c>export</c>) does not match.
    /// </summary>
    public bool OwnsFile(string name)
    {
        ReadOnlySpan<char> id;
        if (name.EndsWith(DataSuffix, StringComparison.Ordinal))
        {
            id = name.AsSpan(0, name.Length - DataSuffix.Length);
        }
        else if (name.EndsWith(ManifestSuffix, StringComparison.Ordinal))
        {
            id = name.AsSpan(0, name.Length - ManifestSuffix.Length);
        }
        else
        {
            return false;
        }

        var prefixLength = Pipeline.Length + 1 + Sink.Length + 1;
        return id.Length == prefixLength + StartFormatLength
            && id.StartsWith(Pipeline, StringComparison.Ordinal)
            && id[Pipeline.Length] == '-'
            && id[(Pipeline.Length + 1)..].StartsWith(Sink, StringComparison.Ordinal)
            && id[prefixLength - 1] == '-'
            && DateTime.TryParseExact(id[prefixLength..], StartFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out _);
    }

    public static string DataName(string batchId) => batchId + DataSuffix;

    public static string ManifestName(string batchId) => batchId + ManifestSuffix;

    private async Task UploadAsync(BatchManifest manifest, byte[] data, CancellationToken cancellationToken)
    {
        // Data first, manifest last: downstream takes a batch only when its manifest is there.
        using (var stream = new MemoryStream(data, writable: false))
        {
            await Target.UploadAsync(manifest.File, stream, cancellationToken).ConfigureAwait(false);
        }

        using (var stream = new MemoryStream(manifest.ToUtf8Json(), writable: false))
        {
            await Target.UploadAsync(ManifestName(manifest.BatchId), stream, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(byte[] Data, BatchManifest Manifest)> BuildAsync(DateTimeOffset start, string spoolPath, CancellationToken cancellationToken)
    {
        var spool = await File.ReadAllBytesAsync(spoolPath, cancellationToken).ConfigureAwait(false);
        using var data = new MemoryStream(spool.Length);
        var count = 0;
        string? first = null;
        string? last = null;
        var span = spool.AsSpan();
        while (span.Length > 0)
        {
            var newline = span.IndexOf((byte)'\n');
            if (newline < 0)
            {
                break; // a torn tail: never acknowledged, so it is delivered again
            }

            var line = span[..newline];
            span = span[(newline + 1)..];
            var tab = line.IndexOf((byte)'\t');
            if (tab < 0)
            {
                continue;
            }

            var position = Encoding.UTF8.GetString(line[..tab]);
            first ??= position;
            last = position;
            data.Write(line[(tab + 1)..]);
            data.WriteByte((byte)'\n');
            count++;
        }

        var bytes = data.ToArray();
        var id = BatchId(start);
        var manifest = new BatchManifest
        {
            BatchId = id,
            Pipeline = Pipeline,
            Sink = Sink,
            File = DataName(id),
            IntervalStart = start,
            IntervalEnd = start + Interval,
            TimeBasis = TimeBasis,
            Count = count,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
            Bytes = bytes.LongLength,
            FirstPosition = first,
            LastPosition = last,
        };
        return (bytes, manifest);
    }

    private IEnumerable<(DateTimeOffset Start, string Path)> SpoolFiles()
    {
        if (!Directory.Exists(SpoolDirectory))
        {
            yield break;
        }

        foreach (var path in Directory.EnumerateFiles(SpoolDirectory, "*" + SpoolSuffix).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (DateTime.TryParseExact(name, StartFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var start))
            {
                yield return (new DateTimeOffset(start, TimeSpan.Zero), path);
            }
        }
    }

    private async Task<FileStream> OpenSpoolAsync(DateTimeOffset start, CancellationToken cancellationToken)
    {
        EnsureDirectory(SpoolDirectory);
        var path = Path.Combine(SpoolDirectory, start.UtcDateTime.ToString(StartFormat, CultureInfo.InvariantCulture) + SpoolSuffix);
        var created = !File.Exists(path);
        // Unbuffered: each append is already one buffer, and a failed append must leave no bytes behind for a later flush.
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
        try
        {
            if (created)
            {
                // The appends fsync the file's data, not its name: without this a power cut could lose a new spool
                // whose events were already acknowledged.
                DirectorySync.Flush(SpoolDirectory);
            }

            // Cut a torn tail (from a crash mid-append) back to the last complete line.
            var length = stream.Length;
            var keep = length;
            var one = new byte[1];
            while (keep > 0)
            {
                stream.Seek(keep - 1, SeekOrigin.Begin);
                await stream.ReadExactlyAsync(one, cancellationToken).ConfigureAwait(false);
                if (one[0] == (byte)'\n')
                {
                    break;
                }

                keep--;
            }

            if (keep != length)
            {
                stream.SetLength(keep);
            }

            stream.Seek(0, SeekOrigin.End);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task WriteAtomicAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        EnsureDirectory(Path.GetDirectoryName(path)!);
        var temp = path + TempSuffix;
        await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
        {
            await file.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        // The rename must outlive a power cut before the spool it replaces is deleted, or the batch is gone from the archive.
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
    }

    /// <summary>Creates a directory the first time, and makes its name in the parent durable.</summary>
    private static void EnsureDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            DirectorySync.Flush(Path.GetDirectoryName(directory) ?? directory);
        }
    }

    private async Task CloseSpoolStreamAsync()
    {
        if (_spool is not null)
        {
            await _spool.DisposeAsync().ConfigureAwait(false);
            _spool = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await CloseSpoolStreamAsync().ConfigureAwait(false);
        }
        finally
        {
            _spoolLock?.Dispose();
            _spoolLock = null;
            _gate.Release();
        }

        _gate.Dispose();
    }
}
