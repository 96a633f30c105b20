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
}
