namespace CdcPipeline.Core.Debezium;

/// <summary>How the decoders read Debezium records; the defaults match Debezium's defaults.</summary>
public sealed record DebeziumDecoderOptions
{
    public static DebeziumDecoderOptions Default { get; } = new();

    /// <summary>The connector's <c>unavailable.value.placeholder</c>.</summary>
    public string UnavailablePlaceholder { get; init; } = Changes.Unavailable.DebeziumPlaceholder;

    /// <summary>See <see cref="BinaryHandlingMode"/>: how a BYTEA carried as a string is decoded.</summary>
    public BinaryHandlingMode BinaryHandlingMode { get; init; } = BinaryHandlingMode.Bytes;

    /// <summary>Keep the record's value and key bytes in <see cref="Changes.ChangeEvent.Raw"/> and <see cref="Changes.ChangeEvent.RawKey"/> (for dead letters).</summary>
    public bool RetainRaw { get; init; }

    /// <summary>The heartbeat topic prefix (<c>topic.heartbeat.prefix</c>).</summary>
    public string HeartbeatTopicPrefix { get; init; } = "__debezium-heartbeat";

    /// <summary>The transaction topic suffix (<c>topic.transaction</c>).</summary>
    public string TransactionTopicSuffix { get; init; } = "transaction";
}
