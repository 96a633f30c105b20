using CdcPipeline.Core.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Hosting;

/// <summary>
/// Hosts one pipeline. The host's stop (SIGTERM, Ctrl+C) becomes the runner's stopping token: reading
/// stops, buffered changes are delivered and acknowledged, then the process exits 0. If the source ends
/// (an <c>initial_only</c> snapshot, a finished file) the application stops by itself.
/// </summary>
internal sealed partial class PipelineWorker : BackgroundService
{
    private readonly PipelineInstance _pipeline;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<PipelineWorker> _logger;
    private readonly TimeProvider _time;

    public PipelineWorker(PipelineInstance pipeline, IHostApplicationLifetime lifetime, ILogger<PipelineWorker> logger, TimeProvider time)
    {
        _pipeline = pipeline;
        _lifetime = lifetime;
        _logger = logger;
        _time = time;
    }

    /// <summary>Set when the pipeline failed; the command turns it into the exit code.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Set when a stop's drain ran out of <c>runner.drainTimeout</c>: not everything read was acknowledged.</summary>
    public bool DrainCutShort => _pipeline.Runner.DrainCutShort;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var progressCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var progress = ReportProgressAsync(progressCts.Token);
        try
        {
            await _pipeline.Runner.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            Failure = e;
            if (Commands.ExpectedFailure.ExitCode(e) is null)
            {
                LogFailed(_logger, e);
            }
            else
            {
                // The command reports it once, in one line, with what to do; the trace is for debugging only.
                LogFailedExpected(_logger, e);
            }
        }
        finally
        {
            await progressCts.CancelAsync().ConfigureAwait(false);
            await progress.ConfigureAwait(false);
            try
            {
                await _pipeline.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The host (.NET 10) logs a BackgroundService's exception but still exits 0: a supervisor must see this.
                Failure ??= e;
                if (Commands.ExpectedFailure.ExitCode(e) is null)
                {
                    LogCloseFailed(_logger, e);
                }
                else
                {
                    // Said even when the pipeline failed before (the command reports only that first failure), without the trace.
                    LogCloseFailedExpected(_logger, Commands.ExpectedFailure.Describe(e));
                }
            }
        }

        _lifetime.StopApplication();
    }

    private async Task ReportProgressAsync(CancellationToken cancellationToken)
    {
        var runner = _pipeline.Runner;
        long lastChanges = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var changes = runner.ChangesRead;
                if (_pipeline.Source is ISourceLag { Lag: { } lag })
                {
                    LogProgressWithLag(_logger, changes, changes - lastChanges, runner.EventsDelivered, runner.SinceLastProgress.TotalSeconds, lag.Value, lag.Unit);
                }
                else
                {
                    LogProgress(_logger, changes, changes - lastChanges, runner.EventsDelivered, runner.SinceLastProgress.TotalSeconds);
                }

                lastChanges = changes;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "Pipeline failed; stopping")]
    private static partial void LogFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Critical, Message = "Closing the pipeline failed (the source's final commit or a sink's flush); changes acknowledged since the last commit are delivered again after a restart")]
    private static partial void LogCloseFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "Pipeline failed; stopping")]
    private static partial void LogFailedExpected(ILogger logger, Exception error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Critical, Message = "Closing the pipeline failed (the source's final commit or a sink's flush): {Reason}; changes acknowledged since the last commit are delivered again after a restart")]
    private static partial void LogCloseFailedExpected(ILogger logger, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Progress: {Changes} change(s) read (+{Recent} in the last 10 s), {Delivered} event delivery(ies); last acknowledgement {SecondsSinceAck:F1} s ago")]
    private static partial void LogProgress(ILogger logger, long changes, long recent, long delivered, double secondsSinceAck);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Progress: {Changes} change(s) read (+{Recent} in the last 10 s), {Delivered} event delivery(ies); last acknowledgement {SecondsSinceAck:F1} s ago; source lag {Lag} {LagUnit}")]
    private static partial void LogProgressWithLag(ILogger logger, long changes, long recent, long delivered, double secondsSinceAck, long lag, string lagUnit);
}
