using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// A directory as the target (a mounted share, or what an SFTP server serves). Each file is written
/// under a hidden temporary name, fsynced, then renamed over the final name: rename within one file
/// system is atomic, so readers see the old file or the new one, and never a partial one.
/// </summary>
public sealed class DirectoryBatchTarget : IBatchTarget
{
    public DirectoryBatchTarget(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    public string Directory { get; }

    public string Description => "directory " + Directory;

    public async Task UploadAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        var final = PathOf(name);
        System.IO.Directory.CreateDirectory(Directory);
        var temp = Path.Combine(Directory, $".{name}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            {
                await content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, final, overwrite: true);
            // The caller deletes the spool once the manifest is uploaded: the rename must be durable by then.
            DirectorySync.Flush(Directory);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public Task<bool> ExistsAsync(string name, CancellationToken cancellationToken) => Task.FromResult(File.Exists(PathOf(name)));

    public Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string> names = System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.EnumerateFiles(Directory).Select(Path.GetFileName).Where(n => n is not null && !n.StartsWith('.')).Select(n => n!).Order(StringComparer.Ordinal).ToList()
            : [];
        return Task.FromResult(names);
    }

    /// <summary>Deletes <c>.{name}.{32 hex}.tmp</c> files (what <see cref="UploadAsync"/> writes) for names <paramref name="owned"/> accepts.</summary>
    public Task<IReadOnlyList<BatchLeftover>> DeleteLeftoversAsync(Func<string, bool> owned, DateTimeOffset writtenBefore, CancellationToken cancellationToken)
    {
        var results = new List<BatchLeftover>();
        if (System.IO.Directory.Exists(Directory))
        {
            foreach (var path in System.IO.Directory.EnumerateFiles(Directory, ".*.tmp"))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TempFileTarget(Path.GetFileName(path)) is { } name && owned(name) && BatchLeftover.DeleteIfOlder(path, writtenBefore) is { } leftover)
                {
                    results.Add(leftover);
                }
            }
        }

        return Task.FromResult<IReadOnlyList<BatchLeftover>>(results);
    }

    /// <summary>The final name a temporary file <c>.{name}.{32 lowercase hex}.tmp</c> was for; null for any other file name.</summary>
    private static string? TempFileTarget(string fileName)
    {
        const int HexLength = 32;
        const string Suffix = ".tmp";
        if (fileName.Length < 1 + 1 + 1 + HexLength + Suffix.Length || fileName[0] != '.' || !fileName.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return null;
        }

        var body = fileName.AsSpan(1, fileName.Length - 1 - Suffix.Length);
        var hex = body[^HexLength..];
        if (body[^(HexLength + 1)] != '.' || hex.ContainsAnyExcept("0123456789abcdef"))
        {
            return null;
        }

        return body[..^(HexLength + 1)].ToString();
    }

    private string PathOf(string name)
    {
        if (name.Length == 0 || name.StartsWith('.') || name.IndexOfAny(['/', '\\']) >= 0)
        {
            throw new ArgumentException($"batch file name '{name}' must be a plain file name", nameof(name));
        }

        return Path.Combine(Directory, name);
    }
}
