namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// A column's text that has no canonical value (a timestamp beyond what int64 microseconds hold): capture stops here,
/// naming table, column and value, rather than passing a wrong value on or failing with a bare parse error.
/// </summary>
internal sealed class ColumnValueException(string table, string column, string text, Exception inner)
    : Exception($"{table}, column '{column}', value '{(text.Length > 200 ? text[..200] + "…" : text)}': {inner.Message}", inner)
{
    /// <summary>Runs <paramref name="convert"/> on <paramref name="text"/>, naming table and column when it fails.</summary>
    public static object? Convert(Func<string, object?> convert, string text, string table, string column)
    {
        try
        {
            return convert(text);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or IndexOutOfRangeException)
        {
            throw new ColumnValueException(table, column, text, e);
        }
    }
}
