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

    /// <summary>
    /// This source without what differs from record to record (<see cref="Lsn"/>, <see cref="TxId"/>,
    /// <see cref="CommitTime"/>): connector, server, database, table, topic and snapshot marker, all a sink's topic
    /// template reads. <paramref name="last"/> when it already is that, so the changes of one table in a run of
    /// records share one instance (see <see cref="ChangeEvent.Header"/>).
    /// </summary>
    public SourceInfo WithoutRecordFields(SourceInfo? last)
    {
        if (last is { Lsn: null, TxId: null, CommitTime: null }
            && last.Snapshot == Snapshot
            && string.Equals(last.Table, Table, StringComparison.Ordinal)
            && string.Equals(last.Schema, Schema, StringComparison.Ordinal)
            && string.Equals(last.Topic, Topic, StringComparison.Ordinal)
            && string.Equals(last.Name, Name, StringComparison.Ordinal)
            && string.Equals(last.Database, Database, StringComparison.Ordinal)
            && string.Equals(last.Connector, Connector, StringComparison.Ordinal))
        {
            return last;
        }

        return this with { Lsn = null, TxId = null, CommitTime = null };
    }
}
