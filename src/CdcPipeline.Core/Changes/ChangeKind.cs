namespace CdcPipeline.Core.Changes;

/// <summary>What a record from a capture path is. Only <see cref="Change"/> carries row images.</summary>
public enum ChangeKind
{
    Change,
    /// <summary>Kafka's null value after a delete: lets log compaction drop the key.</summary>
    Tombstone,
    Heartbeat,
    /// <summary>Debezium transaction metadata (BEGIN / END).</summary>
    Transaction,
    /// <summary>A logical decoding message (<c>pg_logical_emit_message</c>).</summary>
    Message,
}
