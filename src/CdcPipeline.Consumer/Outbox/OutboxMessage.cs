namespace CdcPipeline.Consumer.Outbox;

/// <summary>
/// One event a service publishes through its outbox, in Debezium's outbox-table terms:
/// the aggregate type routes it, the aggregate id keys (and orders) it, the payload is its data.
/// </summary>
public sealed record OutboxMessage
{
    /// <summary>The event id downstream consumers de-duplicate on; a version 7 UUID (time-ordered, index-friendly) unless given.</summary>
    public Guid Id { get; init; } = Guid.CreateVersion7();

    /// <summary>What kind of aggregate changed, e.g. <c>Order</c>: Debezium's outbox router (and the pipeline's) route by it.</summary>
    public required string AggregateType { get; init; }

    /// <summary>Which aggregate changed, e.g. the order id: the message key, so one aggregate's events stay in order.</summary>
    public required string AggregateId { get; init; }

    /// <summary>The event type, e.g. <c>OrderPlaced</c>.</summary>
    public required string Type { get; init; }

    /// <summary>The payload as JSON text (stored as jsonb, so it must be valid JSON).</summary>
    public required string PayloadJson { get; init; }
}
