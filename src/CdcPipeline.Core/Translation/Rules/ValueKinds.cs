namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// What values a column or an expression can have inside a rule expression, as far as the rules (at load) or the table's
/// column types (at the embedded capture's start, or in a Kafka record's schema) tell: <see cref="RuleTypeCheck"/> finds with them the comparisons and
/// conditions that would fail on every change they are evaluated on.
/// </summary>
[Flags]
internal enum ValueKinds
{
    None = 0,
    Bool = 1,
    Text = 2,

    /// <summary>A 64-bit integer (SMALLINT, INTEGER, BIGINT arrive as <see cref="long"/>).</summary>
    Integer = 4,

    /// <summary>A <see cref="decimal"/>: NUMERIC, MONEY, every number literal, <c>number()</c>.</summary>
    Decimal = 8,

    /// <summary>REAL, DOUBLE PRECISION: C# compares them with an integer but not with a decimal.</summary>
    Float = 16,
    Date = 32,

    /// <summary>TIMESTAMP (without time zone), <c>timestamp()</c>.</summary>
    LocalTimestamp = 64,
    Other = 128,

    /// <summary>TIMESTAMPTZ, <c>source.commitTime</c>.</summary>
    UtcTimestamp = 256,

    /// <summary>TIME (without time zone).</summary>
    LocalTime = 512,

    /// <summary>TIMETZ.</summary>
    UtcTime = 1024,
    Number = Integer | Decimal | Float,

    /// <summary>The times: each compares only with its own type (a timestamp not with a timestamptz, nor with a date).</summary>
    Time = LocalTimestamp | UtcTimestamp | LocalTime | UtcTime,
    Any = Bool | Text | Number | Date | Time | Other,
}
