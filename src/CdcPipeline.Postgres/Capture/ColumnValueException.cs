using CdcPipeline.Core.Pipeline;

namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// A column's text that has no canonical value (a timestamp beyond what int64 microseconds hold): capture stops here,
/// naming table, column and value, rather than passing a wrong value on or failing with a bare parse error (a
/// <see cref="CaptureStoppedException"/>: <c>run</c> prints it in one line, without a stack trace).
/// The converters run bare in the row loops (no wrapper per value on the hot path); each loop catches a failure once,
/// with <see cref="IsConversionFailure"/>, and names the column by the index it stopped at.
/// </summary>
/// <param name="table">Where the value is (<c>schema.table</c>, with the row when that helps to find it).</param>
/// <param name="column">The column.</param>
/// <param name="text">PostgreSQL's text of the value (cut at 200 characters in the message).</param>
/// <param name="inner">The converter's failure.</param>
/// <param name="nextStep">What the operator can do about it, appended to the message; null when there is nothing specific.</param>
internal sealed class ColumnValueException(string table, string column, string text, Exception inner, string? nextStep = null)
    : CaptureStoppedException(
        $"{table}, column '{column}', value '{(text.Length > 200 ? text[..200] + "…" : text)}': {inner.Message}" + (nextStep is null ? "" : ". " + nextStep),
        inner)
{
    /// <summary>What to do about a value a snapshot (initial or incremental) read from the table itself.</summary>
    public const string SnapshotNextStep =
        "The snapshot reads the row as it is now, so retrying cannot help: correct the value in the database (or delete the row), then start again; " +
        "the snapshot resumes after its last acknowledged chunk";

    /// <summary>What a converter throws on text it cannot read (not an I/O or cancellation failure around it).</summary>
    public static bool IsConversionFailure(Exception e) =>
        e is FormatException or OverflowException or ArgumentException or IndexOutOfRangeException;
}
