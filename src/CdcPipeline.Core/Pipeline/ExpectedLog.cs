using CdcPipeline.Core.Changes;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// The events of <see cref="Log"/> a sink's failure is logged with (1011–1014), for an expected failure (the remote end said
/// no or did not answer, <see cref="DeliveryFailures"/>) below debug level: one line, no stack trace. Likewise 1010 for a
/// translation failure that is the rules' verdict on the data (<see cref="TranslationFailures"/>). Its message and its
/// causes' messages are <c>Reason</c>, its type the field <c>ExceptionType</c> to select on. Same ids, levels and fields
/// otherwise: a filter on the event id finds both.
/// </summary>
internal static partial class ExpectedLog
{
    // ExceptionType is a field of the record, not words for the reader: named as the parameter is, as in run's EventId 30.
#pragma warning disable SYSLIB1015
    [LoggerMessage(EventId = 1010, Level = LogLevel.Error, Message = "Translation failed at {Position} ({Table}), rule {Rule}; change dead-lettered: {Reason}")]
    public static partial void TranslationFailed(ILogger logger, SourcePosition position, string table, string rule, string reason, string? ExceptionType);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "Sink {Sink} failed (attempt {Attempt}); retrying in {Delay}: {Reason}")]
    public static partial void SinkRetry(ILogger logger, string sink, int attempt, TimeSpan delay, string reason, string? ExceptionType);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Error, Message = "Sink {Sink} could not deliver event {EventId} ({EventType}) at {Position} after {Attempts} attempt(s); dead-lettered: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string sink, string eventId, string eventType, SourcePosition position, int attempts, string reason, string? ExceptionType);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Warning, Message = "Sink {Sink} failed on event {EventId} ({EventType}) at {Position}; ignored by its policy: {Reason}")]
    public static partial void Ignored(ILogger logger, string sink, string eventId, string eventType, SourcePosition position, string reason, string? ExceptionType);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "Sink {Sink} failed on event {EventId} ({EventType}) at {Position}; recorded in the failure store: {Reason}")]
    public static partial void FailureLogged(ILogger logger, string sink, string eventId, string eventType, SourcePosition position, string reason, string? ExceptionType);
#pragma warning restore SYSLIB1015
}
