namespace CdcPipeline.Kafka.DeadLetters;

/// <summary>The headers a dead-letter record carries (its value is the original bytes, untouched).</summary>
public static class DeadLetterHeaders
{
    public const string Error = "cdc.error";
    public const string ErrorType = "cdc.error.type";
    public const string Stage = "cdc.stage";
    public const string Position = "cdc.position";
    /// <summary>Where the source record came from; only on a letter that holds it (stage decode or translate, no event id).</summary>
    public const string OriginalTopic = "cdc.original.topic";
    public const string OriginalPartition = "cdc.original.partition";
    public const string OriginalOffset = "cdc.original.offset";
    public const string EventId = "cdc.event.id";
    public const string EventType = "cdc.event.type";
    public const string FailedAt = "cdc.failed.at";
    public const string Attempts = "cdc.attempts";

    /// <summary>
    /// librdkafka's largest <c>message.max.bytes</c>, for the clients that write dead letters and redrive them. Its default
    /// (1,000,000) refuses, before any broker is asked, records that Kafka Connect writes by default (up to 1 MiB,
    /// <c>max.request.size</c>) and larger ones where the change topics allow them: a letter must fit wherever its record
    /// fitted, so the brokers decide (the topic's <c>max.message.bytes</c>); <c>batch.size</c> still bounds a batch.
    /// </summary>
    public const int MessageMaxBytes = 1_000_000_000;

    /// <summary>Set on a record a redrive re-produced: the dead letter's own topic/partition@offset (de-duplication, audit).</summary>
    public const string RedrivenFrom = "cdc.redriven.from";

    private static readonly HashSet<string> Ours =
        [Error, ErrorType, Stage, Position, OriginalTopic, OriginalPartition, OriginalOffset, EventId, EventType, FailedAt, Attempts, RedrivenFrom];

    /// <summary>
    /// True for a header that says why and where a record failed rather than belonging to the record: ours (an earlier
    /// redrive's mark included, a new redrive sets its own), and Kafka Connect's (<c>errors.deadletterqueue.context.headers.enable</c>).
    /// </summary>
    public static bool DescribesFailure(string name) =>
        Ours.Contains(name) || name.StartsWith("__connect.errors.", StringComparison.Ordinal);
}
