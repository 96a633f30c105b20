namespace CdcPipeline.Core.Changes;

/// <summary>Debezium transaction metadata: one BEGIN and one END record per transaction.</summary>
public sealed record TransactionInfo
{
    /// <summary><c>BEGIN</c> or <c>END</c>.</summary>
    public required string Status { get; init; }
    /// <summary>Debezium's transaction id: <c>txId:LSN</c> for PostgreSQL.</summary>
    public required string Id { get; init; }
    /// <summary>On END: how many change events the transaction produced.</summary>
    public long? EventCount { get; init; }
    /// <summary>On END: per data collection (<c>schema.table</c>) event counts.</summary>
    public IReadOnlyDictionary<string, long>? DataCollections { get; init; }
}
