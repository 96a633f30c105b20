namespace CdcPipeline.Core.Debezium;

/// <summary>
/// The connector's <c>binary.handling.mode</c>. With <c>bytes</c> the schema says <c>bytes</c> and
/// nothing needs configuring; with the string modes a BYTEA column's schema is a bare <c>string</c>,
/// which is recognised only when the connector propagates source types
/// (<c>column.propagate.source.type</c> → parameter <c>__debezium.source.column.type=BYTEA</c>).
/// </summary>
public enum BinaryHandlingMode
{
    Bytes,
    Base64,
    Base64UrlSafe,
    Hex,
}
