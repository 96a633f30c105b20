using System.Text.Json;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Postgres.Snapshot;

/// <summary>
/// Reads and atomically replaces <c>{dir}/{slot}.snapshot.json</c> (write to a temp file and fsync it, rename, fsync the directory).
/// <para>
/// <see cref="Sync"/> is THE lock of the <see cref="SnapshotState"/> this store saves: every thread that changes or reads
/// it (the acknowledgement path, the incremental snapshotter, the stream reader's signals, the heartbeat) holds it. A save
/// takes a copy under it (<see cref="Capture"/>: the state serialised to bytes, numbered) and writes that copy after
/// leaving it (<see cref="Write"/>), so a slow disk never holds up the stream reader; a copy older than the one already
/// written is dropped, so the newest state always lands last.
/// </para>
/// <para>
/// The file belongs to whoever holds its lock (<see cref="TryOwn"/>). Once this store has let it go (<see cref="Release"/>)
/// another instance may own it, so a save that comes later (a late acknowledgement) is dropped, never written over theirs:
/// the progress it carried is read again by the next owner (at least once, as everything not yet recorded).
/// </para>
/// </summary>
internal sealed class SnapshotStateStore(string directory, string slot, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    // Serialises the file writes (one temp file) and guards _written.
    private readonly Lock _file = new();

    private long _captured; // guarded by Sync
    private long _written; // guarded by _file
    private ExclusiveLockFile? _owned; // guarded by _file
    private bool _released; // guarded by _file

    public string Path { get; } = System.IO.Path.Combine(directory, slot + ".snapshot.json");

    /// <summary>Held by every writer and reader of the state saved here; never held while the file is written.</summary>
    public Lock Sync { get; } = new();

    /// <summary>The state as it is now, serialised, with a number newer than every earlier capture.</summary>
    public readonly record struct Pending(long Version, byte[] Json);

    /// <summary>
    /// Takes this slot's state file for the caller (lock <c>{Path}.lock</c>, holder named in <c>{Path}.lock.owner</c>): null, with
    /// who holds it, when another process (or another source of this one) does. The caller writes only while it holds it.
    /// </summary>
    public bool TryOwn(out string holder)
    {
        Directory.CreateDirectory(directory);
        lock (_file)
        {
            if (_released)
            {
                throw new InvalidOperationException($"the state file {Path} was let go by this store; a new owner uses a new store");
            }

            if (_owned is not null)
            {
                holder = "";
                return true;
            }

            _owned = ExclusiveLockFile.TryAcquire(Path + ".lock", Path + ".lock.owner", [new("slot", slot)], out holder);
            return _owned is not null;
        }
    }

    /// <summary>
    /// Lets the state file go (its lock, taken by <see cref="TryOwn"/>), after the last save that counts: a save after this is
    /// dropped. Waits for a write in progress. Idempotent.
    /// </summary>
    public void Release()
    {
        lock (_file)
        {
            _released = true;
            _owned?.Dispose();
            _owned = null;
        }
    }

    public SnapshotState? Load()
    {
        lock (_file)
        {
            if (!File.Exists(Path))
            {
                return null;
            }

            try
            {
                return JsonSerializer.Deserialize<SnapshotState>(File.ReadAllText(Path), JsonOptions);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"snapshot state file '{Path}' is damaged ({e.Message}); delete it to snapshot again from the start (its .lock and .lock.owner files beside it hold no state and may go with it)", e);
            }
        }
    }

    /// <summary>Takes the copy to save; the caller holds <see cref="Sync"/> (it just changed the state under it).</summary>
    public Pending Capture(SnapshotState state)
    {
        if (!Sync.IsHeldByCurrentThread)
        {
            throw new InvalidOperationException($"snapshot state of slot '{slot}' captured without its lock (SnapshotStateStore.Sync): a concurrent change could tear the copy");
        }

        return new Pending(++_captured, JsonSerializer.SerializeToUtf8Bytes(state, JsonOptions));
    }

    /// <summary>Writes a copy taken by <see cref="Capture"/>, outside <see cref="Sync"/>; a copy older than the written one is dropped.</summary>
    public void Write(Pending pending)
    {
        lock (_file)
        {
            if (pending.Version <= _written)
            {
                return;
            }

            if (_released)
            {
                // another instance may own the file by now: what it keeps there is not overwritten with this copy
                Log.StateSaveDroppedAfterRelease(_logger, slot, Path, pending.Version, _written);
                return;
            }

            Directory.CreateDirectory(directory);
            var temp = Path + ".tmp";
            // On disk before the rename, and the rename in the directory after it: without both, an OS crash or power cut
            // soon after a save can leave the file empty (read back as damaged: a full snapshot again) or as it was before.
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0))
            {
                file.Write(pending.Json);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, Path, overwrite: true);
            DirectorySync.Flush(directory);
            _written = pending.Version;
        }
    }

    /// <summary>Captures (under <see cref="Sync"/>) and writes the state: for a caller that does not hold the lock.</summary>
    public void Save(SnapshotState state)
    {
        Pending pending;
        lock (Sync)
        {
            pending = Capture(state);
        }

        Write(pending);
    }
}
