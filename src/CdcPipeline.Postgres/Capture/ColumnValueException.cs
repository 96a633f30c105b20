namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// A column's text that has no canonical value (a timestamp beyond what int64 microseconds hold): capture stops here,
/// naming table, column and value, rather than passing a wrong value on or failing with a bare parse error.
/// The converters run bare in the row loops (no wrapper per value on the hot path); each loop catches a failure once,
/// with <see cref="IsConversionFailure"/>, and names the column by the index it stopped at.
/// </summary>
internal sealed class ColumnValueException(string table, string column, string text, Exception inner)
    : Exception($"{table}, column '{column}', value '{(text.Length > 200 ? text[..200] + "…" : text)}': {inner.Message}", inner)
{
    /// <summary>What a converter throws on text it cannot read (not an I/O or cancellation failure around it).</summary>
    public static bool IsConversionFailure(Exception e) =>
        e is FormatException or OverflowException or ArgumentException or IndexOutOfRangeException;
}
