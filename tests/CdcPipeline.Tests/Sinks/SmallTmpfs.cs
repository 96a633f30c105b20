using System.Diagnostics;

namespace CdcPipeline.Tests.Sinks;

/// <summary>
/// A real, tiny file system (tmpfs of a few KiB) to fill up: how a disk-full failure partway through a
/// write is exercised without faking the file system. Mounting needs root; elsewhere the test is skipped.
/// </summary>
public sealed class SmallTmpfs : IAsyncDisposable
{
    private SmallTmpfs(string directory) => Directory = directory;

    public string Directory { get; }

    public static async Task<SmallTmpfs> MountAsync(string directory, int kibibytes)
    {
        System.IO.Directory.CreateDirectory(directory);
        var (ok, error) = await RunAsync("mount", $"-t tmpfs -o size={kibibytes}k tmpfs {directory}");
        if (!ok)
        {
            Assert.Skip($"cannot mount a {kibibytes} KiB tmpfs at {directory} (needs root): {error}; the disk-full path was not exercised");
        }

        return new SmallTmpfs(directory);
    }

    /// <summary>Takes <paramref name="bytes"/> of the space; delete the returned file to give it back.</summary>
    public async Task<string> FillAsync(int bytes)
    {
        var filler = Path.Combine(Directory, "filler");
        await File.WriteAllBytesAsync(filler, new byte[bytes], TestContext.Current.CancellationToken);
        return filler;
    }

    public async ValueTask DisposeAsync() => await RunAsync("umount", Directory);

    private static async Task<(bool Ok, string Error)> RunAsync(string command, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode == 0, error.Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, e.Message);
        }
    }
}
