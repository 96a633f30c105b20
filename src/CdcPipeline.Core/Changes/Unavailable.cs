namespace CdcPipeline.Core.Changes;

/// <summary>
/// An unchanged TOASTed value that the WAL did not carry. Distinct from <c>null</c>: the column
/// has a value, we just were not told it. Debezium writes <c>__debezium_unavailable_value</c> for it;
/// that literal never leaks past decoding.
/// </summary>
public sealed class Unavailable
{
    public static readonly Unavailable Value = new();

    /// <summary>Debezium's default <c>unavailable.value.placeholder</c>.</summary>
    public const string DebeziumPlaceholder = "__debezium_unavailable_value";

    private Unavailable()
    {
    }

    public override string ToString() => "<unavailable>";
}
