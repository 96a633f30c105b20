using System.Runtime.InteropServices;
using System.Text;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Makes a directory's entries durable: after a rename or a file creation, the file's own fsync does not cover
/// its name, which lives in the directory. Until the directory is fsynced a power cut can undo the rename (an
/// archived batch vanishes, or an uploaded one reappears under its temporary name) or lose a new file whose
/// data was already fsynced. .NET has no API for this (it refuses to open a directory), so on Linux and
/// macOS it opens the directory read-only and fsyncs it through libc; on Windows it does nothing (NTFS
/// journals the rename with the metadata, and there is no portable equivalent).
/// </summary>
public static class DirectorySync
{
    private const int ORdOnly = 0;
    private const int EInval = 22;

    /// <summary>Fsyncs <paramref name="directory"/>; throws <see cref="IOException"/> naming it when the system refuses.</summary>
    public static void Flush(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var path = Encoding.UTF8.GetBytes(Path.GetFullPath(directory) + "\0");
        var fd = Open(path, ORdOnly);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot open directory {directory} to fsync it (errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}); check that it exists and is readable");
        }

        try
        {
            if (FSync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                // Some file systems (certain FUSE and network mounts) cannot fsync a directory at all: nothing to make durable here.
                if (errno != EInval)
                {
                    throw new IOException($"fsync of directory {directory} failed (errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}); a rename in it may not survive a power cut");
                }
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    // DllImport rather than LibraryImport: the latter needs unsafe code in the project. A byte[] and ints are
    // blittable, so no string marshalling is involved.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(byte[] path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int FSync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
#pragma warning restore SYSLIB1054
}
