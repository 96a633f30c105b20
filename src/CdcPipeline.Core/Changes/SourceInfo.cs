namespace CdcPipeline.Core.Changes;

/// <summary>Debezium's <c>source</c> block, for both capture paths.</summary>
public sealed record SourceInfo
{
    public string? Connector { get; init; }
    /// <summary>Debezium's <c>name</c>: the logical server name / topic prefix.</summary>
    public string? Name { get; init; }
    public string? Database { get; init; }
    public string? Schema { get; init; }
    public string? Table { get; init; }
    /// <summary>LSN of the change record itself (Debezium's <c>source.lsn</c>).</summary>
    public long? Lsn { get; init; }
    public long? TxId { get; init; }
    /// <summary>Commit time (Debezium's <c>source.ts_ms</c>, or <c>ts_us</c> when present).</summary>
    public UtcTimestamp? CommitTime { get; init; }
    public SnapshotMarker Snapshot { get; init; }
    /// <summary>Kafka topic the record came from, when it came from Kafka.</summary>
    public string? Topic { get; init; }

    public string QualifiedTable => Schema is null ? Table ?? "" : string.Concat(Schema, ".", Table);
}
