namespace CdcPipeline.Core.Debezium;

/// <summary>
/// A Debezium record that cannot be decoded. <see cref="Exception.Message"/> names the field
/// (<c>field 'after.ord_amt': …</c>) and the reason; the caller adds where the record came from.
/// </summary>
public sealed class DebeziumDecodeException : Exception
{
    public DebeziumDecodeException(string message)
        : base(message)
    {
        Reason = message;
    }

    public DebeziumDecodeException(string message, Exception inner)
        : base(message, inner)
    {
        Reason = message;
    }

    private DebeziumDecodeException(string? fieldPath, string reason, Exception? inner)
        : base(fieldPath is null ? reason : $"field '{fieldPath}': {reason}", inner)
    {
        FieldPath = fieldPath;
        Reason = reason;
    }

    /// <summary>The dotted path of the field that failed (<c>after.ord_amt</c>), when known.</summary>
    public string? FieldPath { get; }

    /// <summary>The reason without the field path.</summary>
    public string Reason { get; }

    /// <summary>The same error one struct level up: <c>ord_amt</c> becomes <c>after.ord_amt</c>.</summary>
    public DebeziumDecodeException Within(string field) =>
        new(FieldPath is null ? field : string.Concat(field, ".", FieldPath), Reason, InnerException);

    public static DebeziumDecodeException ForField(string field, string reason, Exception? inner = null) => new(field, reason, inner);

    /// <summary>
    /// <paramref name="what"/> (<c>malformed JSON in the value</c>) and System.Text.Json's reason, placed in <paramref name="part"/>
    /// (<c>value</c>, <c>key</c>, <c>line</c>) by byte: without the reader's own "LineNumber: 0 | BytePositionInLine: 19.", whose
    /// lines count from 0 within the part and read as a second line number, contradicting the input line's.
    /// </summary>
    public static DebeziumDecodeException Malformed(string what, string part, System.Text.Json.JsonException e)
    {
        var reason = e.Message;
        var suffix = reason.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        if (suffix >= 0)
        {
            reason = reason[..suffix];
        }

        var where = e.BytePositionInLine is not { } b ? ""
            : e.LineNumber is { } line && line > 0 ? $" (at line {line + 1}, byte {b} of the {part})"
            : $" (at byte {b} of the {part})";
        return new DebeziumDecodeException($"{what}: {reason}{where}", e);
    }
}
