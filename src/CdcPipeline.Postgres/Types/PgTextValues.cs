using System.Globalization;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Postgres.Types;

/// <summary>
/// Turns PostgreSQL's text output of a value into the canonical value the Debezium decoding yields for
/// the same SQL. Both pgoutput (text tuples) and the snapshot (which selects <c>col::text</c>) go through
/// here, so a row reads the same whether it was snapshotted or streamed. The session must use
/// <see cref="PgSession.Settings"/> (ISO dates, UTC, ISO-8601 intervals, hex bytea).
/// </summary>
internal static class PgTextValues
{
    /// <summary>Debezium's <c>MicroDuration.DAYS_PER_MONTH_AVG</c> (365.25 / 12).</summary>
    public const double DaysPerMonthAvg = 365.25 / 12.0;

    private const long MicrosPerSecond = 1_000_000;
    private const long MicrosPerDay = 86_400 * MicrosPerSecond;

    public static readonly Func<string, object?> AsText = static text => text;

    /// <summary>Debezium's BOOLEAN for a <c>BIT(1)</c> or <c>VARBIT(1)</c> column: <c>1</c> is true, <c>0</c> false.</summary>
    public static readonly Func<string, object?> OneBitAsBoolean = static t => t switch
    {
        "1" => true,
        "0" => false,
        _ => throw new FormatException($"'{t}' is not a one-bit string"),
    };

    /// <summary>
    /// Debezium's <c>hstore.handling.mode=json</c> (its default): an hstore is <c>io.debezium.data.Json</c>, the JSON object
    /// Jackson writes for the <c>java.util.HashMap</c> pgjdbc's <c>HStoreConverter</c> fills — see <see cref="HstoreJson"/>.
    /// </summary>
    public static readonly Func<string, object?> HstoreAsJson = static t => new RawJson(HstoreJson.FromText(t));

    /// <summary>
    /// Debezium's NUMERIC without precision and scale (<c>decimal.handling.mode=precise</c>): a VariableScaleDecimal of the
    /// value with its trailing zeros stripped (<c>BigDecimal.stripTrailingZeros</c>, a negative scale set back to 0), so
    /// <c>1.500</c> is <c>1.5</c> and <c>100</c> stays <c>100</c>. A NUMERIC(p,s) keeps its scale (<see cref="TryGetBuiltIn"/>).
    /// </summary>
    public static readonly Func<string, object?> VariableScaleNumeric = static t => ExactDecimal.Parse(t).StripTrailingZeros();

    private static readonly RowShape PointShape = new(["x", "y", "wkb", "srid"]);

    /// <summary>Decimal places of MONEY's text under our session's <c>lc_monetary = C</c> (PostgreSQL's default when the locale has none).</summary>
    private const int MoneyPrintedFractionDigits = 2;

    /// <param name="oid">The column's type.</param>
    /// <param name="moneyFractionDigits">Debezium's <c>money.fraction.digits</c>: the database currency's decimal places.</param>
    public static Func<string, object?>? TryGetBuiltIn(uint oid, int moneyFractionDigits = 2) => oid switch
    {
        790 => t => ParseMoney(t, moneyFractionDigits),
        16 => static t => t == "t",
        17 => ParseBytea,
        20 or 21 or 23 or 26 => static t => long.Parse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        700 => static t => float.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture),
        701 => static t => double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture),
        1700 => static t => ExactDecimal.Parse(t),
        600 => ParsePoint,
        18 or 19 or 25 or 1042 or 1043 or 142 or 2950 => AsText,
        114 or 3802 => static t => new RawJson(t),
        1082 => ParseDate,
        1083 => static t => new LocalTime(ParseTimeOfDay(t, out _)),
        1266 => ParseTimeTz,
        1114 => static t => ParseTimestamp(t, out var micros) ? new LocalTimestamp(micros) : InfiniteLocal(t),
        1184 => ParseTimestampTz,
        1186 => static t => ParseIntervalMicros(t),
        1560 or 1562 => static t => new BitString(t),
        _ => null,
    };

    /// <summary>
    /// What the values of a column of type <paramref name="oid"/> are to rule expressions, by the converter
    /// <see cref="TryGetBuiltIn"/> gives it (an enum's values are text); <see cref="ValueKinds.Any"/> when it is not one of these.
    /// </summary>
    internal static ValueKinds RuleKinds(uint oid) => oid switch
    {
        16 => ValueKinds.Bool,
        18 or 19 or 25 or 1042 or 1043 or 142 or 2950 => ValueKinds.Text,
        20 or 21 or 23 or 26 => ValueKinds.Integer,
        700 or 701 => ValueKinds.Float,
        790 or 1700 => ValueKinds.Decimal,
        1082 => ValueKinds.Date,
        1114 => ValueKinds.LocalTimestamp,
        1184 => ValueKinds.UtcTimestamp,
        1083 => ValueKinds.LocalTime,
        1266 => ValueKinds.UtcTime,
        _ => ValueKinds.Any,
    };

    /// <summary>
    /// MONEY is stored as an integer count of the currency's minor unit; the decimal point is placed by <c>lc_monetary</c>
    /// when it is printed. Our sessions print it under <c>C</c> (<c>$1,234.56</c>, <c>-$0.50</c>: always 2 decimals, whatever
    /// the database's own locale), so the stored integer is the printed amount × 100, and the amount in the database's
    /// currency is that integer with <paramref name="fractionDigits"/> decimals — Debezium's Decimal with scale
    /// <c>money.fraction.digits</c>. A yen database (0 decimals) stores ¥1,000 as 1000, printed <c>$10.00</c> here: 1000.
    /// </summary>
    private static object ParseMoney(string text, int fractionDigits)
    {
        var negative = text.Contains('-', StringComparison.Ordinal) || text.StartsWith('(');
        var digits = new StringBuilder(text.Length);
        foreach (var ch in text)
        {
            if (char.IsAsciiDigit(ch) || ch == '.')
            {
                digits.Append(ch);
            }
        }

        var printed = ExactDecimal.Parse((negative ? "-" : "") + digits);
        if (printed.Scale > MoneyPrintedFractionDigits)
        {
            throw new FormatException($"money '{text}' has more than {MoneyPrintedFractionDigits} decimals: the session must use lc_monetary = C");
        }

        var stored = printed.Unscaled * System.Numerics.BigInteger.Pow(10, MoneyPrintedFractionDigits - printed.Scale);
        return new ExactDecimal(stored, fractionDigits);
    }

    /// <summary>
    /// PostgreSQL's <c>(x,y)</c> → Debezium's <c>io.debezium.data.geometry.Point</c> struct {x, y, wkb, srid}: wkb is the
    /// OGC Well-Known Binary of the point as Debezium builds it (byte order 1 = little-endian, type 1 = Point, x, y as
    /// little-endian doubles; 21 bytes), srid is null.
    /// </summary>
    private static Row ParsePoint(string text)
    {
        var comma = text.IndexOf(',', StringComparison.Ordinal);
        if (text.Length < 5 || text[0] != '(' || text[^1] != ')' || comma < 0)
        {
            throw new FormatException($"point '{text}' is not PostgreSQL's (x,y)");
        }

        var x = double.Parse(text.AsSpan(1, comma - 1), NumberStyles.Float, CultureInfo.InvariantCulture);
        var y = double.Parse(text.AsSpan(comma + 1, text.Length - comma - 2), NumberStyles.Float, CultureInfo.InvariantCulture);
        var wkb = new byte[21];
        wkb[0] = 1;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(wkb.AsSpan(1), 1);
        System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(wkb.AsSpan(5), x);
        System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(wkb.AsSpan(13), y);
        return new Row(PointShape, [x, y, wkb, null]);
    }

    private static byte[] ParseBytea(string text)
    {
        if (text.StartsWith("\\x", StringComparison.Ordinal))
        {
            return Convert.FromHexString(text.AsSpan(2));
        }

        throw new FormatException("bytea not in hex form: set bytea_output = 'hex' on the session");
    }

    private static object ParseDate(string text)
    {
        if (text is "infinity" or "-infinity")
        {
            // the Debezium decoding maps PgJDBC's infinity dates to these as well
            return text == "infinity" ? Date.PositiveInfinity : Date.NegativeInfinity;
        }

        return new Date(checked((int)ParseDays(text)));
    }

    private static LocalTimestamp InfiniteLocal(string text) =>
        text == "infinity" ? LocalTimestamp.PositiveInfinity : LocalTimestamp.NegativeInfinity;

    private static object ParseTimestampTz(string text)
    {
        if (text == "infinity")
        {
            return UtcTimestamp.PositiveInfinity;
        }

        if (text == "-infinity")
        {
            return UtcTimestamp.NegativeInfinity;
        }

        ParseTimestamp(text, out var micros);
        return new UtcTimestamp(micros);
    }

    private static object ParseTimeTz(string text)
    {
        var micros = ParseTimeOfDay(text, out var offsetSeconds) - (offsetSeconds * MicrosPerSecond);
        // Debezium normalises the OffsetTime to UTC, which wraps around midnight.
        micros %= MicrosPerDay;
        if (micros < 0)
        {
            micros += MicrosPerDay;
        }

        return new UtcTime(micros);
    }

    /// <summary>
    /// ISO <c>YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]][ BC]</c> → microseconds since the epoch (at UTC when an offset is
    /// given); false for ±infinity.
    /// </summary>
    private static bool ParseTimestamp(string text, out long micros)
    {
        micros = 0;
        if (text is "infinity" or "-infinity")
        {
            return false;
        }

        var bc = text.EndsWith(" BC", StringComparison.Ordinal);
        var body = bc ? text[..^3] : text;
        var space = body.IndexOf(' ', StringComparison.Ordinal);
        var datePart = body[..space] + (bc ? " BC" : "");
        var days = ParseDays(datePart);
        var time = ParseTimeOfDay(body[(space + 1)..], out var offsetSeconds);
        var utc = ((Int128)days * MicrosPerDay) + time - (offsetSeconds * MicrosPerSecond);

        // PostgreSQL reaches 294276 AD, microseconds since 1970 in an int64 (Debezium's MicroTimestamp) end in 294247 AD,
        // and the extremes stand for ±infinity. Wrapping around would pass a wrong date on as a right one.
        if (utc >= long.MaxValue || utc <= long.MinValue)
        {
            throw new OverflowException($"timestamp '{text}' is beyond 294247-01-10 04:00:54.775806 UTC, the last instant microseconds since 1970 hold in an int64 (Debezium's MicroTimestamp)");
        }

        micros = (long)utc;
        return true;
    }

    /// <summary>Days since 1970-01-01 of an ISO date (proleptic Gregorian, any year, optional " BC").</summary>
    private static long ParseDays(string text)
    {
        var bc = text.EndsWith(" BC", StringComparison.Ordinal);
        var body = bc ? text.AsSpan(0, text.Length - 3) : text.AsSpan();
        var d2 = body.LastIndexOf('-');
        var d1 = body[..d2].LastIndexOf('-');
        long year = long.Parse(body[..d1], NumberStyles.None, CultureInfo.InvariantCulture);
        var month = int.Parse(body[(d1 + 1)..d2], NumberStyles.None, CultureInfo.InvariantCulture);
        var day = int.Parse(body[(d2 + 1)..], NumberStyles.None, CultureInfo.InvariantCulture);
        if (bc)
        {
            year = 1 - year; // 1 BC is astronomical year 0
        }

        return Micros.DaysFromCivil(year, month, day);
    }

    /// <summary><c>HH:MM:SS[.ffffff][+-HH[:MM[:SS]]]</c> → microseconds of day and the offset in seconds.</summary>
    private static long ParseTimeOfDay(string text, out long offsetSeconds)
    {
        offsetSeconds = 0;
        var span = text.AsSpan();
        var sign = span.IndexOfAny('+', '-');
        if (sign > 0)
        {
            var off = span[(sign + 1)..];
            var parts = off.ToString().Split(':');
            long seconds = 0;
            for (var i = 0; i < parts.Length; i++)
            {
                seconds += long.Parse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture) * (i == 0 ? 3600 : i == 1 ? 60 : 1);
            }

            offsetSeconds = span[sign] == '-' ? -seconds : seconds;
            span = span[..sign];
        }

        var h = int.Parse(span[..2], NumberStyles.None, CultureInfo.InvariantCulture);
        var m = int.Parse(span[3..5], NumberStyles.None, CultureInfo.InvariantCulture);
        var s = int.Parse(span[6..8], NumberStyles.None, CultureInfo.InvariantCulture);
        long fraction = 0;
        if (span.Length > 9 && span[8] == '.')
        {
            var digits = span[9..];
            fraction = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
            for (var i = digits.Length; i < 6; i++)
            {
                fraction *= 10;
            }
        }

        return (((h * 60L) + m) * 60L + s) * MicrosPerSecond + fraction;
    }

    /// <summary>
    /// An ISO-8601 interval (<c>IntervalStyle = iso_8601</c>: <c>P1Y2M3DT4H5M6.5S</c>, components may be negative)
    /// → microseconds exactly as Debezium's <c>MicroDuration.durationMicros</c> computes them from PgJDBC's
    /// <c>PGInterval</c>: months count <see cref="DaysPerMonthAvg"/> days, the arithmetic is in doubles in this
    /// order, seconds are <c>wholeSeconds + micros / 1e6</c>, and the result is truncated toward zero.
    /// </summary>
    public static long ParseIntervalMicros(string text)
    {
        if (text.Length < 2 || text[0] != 'P')
        {
            throw new FormatException($"interval '{text}' is not ISO-8601: set IntervalStyle = 'iso_8601' on the session");
        }

        // PostgreSQL keeps an interval's time as int64 microseconds: its hours reach 2562047788, beyond Int32.
        long years = 0, months = 0, days = 0, hours = 0, minutes = 0;
        double seconds = 0;
        var inTime = false;
        var i = 1;
        while (i < text.Length)
        {
            if (text[i] == 'T')
            {
                inTime = true;
                i++;
                continue;
            }

            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] is '-' or '+' or '.'))
            {
                i++;
            }

            var number = text.AsSpan(start, i - start);
            var unit = text[i++];
            switch (unit)
            {
                case 'Y': years = ParseInt(number); break;
                case 'M' when !inTime: months = ParseInt(number); break;
                case 'W': days += 7 * ParseInt(number); break;
                case 'D': days = ParseInt(number); break;
                case 'H': hours = ParseInt(number); break;
                case 'M': minutes = ParseInt(number); break;
                case 'S': seconds = PgIntervalSeconds(number); break;
                default: throw new FormatException($"interval '{text}': unknown unit '{unit}'");
            }
        }

        var numberOfDays = (((years * 12) + months) * DaysPerMonthAvg) + days;
        var numberOfSeconds = ((((numberOfDays * 24) + hours) * 60) + minutes) * 60 + seconds;
        return (long)(numberOfSeconds * 1e6);
    }

    private static long ParseInt(ReadOnlySpan<char> s) => long.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    // PGInterval keeps whole seconds and microseconds apart and returns their sum as a double.
    private static double PgIntervalSeconds(ReadOnlySpan<char> s)
    {
        var negative = s.Length > 0 && s[0] == '-';
        if (negative || (s.Length > 0 && s[0] == '+'))
        {
            s = s[1..];
        }

        var dot = s.IndexOf('.');
        var whole = int.Parse(dot < 0 ? s : s[..dot], NumberStyles.None, CultureInfo.InvariantCulture);
        var micros = 0;
        if (dot >= 0)
        {
            var digits = s[(dot + 1)..];
            if (digits.Length > 6)
            {
                digits = digits[..6];
            }

            micros = int.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
            for (var k = digits.Length; k < 6; k++)
            {
                micros *= 10;
            }
        }

        return negative ? -whole + (-micros / 1000000.0) : whole + (micros / 1000000.0);
    }

    /// <summary>A PostgreSQL array literal (<c>{1,NULL,"a b"}</c>, nested for more dimensions) → lists.</summary>
    public static IReadOnlyList<object?> ParseArray(string text, Func<string, object?> element, char delimiter)
    {
        var span = text.AsSpan();
        if (span.Length > 0 && span[0] == '[')
        {
            // explicit bounds "[0:1]={…}": the bounds are not part of the value's JSON form
            span = span[(span.IndexOf('=') + 1)..];
        }

        var pos = 0;
        return ParseArrayLevel(span, ref pos, element, delimiter);
    }

    private static List<object?> ParseArrayLevel(ReadOnlySpan<char> s, ref int pos, Func<string, object?> element, char delimiter)
    {
        if (s[pos] != '{')
        {
            throw new FormatException("array literal must start with '{'");
        }

        pos++;
        var items = new List<object?>();
        if (s[pos] == '}')
        {
            pos++;
            return items;
        }

        var sb = new StringBuilder();
        while (true)
        {
            if (s[pos] == '{')
            {
                items.Add(ParseArrayLevel(s, ref pos, element, delimiter));
            }
            else if (s[pos] == '"')
            {
                pos++;
                sb.Clear();
                while (s[pos] != '"')
                {
                    if (s[pos] == '\\')
                    {
                        pos++;
                    }

                    sb.Append(s[pos++]);
                }

                pos++;
                items.Add(element(sb.ToString()));
            }
            else
            {
                var start = pos;
                while (s[pos] != delimiter && s[pos] != '}')
                {
                    pos++;
                }

                var raw = s[start..pos].Trim();
                items.Add(raw is "NULL" ? null : element(raw.ToString()));
            }

            if (s[pos] == delimiter)
            {
                pos++;
                continue;
            }

            if (s[pos] == '}')
            {
                pos++;
                return items;
            }

            throw new FormatException($"unexpected '{s[pos]}' in array literal");
        }
    }
}
