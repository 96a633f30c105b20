namespace CdcPipeline.Core.Debezium;

/// <summary>
/// What a (Connect type, logical name, parameters) triple means, resolved once per schema by
/// <see cref="ConnectValues.Classify"/> so that decoding a value is one switch.
/// </summary>
internal enum SemanticKind
{
    /// <summary>No (known) logical name: the value is its base Connect type.</summary>
    None,
    Decimal,
    VariableScaleDecimal,
    /// <summary>Days since the epoch (<c>io.debezium.time.Date</c>, Connect <c>Date</c>).</summary>
    EpochDay,
    /// <summary>Milliseconds since midnight (<c>io.debezium.time.Time</c>, Connect <c>Time</c>).</summary>
    TimeMillis,
    MicroTime,
    NanoTime,
    /// <summary>Milliseconds since the epoch, no zone (<c>io.debezium.time.Timestamp</c>, Connect <c>Timestamp</c>).</summary>
    TimestampMillis,
    MicroTimestamp,
    NanoTimestamp,
    ZonedTimestamp,
    ZonedTime,
    MicroDuration,
    IntervalString,
    Json,
    /// <summary>A logical type carried as a plain string: Uuid, Enum, EnumSet, Xml, Ltree, Tsvector.</summary>
    Text,
    Bits,
    /// <summary>A string column whose source type is NUMERIC/DECIMAL/MONEY (<c>decimal.handling.mode=string</c> with propagated source types).</summary>
    DecimalString,
    /// <summary>A string column whose source type is BYTEA (<c>binary.handling.mode=base64|hex</c> with propagated source types).</summary>
    BinaryString,
    IsoDate,
    IsoTime,
    IsoTimestamp,
    /// <summary>A schema that cannot decode any non-null value; the reason is in <see cref="ConnectSchema.Error"/>.</summary>
    Invalid,
}
