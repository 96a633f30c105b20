using CdcPipeline.Core.Changes;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Core.Pipeline;

internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Pipeline started with {SinkCount} sink(s): {Sinks}")]
    public static partial void Started(ILogger logger, int sinkCount, string sinks);

    [LoggerMessage(EventId = 4505, Level = LogLevel.Warning, Message = "Sink {Sink} has onFailure: log, but the configuration has no failures: section, so there is no failure store: "
        + "what it cannot deliver is dead-lettered instead (deadLetter), not recorded for 'failures resend'. Add failures: {{ connectionString, table }} to record it, or set onFailure: retry to say dead-lettering is meant")]
    public static partial void NoFailureStore(ILogger logger, string sink);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Pipeline stopping: delivering {Buffered} buffered change(s) before exit")]
    public static partial void Draining(ILogger logger, int buffered);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Pipeline stopped: {Changes} change(s) read, {Events} event(s) delivered")]
    public static partial void Stopped(ILogger logger, long changes, long events);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Sink {Sink} commits source positions itself (exactly-once): it gets each batch after every other sink has it")]
    public static partial void DeliversLast(ILogger logger, string sink);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Pipeline stop cut short: runner.drainTimeout ({DrainTimeout}) ran out with {Changes} change(s) ({Events} event(s)) read but not acknowledged; they will be delivered again after a restart (at-least-once). If the sinks need longer, raise runner.drainTimeout, and the stop grace period (docker stop -t, Kubernetes terminationGracePeriodSeconds) above it")]
    public static partial void DrainCutShort(ILogger logger, TimeSpan drainTimeout, int changes, int events);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Closing {Part} after the failed start failed too; the start's own error follows. If it holds a resource (a spool lock, a connection), check it is released before starting again")]
    public static partial void CloseAfterFailedStartFailed(ILogger logger, Exception exception, string part);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Error, Message = "Translation failed at {Position} ({Table}); change dead-lettered")]
    public static partial void TranslationFailed(ILogger logger, Exception error, SourcePosition position, string table);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "Sink {Sink} failed (attempt {Attempt}); retrying in {Delay}")]
    public static partial void SinkRetry(ILogger logger, Exception? error, string sink, int attempt, TimeSpan delay);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Error, Message = "Sink {Sink} could not deliver event {EventId} ({EventType}) at {Position} after {Attempts} attempt(s); dead-lettered")]
    public static partial void DeadLettered(ILogger logger, Exception error, string sink, string eventId, string eventType, SourcePosition position, int attempts);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Warning, Message = "Sink {Sink} failed on event {EventId} ({EventType}) at {Position}; ignored by its policy")]
    public static partial void Ignored(ILogger logger, Exception error, string sink, string eventId, string eventType, SourcePosition position);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "Sink {Sink} failed on event {EventId} ({EventType}) at {Position}; recorded in the failure store")]
    public static partial void FailureLogged(ILogger logger, Exception error, string sink, string eventId, string eventType, SourcePosition position);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Error, Message = "Command {EventId} ({EventType}) targets sink '{Target}', which is not configured; dead-lettered")]
    public static partial void UnknownTarget(ILogger logger, string eventId, string eventType, string? target);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "Acknowledged {Position}")]
    public static partial void Acknowledged(ILogger logger, SourcePosition position);
}
