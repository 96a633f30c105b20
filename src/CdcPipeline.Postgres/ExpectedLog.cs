using Microsoft.Extensions.Logging;

namespace CdcPipeline.Postgres;

/// <summary>
/// The events of <see cref="Log"/> a lost connection is logged with (1003, 1020, 1043, 1044, 61) when it is the expected failure of
/// the environment (the server restarting, a terminated backend, a network cut) and debug is off: one line with the cause
/// as <c>Reason</c> and its type as the field <c>ExceptionType</c>, no stack trace (that is for bugs and <c>--log-level
/// debug</c>), as the pipeline's own ExpectedLog does for sinks. Same ids, levels and fields otherwise.
/// </summary>
internal static partial class ExpectedLog
{
    // ExceptionType is a field of the record, not words for the reader: named as the parameter is, as in the pipeline's ExpectedLog.
#pragma warning disable SYSLIB1015
    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning,
        Message = "Replication connection for slot {Slot} lost (attempt {Attempt}): {Reason}; reconnecting in {DelayMs} ms, it resumes from {ResumeFrom}")]
    public static partial void Reconnecting(ILogger logger, string slot, int attempt, string reason, long delayMs, string resumeFrom, string? ExceptionType);

    [LoggerMessage(EventId = 1043, Level = LogLevel.Warning,
        Message = "Connection lost while replication slot {Slot} was starting, before streaming (attempt {Attempt}): {Reason}; starting again in {DelayMs} ms, its start-up checks included")]
    public static partial void StartConnectionLost(ILogger logger, string slot, int attempt, string reason, long delayMs, string? ExceptionType);

    [LoggerMessage(EventId = 1044, Level = LogLevel.Warning,
        Message = "Connection lost during the initial snapshot of slot {Slot} (attempt {Attempt}): {Reason}; in {DelayMs} ms the rest ({Tables}) is read {How}, after the last row handed out")]
    public static partial void SnapshotConnectionLost(ILogger logger, string slot, int attempt, string reason, long delayMs, string tables, string how, string? ExceptionType);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Heartbeat for slot {Slot} failed: {Reason}; retrying next interval")]
    public static partial void HeartbeatFailed(ILogger logger, string slot, string reason, string? ExceptionType);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Slot check for slot {Slot} (wal_status and lag, heartbeats off) failed: {Reason}; retrying next interval")]
    public static partial void SlotCheckFailed(ILogger logger, string slot, string reason, string? ExceptionType);
#pragma warning restore SYSLIB1015
}
