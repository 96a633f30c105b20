namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// Where closed batches go — shaped like an SFTP server, so an SFTP implementation can stand in for the
/// directory one. <see cref="UploadAsync"/> must replace a file of the same name atomically (upload to a
/// temporary name, then rename): a re-sent batch then replaces itself, never appears twice, and a
/// reader never sees half a file.
/// </summary>
public interface IBatchTarget
{
    /// <summary>A human-readable description for logs (never credentials).</summary>
    string Description { get; }

    Task UploadAsync(string name, Stream content, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the temporary files that uploads killed between writing and renaming left behind — only those
    /// for a final name <paramref name="owned"/> accepts, and only if last written before <paramref name="writtenBefore"/>
    /// (a live upload is newer). Returns each one it deleted or failed to delete; a file it cannot delete stays.
    /// </summary>
    Task<IReadOnlyList<BatchLeftover>> DeleteLeftoversAsync(Func<string, bool> owned, DateTimeOffset writtenBefore, CancellationToken cancellationToken);
}

/// <summary>A temporary file a crashed write left behind: deleted, or not (<see cref="Error"/> says why).</summary>
public readonly record struct BatchLeftover(string Path, DateTimeOffset LastWritten, Exception? Error = null)
{
    /// <summary>
    /// Deletes <paramref name="path"/> if it still exists and was last written before <paramref name="writtenBefore"/>;
    /// null when it was newer or already gone.
    /// </summary>
    public static BatchLeftover? DeleteIfOlder(string path, DateTimeOffset writtenBefore)
    {
        var file = new FileInfo(path);
        if (!file.Exists || file.LastWriteTimeUtc >= writtenBefore.UtcDateTime)
        {
            return null;
        }

        var written = new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero);
        try
        {
            file.Delete();
            return new BatchLeftover(path, written);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new BatchLeftover(path, written, e);
        }
    }
}
