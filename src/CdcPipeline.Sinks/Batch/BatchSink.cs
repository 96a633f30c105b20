using System.Diagnostics;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// Batch transfer: gathers the events of each interval (by arrival time at this sink) into one file
/// with a manifest, and hands both to a target when the interval ends. Delivery only spools (durably)
/// — see <see cref="BatchStore"/> — and a background loop closes intervals as they end, also when no
/// event arrives, and retries a failed upload on its next round (the spool stays until it succeeded).
/// <para>
/// Arrival time, not event time: an event's commit time can be far in the past when it reaches the
/// sink (a snapshot, a replay, a pipeline that was down), and sorting by it would mean re-opening
/// batches that were already handed over. With arrival time a closed batch never changes; a replay's
/// events land in the current batch, and downstream de-duplicates them by event id.
/// </para>
/// </summary>
public sealed partial class BatchSink : ISink
{
    private readonly BatchStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _closer;

    public BatchSink(string name, BatchStore store, TimeSpan closeCheckPeriod, TimeProvider? timeProvider = null, ILogger<BatchSink>? logger = null)
    {
        // Before anything runs: a second process on this spool would mix and delete this sink's batches.
        store.LockSpool();
        Name = name;
        _store = store;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _closer = Task.Run(() => CloseLoopAsync(closeCheckPeriod, _stop.Token));
    }

    public string Name { get; }

    public BatchStore Store => _store;

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) =>
        await _store.AppendAsync(_time.GetUtcNow(), batch, cancellationToken).ConfigureAwait(false);

    /// <summary>Closes what is due now (the loop does this on its own; tests and shutdown call it directly).</summary>
    public async Task<IReadOnlyList<BatchManifest>> CloseDueAsync(CancellationToken cancellationToken)
    {
        var closed = await _store.CloseDueAsync(_time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        foreach (var m in closed)
        {
            LogBatchClosed(_logger, Name, m.BatchId, m.Count, _store.Target.Description);
        }

        return closed;
    }

    private async Task CloseLoopAsync(TimeSpan period, CancellationToken cancellationToken)
    {
        // Before the first upload, so none of this instance's own temporary files exist yet.
        await DeleteLeftoversAsync().ConfigureAwait(false);
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            do
            {
                try
                {
                    await CloseDueAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The spool keeps the batch; the next round tries again.
                    LogCloseFailed(_logger, e, Name, period);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Deletes this sink's temporary files that crashed writes left in the target and the archive. Only files
    /// last written before this process started: anything newer is a live instance's write in progress. It runs
    /// to the end even when the sink is stopped at once (a directory listing), so a restart never skips it.
    /// </summary>
    private async Task DeleteLeftoversAsync()
    {
        try
        {
            var leftovers = await _store.DeleteLeftoversAsync(ProcessStart.Value, CancellationToken.None).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow; // file times are wall-clock times, whatever clock the sink runs on
            foreach (var leftover in leftovers)
            {
                if (leftover.Error is null)
                {
                    LogLeftoverDeleted(_logger, Name, leftover.Path, now - leftover.LastWritten);
                }
                else
                {
                    LogLeftoverKept(_logger, leftover.Error, Name, leftover.Path, now - leftover.LastWritten);
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Junk only: closing and uploading must not depend on it.
            LogLeftoverSweepFailed(_logger, e, Name, _store.Target.Description, _store.ArchiveDirectory);
        }
    }

    private static readonly Lazy<DateTimeOffset> ProcessStart = new(() =>
    {
        try
        {
            using var self = Process.GetCurrentProcess();
            return new DateTimeOffset(self.StartTime.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (Exception e) when (e is InvalidOperationException or PlatformNotSupportedException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            // Later than the real start, so at worst it also takes files written since then, which only another live instance could have.
            return DateTimeOffset.UtcNow;
        }
    });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _closer.ConfigureAwait(false);
        _stop.Dispose();
        await _store.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Batch sink {Sink} closed batch {BatchId} ({Count} event(s)) and handed it to {Target}")]
    private static partial void LogBatchClosed(ILogger logger, string sink, string batchId, int count, string target);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Batch sink {Sink} could not close or upload a batch; its spool is kept and retried in {Period}")]
    private static partial void LogCloseFailed(ILogger logger, Exception error, string sink, TimeSpan period);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Batch sink {Sink} deleted {Path}, a temporary file a crashed write left behind {Age} ago")]
    private static partial void LogLeftoverDeleted(ILogger logger, string sink, string path, TimeSpan age);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Batch sink {Sink} could not delete {Path}, a temporary file a crashed write left behind {Age} ago; it is safe to delete by hand")]
    private static partial void LogLeftoverKept(ILogger logger, Exception error, string sink, string path, TimeSpan age);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Batch sink {Sink} could not look for temporary files crashed writes left in {Target} or {Archive}; the sink runs on, and the next start looks again")]
    private static partial void LogLeftoverSweepFailed(ILogger logger, Exception error, string sink, string target, string archive);
}
