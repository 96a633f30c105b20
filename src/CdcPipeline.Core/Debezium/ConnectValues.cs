using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// THE conversion from a Kafka Connect value (base type + logical name + parameters + raw primitive)
/// to the canonical CLR value of the change-event model. The JSON and the Avro decoders only turn
/// their wire encoding into Connect primitives (long, double, bool, string, byte[], struct
/// <see cref="Row"/>, list, map <see cref="Row"/>) and call in here, so both give the same value
/// for the same column. An unknown logical name falls back to its base type — except one of
/// Debezium's or Kafka Connect's own namespaces on a primitive, whose value is in an encoding this
/// decoder does not know (a unit, an epoch): that is an error rather than a number read wrongly.
/// A value that does not fit its base type is an error.
/// </summary>
public sealed class ConnectValues
{
    // pgjdbc's PGStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY: Debezium turns a
    // TIMESTAMP 'infinity' into the instant this many microseconds (MicroTimestamp) or, divided
    // by 1000, milliseconds (Timestamp) after the epoch.
    private const long PgPositiveInfinity = 9223372036825200000L;
    private const long PgNegativeInfinity = -9223372036832400000L;

    // Debezium's DATE 'infinity'/'-infinity' (LocalDate -5877611-06-21 / -22, pgjdbc's overflowed day numbers).
    private const int PgPositiveInfinityDays = -2147472693;
    private const int PgNegativeInfinityDays = -2147472692;

    private readonly UnavailablePlaceholder _placeholder;

    public ConnectValues(DebeziumDecoderOptions? options = null)
    {
        Options = options ?? DebeziumDecoderOptions.Default;
        _placeholder = new UnavailablePlaceholder(Options.UnavailablePlaceholder);
    }

    public DebeziumDecoderOptions Options { get; }

    internal UnavailablePlaceholder Placeholder => _placeholder;

    /// <summary>
    /// Resolves a schema's meaning once. An unknown logical name means: use the base type — unless it is in Debezium's or
    /// Connect's namespace and names a primitive (see <see cref="UnknownLogicalType"/>).
    /// </summary>
    internal static (SemanticKind Kind, int Scale, int BitLength, string? Error) Classify(ConnectSchema s)
    {
        var t = s.Type;
        switch (s.Name)
        {
            case "org.apache.kafka.connect.data.Decimal":
                if (t != ConnectType.Bytes)
                {
                    return Invalid($"Decimal schema of type {Lower(t)}; Decimal is carried as bytes");
                }

                if (!s.Parameters.TryGetValue("scale", out var scaleText))
                {
                    return Invalid("Decimal schema without 'scale' parameter");
                }

                if (!int.TryParse(scaleText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var scale))
                {
                    return Invalid($"Decimal schema with non-integer 'scale' parameter '{scaleText}'");
                }

                return (SemanticKind.Decimal, scale, 0, null);
            case "io.debezium.data.VariableScaleDecimal":
                return t == ConnectType.Struct && s.Field("scale") is not null && s.Field("value") is not null
                    ? (SemanticKind.VariableScaleDecimal, 0, 0, null)
                    : Invalid("VariableScaleDecimal schema is not a struct {scale, value}");
            case "io.debezium.time.Date" or "org.apache.kafka.connect.data.Date":
                return Expect(t, ConnectType.Int32, SemanticKind.EpochDay);
            case "io.debezium.time.Time" or "org.apache.kafka.connect.data.Time":
                return Expect(t, ConnectType.Int32, SemanticKind.TimeMillis);
            case "io.debezium.time.MicroTime":
                return Expect(t, ConnectType.Int64, SemanticKind.MicroTime);
            case "io.debezium.time.NanoTime":
                return Expect(t, ConnectType.Int64, SemanticKind.NanoTime);
            case "io.debezium.time.Timestamp" or "org.apache.kafka.connect.data.Timestamp":
                return Expect(t, ConnectType.Int64, SemanticKind.TimestampMillis);
            case "io.debezium.time.MicroTimestamp":
                return Expect(t, ConnectType.Int64, SemanticKind.MicroTimestamp);
            case "io.debezium.time.NanoTimestamp":
                return Expect(t, ConnectType.Int64, SemanticKind.NanoTimestamp);
            case "io.debezium.time.ZonedTimestamp":
                return Expect(t, ConnectType.String, SemanticKind.ZonedTimestamp);
            case "io.debezium.time.ZonedTime":
                return Expect(t, ConnectType.String, SemanticKind.ZonedTime);
            case "io.debezium.time.MicroDuration":
                return t is ConnectType.Int64 or ConnectType.Float64
                    ? (SemanticKind.MicroDuration, 0, 0, null)
                    : Invalid($"MicroDuration schema of type {Lower(t)}; expected int64");
            case "io.debezium.time.Interval":
                return Expect(t, ConnectType.String, SemanticKind.IntervalString);
            case "io.debezium.time.IsoDate":
                return Expect(t, ConnectType.String, SemanticKind.IsoDate);
            case "io.debezium.time.IsoTime":
                return Expect(t, ConnectType.String, SemanticKind.IsoTime);
            case "io.debezium.time.IsoTimestamp":
                return Expect(t, ConnectType.String, SemanticKind.IsoTimestamp);
            case "io.debezium.data.Json":
                return Expect(t, ConnectType.String, SemanticKind.Json);
            case "io.debezium.data.Uuid" or "io.debezium.data.Enum" or "io.debezium.data.EnumSet" or "io.debezium.data.Xml"
                or "io.debezium.data.Ltree" or "io.debezium.data.Tsvector" or "io.debezium.data.TsVector":
                return Expect(t, ConnectType.String, SemanticKind.Text);
            case "io.debezium.time.Year":
                // MySQL's YEAR: the int32 is the year itself.
                return Expect(t, ConnectType.Int32, SemanticKind.None);
            case "io.debezium.data.Bits":
                if (t != ConnectType.Bytes)
                {
                    return Invalid($"Bits schema of type {Lower(t)}; Bits is carried as bytes");
                }

                // A BIT VARYING without a declared length has no usable 'length' (Debezium writes 2147483647): then the
                // value is the bits from the first 1 (ToBitString).
                var bits = s.Parameters.TryGetValue("length", out var lengthText)
                    && int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 1 << 20
                    ? n : 0;
                return (SemanticKind.Bits, 0, bits, null);
        }

        if (t == ConnectType.String && s.Parameters.TryGetValue("__debezium.source.column.type", out var sourceType))
        {
            // column.propagate.source.type tells what a bare string really is.
            switch (sourceType.ToUpperInvariant())
            {
                case "NUMERIC" or "DECIMAL" or "MONEY":
                    return (SemanticKind.DecimalString, 0, 0, null);
                case "BYTEA":
                    return (SemanticKind.BinaryString, 0, 0, null);
            }
        }

        return UnknownLogicalType(s) is { } unknown ? Invalid(unknown) : (SemanticKind.None, 0, 0, null);

        static (SemanticKind, int, int, string?) Invalid(string why) => (SemanticKind.Invalid, 0, 0, why);

        static (SemanticKind, int, int, string?) Expect(ConnectType actual, ConnectType expected, SemanticKind kind) =>
            actual == expected ? (kind, 0, 0, null) : Invalid($"schema of type {Lower(actual)} for a logical type carried as {Lower(expected)}");
    }

    /// <summary>
    /// What the values of a column of <paramref name="s"/> are to rule expressions: the kinds of what this class converts them
    /// to (<see cref="Translation.Rules.RuleValues.ForExpression"/> makes a decimal a <see cref="decimal"/>), as
    /// <c>PgTextValues.RuleKinds</c> gives them for the embedded capture's columns; <see cref="ValueKinds.Any"/> when unsure.
    /// </summary>
    internal static ValueKinds RuleKinds(ConnectSchema s) => s.Semantic switch
    {
        SemanticKind.None or SemanticKind.MicroDuration => s.Type switch
        {
            ConnectType.Boolean => ValueKinds.Bool,
            ConnectType.Int8 or ConnectType.Int16 or ConnectType.Int32 or ConnectType.Int64 => ValueKinds.Integer,
            ConnectType.Float32 => ValueKinds.Float,
            ConnectType.Float64 => s.Semantic == SemanticKind.MicroDuration ? ValueKinds.Integer : ValueKinds.Float,
            ConnectType.String => ValueKinds.Text,
            _ => ValueKinds.Any,
        },
        SemanticKind.Text or SemanticKind.IntervalString => ValueKinds.Text,
        SemanticKind.Decimal or SemanticKind.VariableScaleDecimal or SemanticKind.DecimalString => ValueKinds.Decimal,
        SemanticKind.EpochDay or SemanticKind.IsoDate => ValueKinds.Date,
        SemanticKind.TimeMillis or SemanticKind.MicroTime or SemanticKind.NanoTime or SemanticKind.IsoTime => ValueKinds.LocalTime,
        SemanticKind.TimestampMillis or SemanticKind.MicroTimestamp or SemanticKind.NanoTimestamp or SemanticKind.IsoTimestamp => ValueKinds.LocalTimestamp,
        SemanticKind.ZonedTimestamp => ValueKinds.UtcTimestamp,
        SemanticKind.ZonedTime => ValueKinds.UtcTime,
        _ => ValueKinds.Any,
    };

    private static string Lower(ConnectType t) => t.ToString().ToLowerInvariant();

    /// <summary>
    /// Why a primitive with a logical name of Debezium's or Kafka Connect's own cannot be read as its base type, or null.
    /// Such a name on a number or bytes is a rule for reading the value (<c>io.debezium.time.NanoDuration</c> counts
    /// nanoseconds, a <c>Date</c> days): taking the bare number for the value would change its meaning without a word, so
    /// one this decoder does not know fails the record (to the dead letters, where it can be redriven once decoded).
    /// A string keeps its text (a newer connector's text type such as a vector's or a range's stays readable), as do
    /// names of others (a custom converter's <c>com.acme.Cents</c>): they are the user's own and keep their base value.
    /// </summary>
    private static string? UnknownLogicalType(ConnectSchema s) =>
        s.Name is { } name && s.Type is not (ConnectType.Struct or ConnectType.Array or ConnectType.Map or ConnectType.String)
        && (name.StartsWith("io.debezium.", StringComparison.Ordinal) || name.StartsWith("org.apache.kafka.connect.", StringComparison.Ordinal))
            ? $"unknown logical type '{name}' ({Lower(s.Type)}): its encoding is not one this decoder knows, so the bare value is not taken "
              + "for the column's; check the connector's version (connector-config/Dockerfile pins Debezium 2.5) and its converters"
            : null;

    /// <summary>Dispatches a raw Connect value by its runtime type (the Avro decoder's entry point).</summary>
    public object? Convert(ConnectSchema schema, object? raw) => raw switch
    {
        null => null,
        long l => FromInt64(schema, l),
        int i => FromInt64(schema, i),
        short sh => FromInt64(schema, sh),
        sbyte sb => FromInt64(schema, sb),
        byte b => FromInt64(schema, b),
        double d => FromDouble(schema, d),
        float f => FromDouble(schema, f),
        bool b => FromBoolean(schema, b),
        string s => FromString(schema, s),
        byte[] bytes => FromBytes(schema, bytes),
        ExactDecimal dec => FromDecimal(schema, dec),
        Row row => schema.Type == ConnectType.Map ? FromMap(schema, row) : FromStruct(schema, row),
        IReadOnlyList<object?> list => FromArray(schema, list),
        _ => throw new DebeziumDecodeException($"a {raw.GetType().Name} value for a {schema} schema"),
    };

    public object? FromInt64(ConnectSchema schema, long value)
    {
        switch (schema.Type)
        {
            case ConnectType.Int8 when value is < sbyte.MinValue or > sbyte.MaxValue:
            case ConnectType.Int16 when value is < short.MinValue or > short.MaxValue:
            case ConnectType.Int32 when value is < int.MinValue or > int.MaxValue:
                throw new DebeziumDecodeException($"{value} does not fit the schema's type {Lower(schema.Type)}");
            case ConnectType.Int8 or ConnectType.Int16 or ConnectType.Int32 or ConnectType.Int64:
                break;
            case ConnectType.Float32:
                return (float)value;
            case ConnectType.Float64:
                return (double)value;
            default:
                throw Mismatch(schema, "an integer");
        }

        switch (schema.Semantic)
        {
            case SemanticKind.None or SemanticKind.MicroDuration:
                return value;
            case SemanticKind.EpochDay:
                return value switch
                {
                    PgPositiveInfinityDays or int.MaxValue => Changes.Date.PositiveInfinity,
                    PgNegativeInfinityDays or int.MinValue => Changes.Date.NegativeInfinity,
                    _ => CheckedDate(value),
                };
            case SemanticKind.TimeMillis:
                return CheckedTime(value * 1000);
            case SemanticKind.MicroTime:
                return CheckedTime(value);
            case SemanticKind.NanoTime:
                return CheckedTime(value / 1000);
            case SemanticKind.TimestampMillis:
                return value switch
                {
                    PgPositiveInfinity / 1000 or PgPositiveInfinity => LocalTimestamp.PositiveInfinity,
                    PgNegativeInfinity / 1000 or PgNegativeInfinity => LocalTimestamp.NegativeInfinity,
                    _ => new LocalTimestamp(CheckedMicros(value, 1000)),
                };
            case SemanticKind.MicroTimestamp:
                return value switch
                {
                    PgPositiveInfinity => LocalTimestamp.PositiveInfinity,
                    PgNegativeInfinity => LocalTimestamp.NegativeInfinity,
                    _ => new LocalTimestamp(CheckedMicros(value, 1)),
                };
            case SemanticKind.NanoTimestamp:
                return new LocalTimestamp(CheckedMicros(Math.DivRem(value, 1000, out var rem) - (rem < 0 ? 1 : 0), 1));
            case SemanticKind.Invalid:
                throw new DebeziumDecodeException(schema.Error!);
            default:
                throw Mismatch(schema, "an integer");
        }
    }

    public object? FromDouble(ConnectSchema schema, double value) => schema.Type switch
    {
        ConnectType.Float32 => (object)(float)value,
        ConnectType.Float64 when schema.Semantic == SemanticKind.MicroDuration => double.IsInteger(value)
            ? (object)(long)value
            : throw new DebeziumDecodeException($"MicroDuration {value.ToString(CultureInfo.InvariantCulture)} is not a whole number of microseconds"),
        ConnectType.Float64 => value,
        _ => throw Mismatch(schema, "a floating-point number"),
    };

    public object? FromBoolean(ConnectSchema schema, bool value) =>
        schema.Type == ConnectType.Boolean ? value : throw Mismatch(schema, "a boolean");

    /// <summary>A decimal already decoded by the wire format (Avro's decimal logical type, JSON <c>decimal.format=NUMERIC</c>).</summary>
    public object? FromDecimal(ConnectSchema schema, ExactDecimal value)
    {
        if (schema.Semantic == SemanticKind.Invalid)
        {
            throw new DebeziumDecodeException(schema.Error!);
        }

        if (schema.Semantic != SemanticKind.Decimal)
        {
            throw Mismatch(schema, "a decimal number");
        }

        return value.Scale == schema.Scale || !value.IsFinite ? value : Rescale(value, schema.Scale);
    }

    public object? FromString(ConnectSchema schema, string value)
    {
        if (schema.Type is ConnectType.Float32 or ConnectType.Float64)
        {
            // Kafka's JsonConverter (Jackson) writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity".
            double? special = value switch
            {
                "NaN" => double.NaN,
                "Infinity" => double.PositiveInfinity,
                "-Infinity" => double.NegativeInfinity,
                _ => null,
            };
            return special is { } d ? FromDouble(schema, d) : throw Mismatch(schema, $"the string \"{Truncate(value)}\"");
        }

        if (schema.Type != ConnectType.String)
        {
            throw Mismatch(schema, "a string");
        }

        if (_placeholder.IsText(value))
        {
            return Unavailable.Value;
        }

        switch (schema.Semantic)
        {
            case SemanticKind.None or SemanticKind.Text or SemanticKind.IntervalString:
                return value;
            case SemanticKind.ZonedTimestamp:
                return value switch
                {
                    "infinity" => UtcTimestamp.PositiveInfinity,
                    "-infinity" => UtcTimestamp.NegativeInfinity,
                    _ => new UtcTimestamp(ParseTimestamp(value, requireOffset: true)),
                };
            case SemanticKind.ZonedTime:
                return new UtcTime(ParseTime(value, requireOffset: true));
            case SemanticKind.IsoDate:
                return value switch
                {
                    "infinity" => Changes.Date.PositiveInfinity,
                    "-infinity" => Changes.Date.NegativeInfinity,
                    _ => new Changes.Date(ParseDate(value, 0, out _)),
                };
            case SemanticKind.IsoTime:
                return new LocalTime(ParseTime(value, requireOffset: false));
            case SemanticKind.IsoTimestamp:
                return value switch
                {
                    "infinity" => LocalTimestamp.PositiveInfinity,
                    "-infinity" => LocalTimestamp.NegativeInfinity,
                    _ => new LocalTimestamp(ParseTimestamp(value, requireOffset: false)),
                };
            case SemanticKind.Json:
                return ValidJson(value);
            case SemanticKind.DecimalString:
                return ExactDecimal.TryParse(value, out var dec)
                    ? dec
                    : throw new DebeziumDecodeException($"\"{Truncate(value)}\" is not a decimal number");
            case SemanticKind.BinaryString:
                return DecodeBinaryString(value);
            case SemanticKind.Invalid:
                throw new DebeziumDecodeException(schema.Error!);
            default:
                throw Mismatch(schema, "a string");
        }
    }

    public object? FromBytes(ConnectSchema schema, byte[] value)
    {
        if (schema.Type != ConnectType.Bytes)
        {
            throw Mismatch(schema, "bytes");
        }

        switch (schema.Semantic)
        {
            case SemanticKind.None:
                return _placeholder.IsBytes(value) ? Unavailable.Value : value;
            case SemanticKind.Decimal:
                return ExactDecimal.FromBigEndianTwosComplement(value, schema.Scale);
            case SemanticKind.Bits:
                return ToBitString(value, schema.BitLength);
            case SemanticKind.Invalid:
                throw new DebeziumDecodeException(schema.Error!);
            default:
                throw Mismatch(schema, "bytes");
        }
    }

    /// <summary>A struct value whose fields are already converted; VariableScaleDecimal collapses into one number.</summary>
    public object? FromStruct(ConnectSchema schema, Row value)
    {
        if (schema.Type != ConnectType.Struct)
        {
            throw Mismatch(schema, "a struct");
        }

        switch (schema.Semantic)
        {
            case SemanticKind.VariableScaleDecimal:
                var scale = value["scale"];
                var unscaled = value["value"];
                if (scale is null && unscaled is null)
                {
                    return null;
                }

                if (scale is not long s || s is < int.MinValue or > int.MaxValue || unscaled is not byte[] bytes)
                {
                    throw new DebeziumDecodeException("VariableScaleDecimal without an int32 'scale' and bytes 'value'");
                }

                return ExactDecimal.FromBigEndianTwosComplement(bytes, (int)s);
            case SemanticKind.Invalid:
                throw new DebeziumDecodeException(schema.Error!);
            default:
                return value;
        }
    }

    public object? FromArray(ConnectSchema schema, IReadOnlyList<object?> value)
    {
        if (schema.Type != ConnectType.Array)
        {
            throw Mismatch(schema, "an array");
        }

        return _placeholder.IsArray(value) ? Unavailable.Value : value;
    }

    /// <summary>A map with string keys, as a row; hstore's unchanged-TOAST placeholder is a one-entry map.</summary>
    public object? FromMap(ConnectSchema schema, Row value)
    {
        if (schema.Type != ConnectType.Map)
        {
            throw Mismatch(schema, "a map");
        }

        // The value was converted already, so the placeholder value has become Unavailable.
        if (value.Count == 1 && value.ColumnName(0) == _placeholder.Text && (value[0] is Unavailable || (value[0] is string v && v == _placeholder.Text)))
        {
            return Unavailable.Value;
        }

        return value;
    }

    /// <summary>A value read without a schema (schemaless JSON): strings and lists are still checked for the placeholder.</summary>
    internal object? Untyped(object? value) => value switch
    {
        string s when _placeholder.IsText(s) => Unavailable.Value,
        IReadOnlyList<object?> list when _placeholder.IsArray(list) => Unavailable.Value,
        _ => value,
    };

    private object DecodeBinaryString(string value)
    {
        try
        {
            return Options.BinaryHandlingMode switch
            {
                BinaryHandlingMode.Hex => System.Convert.FromHexString(value),
                BinaryHandlingMode.Base64UrlSafe => System.Convert.FromBase64String(value.Replace('-', '+').Replace('_', '/').PadRight((value.Length + 3) / 4 * 4, '=')),
                _ => System.Convert.FromBase64String(value),
            };
        }
        catch (FormatException)
        {
            throw new DebeziumDecodeException(
                $"BYTEA value \"{Truncate(value)}\" is not valid {Options.BinaryHandlingMode.ToString().ToLowerInvariant()} (check the decoder's binary handling mode against the connector's binary.handling.mode)");
        }
    }

    // io.debezium.data.Bits: java.util.BitSet.toByteArray(), i.e. little-endian — byte 0 holds the
    // rightmost (least significant) 8 bits of the BIT string, bit 0 of byte 0 is its last digit —
    // with trailing zero bytes dropped. Without a known length (a BIT VARYING declared without one) the
    // bytes end at the highest 1 bit (PostgresValueConverter.convertBits sizes them by BitSet.length()),
    // so B'0101' and B'101' are the same bytes: the value is then the bits from the first 1, "" when none is.
    internal static BitString ToBitString(ReadOnlySpan<byte> bytes, int length)
    {
        if (length <= 0)
        {
            var last = bytes.LastIndexOfAnyExcept((byte)0);
            length = last < 0 ? 0 : (last * 8) + (32 - BitOperations.LeadingZeroCount((uint)bytes[last]));
        }

        return new BitString(string.Create(length, bytes.ToArray(), static (chars, b) =>
        {
            var n = chars.Length;
            for (var i = 0; i < n; i++)
            {
                var bit = n - 1 - i;
                var byteIndex = bit >> 3;
                chars[i] = byteIndex < b.Length && (b[byteIndex] & (1 << (bit & 7))) != 0 ? '1' : '0';
            }
        }));
    }

    private static RawJson ValidJson(string text)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
        try
        {
            if (!reader.Read() || !reader.TrySkip() || reader.Read())
            {
                throw new DebeziumDecodeException($"Json value \"{Truncate(text)}\" is not one JSON value");
            }
        }
        catch (JsonException e)
        {
            throw new DebeziumDecodeException($"Json value \"{Truncate(text)}\" is not valid JSON: {e.Message}");
        }

        return new RawJson(text);
    }

    private static ExactDecimal Rescale(ExactDecimal value, int scale)
    {
        if (scale > value.Scale)
        {
            return new ExactDecimal(value.Unscaled * BigInteger.Pow(10, scale - value.Scale), scale);
        }

        var divisor = BigInteger.Pow(10, value.Scale - scale);
        var q = BigInteger.DivRem(value.Unscaled, divisor, out var r);
        return r.IsZero
            ? new ExactDecimal(q, scale)
            : throw new DebeziumDecodeException($"{value} has more digits after the point than the schema's scale {scale}");
    }

    // A PostgreSQL date reaches 4713 BC and 5874897 AD; Date renders years beyond 0001..9999 as ISO expanded years,
    // as the embedded capture does. Only the int32 extremes are taken: they stand for ±infinity.
    private static Changes.Date CheckedDate(long days) =>
        days is > int.MinValue and < int.MaxValue
            ? new Changes.Date((int)days)
            : throw new DebeziumDecodeException($"date {days} days from 1970-01-01 is beyond what an int32 of days holds");

    private static LocalTime CheckedTime(long micros) =>
        micros is >= 0 and <= 24 * 3600 * 1_000_000L
            ? new LocalTime(micros)
            : throw new DebeziumDecodeException($"time {micros} µs is outside 00:00:00..24:00:00");

    private static long CheckedMicros(long value, long factor)
    {
        long micros;
        try
        {
            micros = checked(value * factor);
        }
        catch (OverflowException)
        {
            micros = long.MaxValue;
        }

        // Any instant int64 microseconds hold renders (years beyond 0001..9999 as ISO expanded years); the extremes
        // stand for ±infinity.
        return micros is not (long.MaxValue or long.MinValue)
            ? micros
            : throw new DebeziumDecodeException($"timestamp {value} is beyond what int64 microseconds since 1970 hold");
    }

    /// <summary>
    /// ISO date <c>yyyy-MM-dd</c> at <paramref name="start"/>, as days since the epoch. Years beyond 0000..9999 come as
    /// java.time prints them for Debezium (<c>+10000-01-01</c>, <c>-4712-01-01</c>; 0000 is 1 BC).
    /// </summary>
    private static int ParseDate(string s, int start, out int end)
    {
        var pos = start;
        var sign = pos < s.Length && s[pos] is '+' or '-' ? s[pos++] : ' ';
        var digitsStart = pos;
        long y = 0;
        while (pos < s.Length && char.IsAsciiDigit(s[pos]) && pos - digitsStart < 10)
        {
            y = (y * 10) + (s[pos++] - '0');
        }

        var yearDigits = pos - digitsStart;
        y = sign == '-' ? -y : y;
        if (yearDigits < 4 || (yearDigits > 4 && sign == ' ') || s.Length < pos + 6 || s[pos] != '-' || s[pos + 3] != '-'
            || !TryDigits(s, pos + 1, 2, out var m) || !TryDigits(s, pos + 4, 2, out var d)
            || m is < 1 or > 12 || d < 1 || d > DaysInMonth(y, m))
        {
            throw new DebeziumDecodeException($"\"{Truncate(s)}\" is not an ISO date (yyyy-MM-dd)");
        }

        end = pos + 6;
        var days = Micros.DaysFromCivil(y, m, d);
        return days is > int.MinValue and < int.MaxValue
            ? (int)days
            : throw new DebeziumDecodeException($"\"{Truncate(s)}\" is beyond what an int32 of days holds");
    }

    private static int DaysInMonth(long year, int month) => month switch
    {
        2 => (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28,
        4 or 6 or 9 or 11 => 30,
        _ => 31,
    };

    /// <summary>ISO time <c>HH:mm[:ss[.f…]]</c> with an optional (or required) offset, as UTC microseconds of the day.</summary>
    private static long ParseTime(string s, bool requireOffset)
    {
        var micros = ParseClock(s, 0, out var end);
        var offset = ParseOffset(s, end, requireOffset);
        if (offset == 0)
        {
            return micros;
        }

        // A zone shift wraps around midnight, as PostgreSQL's timetz → UTC does.
        var utc = (micros - offset) % Micros.PerDay;
        return utc < 0 ? utc + Micros.PerDay : utc;
    }

    /// <summary>ISO timestamp <c>yyyy-MM-ddTHH:mm[:ss[.f…]]</c> with an optional (or required) offset, as microseconds since the epoch (UTC when an offset is given).</summary>
    private static long ParseTimestamp(string s, bool requireOffset)
    {
        var days = ParseDate(s, 0, out var pos);
        if (pos >= s.Length || (s[pos] != 'T' && s[pos] != ' '))
        {
            throw new DebeziumDecodeException($"\"{Truncate(s)}\" is not an ISO timestamp (yyyy-MM-ddTHH:mm:ss…)");
        }

        var clock = ParseClock(s, pos + 1, out var end);
        var offset = ParseOffset(s, end, requireOffset);
        var micros = ((Int128)days * Micros.PerDay) + clock - offset;
        return micros > long.MinValue && micros < long.MaxValue
            ? (long)micros
            : throw new DebeziumDecodeException($"\"{Truncate(s)}\" is beyond what int64 microseconds since 1970 hold");
    }

    private static long ParseClock(string s, int start, out int end)
    {
        if (!TryDigits(s, start, 2, out var h) || start + 2 >= s.Length || s[start + 2] != ':' || !TryDigits(s, start + 3, 2, out var m))
        {
            throw new DebeziumDecodeException($"\"{Truncate(s)}\" is not an ISO time (HH:mm:ss…)");
        }

        var pos = start + 5;
        var sec = 0;
        long fraction = 0;
        if (pos < s.Length && s[pos] == ':')
        {
            if (!TryDigits(s, pos + 1, 2, out sec))
            {
                throw new DebeziumDecodeException($"\"{Truncate(s)}\" is not an ISO time (HH:mm:ss…)");
            }

            pos += 3;
            if (pos < s.Length && s[pos] == '.')
            {
                pos++;
                var digits = 0;
                while (pos < s.Length && char.IsAsciiDigit(s[pos]))
                {
                    // Keep microseconds: PostgreSQL has no finer precision; nanosecond digits are truncated.
                    if (digits < 6)
                    {
                        fraction = (fraction * 10) + (s[pos] - '0');
                    }

                    digits++;
                    pos++;
                }

                if (digits == 0)
                {
                    throw new DebeziumDecodeException($"\"{Truncate(s)}\" has an empty fraction of a second");
                }

                for (var i = digits; i < 6; i++)
                {
                    fraction *= 10;
                }
            }
        }

        if (h > 24 || m > 59 || sec > 60 || (h == 24 && (m > 0 || sec > 0 || fraction > 0)))
        {
            throw new DebeziumDecodeException($"\"{Truncate(s)}\" is not a valid time of day");
        }

        end = pos;
        return (((h * 3600L) + (m * 60L) + sec) * Micros.PerSecond) + fraction;
    }

    /// <summary><c>Z</c>, <c>±HH</c>, <c>±HH:mm</c>, <c>±HHmm</c>, <c>±HH:mm:ss</c> → offset in microseconds; nothing → 0 unless required.</summary>
    private static long ParseOffset(string s, int pos, bool required)
    {
        if (pos == s.Length)
        {
            return required ? throw new DebeziumDecodeException($"\"{Truncate(s)}\" has no zone offset") : 0;
        }

        if (s[pos] == 'Z' && pos + 1 == s.Length)
        {
            return 0;
        }

        if ((s[pos] == '+' || s[pos] == '-') && TryDigits(s, pos + 1, 2, out var oh))
        {
            var sign = s[pos] == '-' ? -1 : 1;
            var rest = s.AsSpan(pos + 3);
            int om = 0, os = 0;
            var ok = rest.Length switch
            {
                0 => true,
                2 => TryDigits(s, pos + 3, 2, out om),
                3 => rest[0] == ':' && TryDigits(s, pos + 4, 2, out om),
                6 => rest[0] == ':' && rest[3] == ':' && TryDigits(s, pos + 4, 2, out om) && TryDigits(s, pos + 7, 2, out os),
                _ => false,
            };
            if (ok)
            {
                return sign * (((oh * 3600L) + (om * 60L) + os) * Micros.PerSecond);
            }
        }

        throw new DebeziumDecodeException($"\"{Truncate(s)}\" has an invalid zone offset");
    }

    private static bool TryDigits(string s, int start, int count, out int value)
    {
        value = 0;
        if (start < 0 || start + count > s.Length)
        {
            return false;
        }

        for (var i = start; i < start + count; i++)
        {
            var c = s[i];
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }

    internal static string Truncate(string s) => s.Length <= 60 ? s : string.Concat(s.AsSpan(0, 57), "...");

    private static DebeziumDecodeException Mismatch(ConnectSchema schema, string what) =>
        new($"schema/payload mismatch: {what} for a {schema} schema");
}
