namespace CdcPipeline.Core.Sinks;

/// <summary>
/// One append to a JSON-lines file that is either whole or not there at all (the file sink's output, the batch spool).
/// A write that fails partway (disk full, EIO) can leave part of it, a torn line, at the end, and the pipeline retries
/// the batch: the file is cut back to where the append began and the stream is closed, so the caller reopens it on the
/// next attempt. If even the cut fails, reopening repairs the torn tail.
/// </summary>
public static class FileAppend
{
    /// <summary>
    /// Writes <paramref name="data"/> at the end of <paramref name="stream"/> (unbuffered, so no byte of a failed append
    /// waits for a later flush), and with <paramref name="flushToDisk"/> syncs it. On failure the stream is disposed:
    /// drop it and reopen.
    /// </summary>
    public static async ValueTask WriteAsync(FileStream stream, ReadOnlyMemory<byte> data, bool flushToDisk, CancellationToken cancellationToken)
    {
        var before = stream.Length;
        try
        {
            await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushToDisk)
            {
                stream.Flush(flushToDisk: true);
            }
        }
        catch
        {
            try
            {
                stream.SetLength(before);
            }
            catch (IOException)
            {
            }

            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
            }

            throw;
        }
    }
}
