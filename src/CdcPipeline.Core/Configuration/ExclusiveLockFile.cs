using System.Globalization;
using System.Text;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// A process's exclusive hold on state it keeps in files (a batch sink's spool, the embedded capture's state file): two
/// holders would overwrite or delete each other's.
/// <para>
/// The lock is a file held open with <see cref="FileShare.None"/> for the holder's lifetime (on Linux and macOS .NET takes
/// <c>flock(LOCK_EX)</c> for that, per open file, so it contends within one process too; on Windows a sharing lock). The OS
/// drops it when the process ends, kill -9 included. The lock file is never deleted (deleting a locked file lets the next
/// opener lock a new one beside it). Because nobody else can even read the lock file, who holds it is written to an owner
/// file beside it; that file is only information: a stale one (a killed holder) is overwritten by the next holder and never
/// blocks it.
/// </para>
/// </summary>
public sealed class ExclusiveLockFile : IDisposable
{
    private readonly FileStream _lock;
    private readonly string _owner;

    private ExclusiveLockFile(FileStream lockFile, string owner)
    {
        _lock = lockFile;
        _owner = owner;
    }

    /// <summary>
    /// Takes <paramref name="lockPath"/> (its directory must exist) and names this process in <paramref name="ownerPath"/>
    /// (pid, host, since, then <paramref name="details"/>); null when another holds it, with <paramref name="holder"/> saying
    /// who as far as the owner file tells, e.g. <c>pid 4242 on host db1, since 2026-12-06T18:52:20Z, pipeline 'p' sink 's'</c>.
    /// </summary>
    public static ExclusiveLockFile? TryAcquire(string lockPath, string ownerPath, IReadOnlyList<KeyValuePair<string, string>> details, out string holder)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        }
        catch (IOException e) when (IsHeld(e))
        {
            holder = ReadHolder(ownerPath);
            return null;
        }

        try
        {
            // Written beside and renamed over: a reader sees the old owner or the new one, never half of one.
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"pid={Environment.ProcessId}\nhost={Environment.MachineName}\nsince={DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\n");
            foreach (var (key, value) in details)
            {
                text.Append(CultureInfo.InvariantCulture, $"{key}={value}\n");
            }

            var temp = ownerPath + ".tmp";
            File.WriteAllText(temp, text.ToString());
            File.Move(temp, ownerPath, overwrite: true);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        holder = "";
        return new ExclusiveLockFile(stream, ownerPath);
    }

    /// <summary>The lock is taken (EWOULDBLOCK from flock on Linux and macOS, a sharing or lock violation on Windows).</summary>
    private static bool IsHeld(IOException e) =>
        e.GetType() == typeof(IOException)
        && e.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

    private static string ReadHolder(string ownerPath)
    {
        var name = Path.GetFileName(ownerPath);
        string text;
        try
        {
            text = File.ReadAllText(ownerPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"its {name} cannot be read: {e.Message}";
        }

        string? pid = null, host = null, since = null;
        var details = new List<string>();
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
                default: details.Add($"{line[..equals]} '{value}'"); break;
            }
        }

        return pid is null
            ? $"not named yet in {name}"
            : $"pid {pid} on host {host}, since {since}" + (details.Count > 0 ? ", " + string.Join(" ", details) : "");
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
