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
}
