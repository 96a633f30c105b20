using CdcPipeline.Core.Changes;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Postgres;

internal static partial class Log
{
    [LoggerMessage(1100, LogLevel.Information, "Outbox relay for {Table} is active (holds its advisory lock); resuming after seq {AfterSeq}")]
    public static partial void OutboxRelayActive(ILogger logger, string table, long afterSeq);

    [LoggerMessage(1101, LogLevel.Information, "Another outbox relay holds the lock for {Table}; standing by")]
    public static partial void OutboxRelayStandby(ILogger logger, string table);

    [LoggerMessage(1102, LogLevel.Warning, "Outbox relay for {Table} failed to poll; retrying in {Delay}")]
    public static partial void OutboxPollFailed(ILogger logger, Exception error, string table, TimeSpan delay);

    [LoggerMessage(1103, LogLevel.Debug, "Outbox relay for {Table} marked rows up to {Position} sent ({Rows} row(s))")]
    public static partial void OutboxMarkedSent(ILogger logger, string table, SourcePosition position, int rows);

    [LoggerMessage(1104, LogLevel.Warning, "Outbox table {Table}: row seq {Seq} became visible after rows up to seq {After} were published; published now, out of order. Write outbox rows with OutboxWriter (it serializes commits) to keep seq order")]
    public static partial void OutboxLateRow(ILogger logger, string table, long seq, long after);
}
