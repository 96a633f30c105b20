using System.Globalization;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// The exclusive hold of a running batch sink on its spool directory: spool files are named by interval start only, so two
/// processes spooling into one directory would append to the same files and close (and delete) each other's.
/// <para>
/// The lock is <c>.lock</c> in the directory, open with <see cref="FileShare.None"/> for the sink's lifetime (on Linux and
/// macOS .NET takes <c>flock(LOCK_EX)</c> for that, per open file, so it contends within one process too; on Windows a
/// sharing lock). The OS drops it when the process ends, kill -9 included. The lock file is never deleted (deleting a
/// locked file lets the next opener lock a new one beside it). Because nobody else can even read <c>.lock</c>, who holds
/// it is written to <c>.lock.owner</c>; that file is only information: a stale one (a killed holder) is overwritten by
/// the next holder and never blocks it.
/// </para>
/// </summary>
internal sealed class SpoolLock : IDisposable
{
    public const string LockName = ".lock";
    public const string OwnerName = ".lock.owner";

    private readonly FileStream _lock;
    private readonly string _owner;

    private SpoolLock(FileStream lockFile, string owner)
    {
        _lock = lockFile;
        _owner = owner;
    }

    /// <summary>Takes the spool directory (which must exist), or throws <see cref="StateDirectoryInUseException"/> when another holds it.</summary>
    public static SpoolLock Acquire(string directory, string pipeline, string sink)
    {
        var lockPath = Path.Combine(directory, LockName);
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        }
        catch (IOException e) when (IsHeld(e))
        {
            var holder = ReadHolder(directory);
            throw new StateDirectoryInUseException(
                $"sink '{sink}': spool directory {directory} is held by another process ({holder}): two processes on one spool "
                    + "mix and delete each other's batches; stop that process first, or, if both are meant to run, give each sink its own spool directory (batch.spool)",
                sink,
                directory,
                holder,
                e);
        }

        var owner = Path.Combine(directory, OwnerName);
        try
        {
            // Written beside and renamed over: a reader sees the old owner or the new one, never half of one.
            var since = DateTimeOffset.UtcNow;
            var temp = owner + ".tmp";
            File.WriteAllText(temp, string.Create(CultureInfo.InvariantCulture, $"pid={Environment.ProcessId}\nhost={Environment.MachineName}\nsince={since:yyyy-MM-ddTHH:mm:ssZ}\npipeline={pipeline}\nsink={sink}\n"));
            File.Move(temp, owner, overwrite: true);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        return new SpoolLock(stream, owner);
    }

    /// <summary>The lock is taken (EWOULDBLOCK from flock on Linux and macOS, a sharing or lock violation on Windows).</summary>
    private static bool IsHeld(IOException e) =>
        e.GetType() == typeof(IOException)
        && e.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

    private static string ReadHolder(string directory)
    {
        string text;
        try
        {
            text = File.ReadAllText(Path.Combine(directory, OwnerName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"its {OwnerName} cannot be read: {e.Message}";
        }

        string? pid = null, host = null, since = null, pipeline = null, sink = null;
        foreach (var line in text.Split('\n'))
        {
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                continue;
            }

            var value = line[(equals + 1)..].Trim();
            switch (line[..equals])
            {
                case "pid": pid = value; break;
                case "host": host = value; break;
                case "since": since = value; break;
                case "pipeline": pipeline = value; break;
                case "sink": sink = value; break;
            }
        }

        return pid is null
            ? $"not named yet in {OwnerName}"
            : $"pid {pid} on host {host}, since {since}, pipeline '{pipeline}' sink '{sink}'";
    }

    public void Dispose()
    {
        // The owner file goes first, while the lock is still held, so it never names a holder that is gone after a clean stop.
        try
        {
            File.Delete(_owner);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only information: the next holder overwrites it.
        }

        _lock.Dispose();
    }
}
