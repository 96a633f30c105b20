using Microsoft.Extensions.Logging;

namespace CdcPipeline.Kafka;

internal static partial class Log
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "Kafka source {Group} subscribing to {Subscription} on {Servers}")]
    public static partial void Subscribing(ILogger logger, string group, string subscription, string servers);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Kafka source {Group}: partitions assigned {Partitions}")]
    public static partial void Assigned(ILogger logger, string group, string partitions);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Kafka source {Group}: partitions revoked {Partitions}; committed {Committed}")]
    public static partial void Revoked(ILogger logger, string group, string partitions, string committed);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Kafka source {Group}: partitions {Partitions} revoked before every handed-out record was acknowledged within {Timeout}; the new owner will redeliver from {Committed}")]
    public static partial void RevokeTimedOut(ILogger logger, string group, string partitions, TimeSpan timeout, string committed);

    [LoggerMessage(EventId = 4500, Level = LogLevel.Warning, Message = "Kafka source {Group}: stopping with records of {Partitions} handed out but not acknowledged (committed: {Committed}); the next start, or the partitions' next owner, reads them again from the group's committed offset")]
    public static partial void StoppedUnacknowledged(ILogger logger, string group, string partitions, string committed);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Kafka source {Group}: partitions lost {Partitions}; their unacknowledged records will be redelivered to the new owner")]
    public static partial void Lost(ILogger logger, string group, string partitions);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Kafka {Client}: client error ({Code}): {Reason}{Advice}")]
    public static partial void ClientError(ILogger logger, string client, Confluent.Kafka.ErrorCode code, string reason, string advice);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "Kafka {Client}: client error ({Code}) {Repeats} more time(s) since it was last logged (repeats within {Window} are counted, not logged); latest: {Reason}{Advice}")]
    public static partial void ClientErrorRepeated(ILogger logger, string client, Confluent.Kafka.ErrorCode code, string reason, string advice, int repeats, TimeSpan window);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Error, Message = "Kafka {Client}: no broker of {Servers} is reachable; the client keeps retrying. Check the bootstrap servers, the network and the brokers ({Repeats} such report(s) held back since the last line)")]
    public static partial void AllBrokersDown(ILogger logger, string client, string servers, int repeats);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Error, Message = "Kafka record {Topic}/{Partition}@{Offset} cannot be decoded; dead-lettering it (skipped once its letter is kept)")]
    public static partial void DecodeFailed(ILogger logger, Exception error, string topic, int partition, long offset);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Warning, Message = "Kafka record {Topic}/{Partition}@{Offset} waits for the Schema Registry (attempt {Attempt}), trying again in {Delay}; check that the registry is up and schemaRegistryUrl and its credentials are right")]
    public static partial void SchemaRegistryUnavailable(ILogger logger, Exception error, string topic, int partition, long offset, int attempt, TimeSpan delay);

    [LoggerMessage(EventId = 4015, Level = LogLevel.Error, Message = "Kafka source {Group}: {Detail}. The committed offset is not in the partition's log (retention or compaction deleted what it pointed to, or the topic was re-created), so reading goes on where autoOffsetReset {Reset} says: the records in between are skipped (earliest: those already deleted; latest: all up to the end) or read again. Replay the group or re-snapshot the table if skipped changes are needed")]
    public static partial void OffsetReset(ILogger logger, string group, string detail, string reset);

    [LoggerMessage(EventId = 4016, Level = LogLevel.Warning, Message = "Kafka source {Group}: {Partitions} have no committed offset (a new group, or its offsets expired) and autoOffsetReset is {Reset}: they start at the end of their logs, and the records already in them are not read. To read them, stop the pipeline and replay the group (replay --to earliest or a timestamp), or set autoOffsetReset to earliest before a new group's first start")]
    public static partial void StartsAtEnd(ILogger logger, string group, string partitions, string reset);

    [LoggerMessage(EventId = 4017, Level = LogLevel.Debug, Message = "Kafka source {Group}: the committed offsets of the assigned partitions could not be looked up ({Reason}); whether they start at the end is not reported")]
    public static partial void CommittedLookupFailed(ILogger logger, string group, string reason);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Debug, Message = "Kafka source {Group}: buffer full, pausing {Count} partition(s)")]
    public static partial void Paused(ILogger logger, string group, int count);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Debug, Message = "Kafka source {Group}: buffer drained, resuming {Count} partition(s)")]
    public static partial void Resumed(ILogger logger, string group, int count);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Debug, Message = "Kafka source {Group}: partitions {Partitions} not resumed, librdkafka no longer knows them ({Reason}); nothing of theirs is paused")]
    public static partial void ResumeSkipped(ILogger logger, string group, string partitions, string reason);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "Kafka source {Group}: commit failed ({Reason}); the offsets are committed again later")]
    public static partial void CommitFailed(ILogger logger, string group, string reason);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Debug, Message = "Kafka source: acknowledgement for {Position} ignored, the partition is no longer owned or the record was handed out before it was assigned again")]
    public static partial void LateAck(ILogger logger, string position);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "Kafka sink {Sink}: producing to {Template} on {Servers} ({Format}{Transactional})")]
    public static partial void SinkStarted(ILogger logger, string sink, string template, string servers, string format, string transactional);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Warning, Message = "Kafka sink {Sink}: transaction aborted after a failed batch ({Reason})")]
    public static partial void TransactionAborted(ILogger logger, string sink, string reason);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "Kafka sink {Sink}: the failed batch's transaction ({Reason}) could not be aborted on this producer; it is replaced, and the new one's InitTransactions fences it and aborts the transaction")]
    public static partial void TransactionProducerReset(ILogger logger, Exception error, string sink, string reason);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Information, Message = "Kafka sink {Sink}: transaction {Operation} failed with a retriable error (attempt {Attempt}: {Reason}); trying again")]
    public static partial void TransactionRetry(ILogger logger, string sink, string operation, int attempt, string reason);

    [LoggerMessage(EventId = 4030, Level = LogLevel.Warning, Message = "Dead letter written to {Topic}: stage {Stage}, position {Position}")]
    public static partial void DeadLetterWritten(ILogger logger, string topic, string stage, string position);
}
