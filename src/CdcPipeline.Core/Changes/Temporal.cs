using System.Globalization;

namespace CdcPipeline.Core.Changes;

/// <summary>Shared arithmetic for the temporal values: everything is microseconds, as PostgreSQL stores it.</summary>
internal static class Micros
{
    public const long PerSecond = 1_000_000;
    public const long PerDay = 86_400 * PerSecond;
    public static readonly long UnixEpochTicks = DateTime.UnixEpoch.Ticks;

    public static DateTime ToDateTime(long micros) =>
        new(checked(UnixEpochTicks + (micros * 10)), DateTimeKind.Unspecified);

    public static long FromDateTime(DateTime value) => (value.Ticks - UnixEpochTicks) / 10;

    public static string FormatTimestamp(long micros, bool utc)
    {
        Span<char> buffer = stackalloc char[40];
        TryFormatTimestamp(micros, utc, buffer, out var written);
        return new string(buffer[..written]);
    }

    /// <summary>ISO-8601 with six fraction digits (and <c>Z</c> when UTC); ±infinity as PostgreSQL spells them.</summary>
    public static bool TryFormatTimestamp(long micros, bool utc, Span<char> destination, out int charsWritten)
    {
        if (micros is long.MaxValue or long.MinValue)
        {
            var text = micros == long.MaxValue ? "infinity" : "-infinity";
            charsWritten = text.TryCopyTo(destination) ? text.Length : 0;
            return charsWritten > 0;
        }

        if (micros is < MinDateTimeMicros or > MaxDateTimeMicros)
        {
            var text = FormatBeyondDateTime(micros, utc);
            charsWritten = text.TryCopyTo(destination) ? text.Length : 0;
            return charsWritten > 0;
        }

        // Digit by digit: this runs for every timestamp column of every change written.
        var length = 26 + (utc ? 1 : 0); // yyyy-MM-ddTHH:mm:ss.ffffff[Z]
        if (destination.Length < length)
        {
            charsWritten = 0;
            return false;
        }

        var dt = ToDateTime(micros);
        WriteDate(destination, DateOnly.FromDateTime(dt));
        destination[10] = 'T';
        Digits(destination.Slice(11, 2), dt.Hour);
        destination[13] = ':';
        Digits(destination.Slice(14, 2), dt.Minute);
        destination[16] = ':';
        Digits(destination.Slice(17, 2), dt.Second);
        destination[19] = '.';
        Digits(destination.Slice(20, 6), (int)((dt.Ticks % TimeSpan.TicksPerSecond) / 10));
        if (utc)
        {
            destination[26] = 'Z';
        }

        charsWritten = length;
        return true;
    }

    private const long MinDateTimeMicros = -621_355_968_000_000_000 / 10; // 0001-01-01T00:00:00
    private const long MaxDateTimeMicros = (3_155_378_975_999_999_999 - 621_355_968_000_000_000) / 10; // 9999-12-31T23:59:59.999999

    /// <summary>
    /// A timestamp DateTime cannot hold (PostgreSQL's range is 4713 BC to 294276 AD), in ISO-8601's expanded years as
    /// java.time prints them: astronomical years (1 BC is 0000), a sign before years outside 0000-9999.
    /// </summary>
    private static string FormatBeyondDateTime(long micros, bool utc)
    {
        var days = Math.DivRem(micros, PerDay, out var ofDay);
        if (ofDay < 0)
        {
            days--;
            ofDay += PerDay;
        }

        var time = FormatTime(ofDay, utc: false);
        return FormatDate(days) + "T" + time + (utc ? "Z" : "");
    }

    /// <summary>Days since 1970-01-01 of a proleptic Gregorian date in astronomical years (1 BC is year 0).</summary>
    public static long DaysFromCivil(long year, int month, int day)
    {
        // Howard Hinnant's days_from_civil
        year -= month <= 2 ? 1 : 0;
        var era = (year >= 0 ? year : year - 399) / 400;
        var yoe = year - (era * 400);
        var doy = ((153 * (month + (month > 2 ? -3 : 9))) + 2) / 5 + day - 1;
        var doe = (yoe * 365) + (yoe / 4) - (yoe / 100) + doy;
        return (era * 146097) + doe - 719468;
    }

    /// <summary><c>yyyy-MM-dd</c> of any proleptic Gregorian day, with expanded years beyond 0000-9999 (<c>+10000-01-01</c>, <c>-0001-12-31</c>).</summary>
    public static string FormatDate(long daysSinceEpoch)
    {
        // Howard Hinnant's civil_from_days
        var z = daysSinceEpoch + 719468;
        var era = (z >= 0 ? z : z - 146096) / 146097;
        var doe = z - (era * 146097);
        var yoe = (doe - (doe / 1460) + (doe / 36524) - (doe / 146096)) / 365;
        var doy = doe - ((365 * yoe) + (yoe / 4) - (yoe / 100));
        var mp = ((5 * doy) + 2) / 153;
        var day = doy - (((153 * mp) + 2) / 5) + 1;
        var month = mp < 10 ? mp + 3 : mp - 9;
        var year = yoe + (era * 400) + (month <= 2 ? 1 : 0);
        var yearText = year switch
        {
            > 9999 => "+" + year.ToString(CultureInfo.InvariantCulture),
            < 0 => "-" + (-year).ToString("D4", CultureInfo.InvariantCulture),
            _ => year.ToString("D4", CultureInfo.InvariantCulture),
        };
        return string.Create(CultureInfo.InvariantCulture, $"{yearText}-{month:D2}-{day:D2}");
    }

    /// <summary><c>yyyy-MM-dd</c> into the first 10 chars.</summary>
    public static void WriteDate(Span<char> destination, DateOnly date)
    {
        date.Deconstruct(out var year, out var month, out var day);
        Digits(destination[..4], year);
        destination[4] = '-';
        Digits(destination.Slice(5, 2), month);
        destination[7] = '-';
        Digits(destination.Slice(8, 2), day);
    }

    private static void Digits(Span<char> destination, int value)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = (char)('0' + (value % 10));
            value /= 10;
        }
    }

    public static string FormatTime(long micros, bool utc)
    {
        // PostgreSQL's time reaches 24:00:00 inclusive.
        var h = micros / (3600 * PerSecond);
        var rest = micros % (3600 * PerSecond);
        var m = rest / (60 * PerSecond);
        rest %= 60 * PerSecond;
        var s = rest / PerSecond;
        var f = rest % PerSecond;
        return string.Create(CultureInfo.InvariantCulture, $"{h:D2}:{m:D2}:{s:D2}.{f:D6}{(utc ? "Z" : "")}");
    }
}

/// <summary>A DATE, as days since 1970-01-01 (Debezium's <c>io.debezium.time.Date</c>).</summary>
public readonly record struct Date(int DaysSinceEpoch) : IComparable<Date>, ISpanFormattable
{
    /// <summary>PostgreSQL's date <c>infinity</c>.</summary>
    public static Date PositiveInfinity => new(int.MaxValue);
    /// <summary>PostgreSQL's date <c>-infinity</c>.</summary>
    public static Date NegativeInfinity => new(int.MinValue);
    public bool IsFinite => DaysSinceEpoch is not (int.MaxValue or int.MinValue);
    public static Date FromDateOnly(DateOnly d) => new(d.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber);

    public DateOnly ToDateOnly() => DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + DaysSinceEpoch);

    public int CompareTo(Date other) => DaysSinceEpoch.CompareTo(other.DaysSinceEpoch);

    // Rule expressions compare values through these (`date(after.shp_dt, "yyyyMMdd") > date(after.ord_dt, "yyyyMMdd")`).
    public static bool operator <(Date left, Date right) => left.CompareTo(right) < 0;
    public static bool operator >(Date left, Date right) => left.CompareTo(right) > 0;
    public static bool operator <=(Date left, Date right) => left.CompareTo(right) <= 0;
    public static bool operator >=(Date left, Date right) => left.CompareTo(right) >= 0;

    public override string ToString() => DaysSinceEpoch switch
    {
        int.MaxValue => "infinity",
        int.MinValue => "-infinity",
        _ when !InDateOnlyRange => Micros.FormatDate(DaysSinceEpoch),
        _ => ToDateOnly().ToString("yyyy'-'MM'-'dd", CultureInfo.InvariantCulture),
    };

    // DateOnly holds 0001-01-01 to 9999-12-31; a PostgreSQL date reaches 4713 BC and 5874897 AD.
    private bool InDateOnlyRange => DaysSinceEpoch is >= -719_162 and <= 2_932_896;

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        if (IsFinite && InDateOnlyRange && destination.Length >= 10)
        {
            Micros.WriteDate(destination, ToDateOnly());
            charsWritten = 10;
            return true;
        }

        var text = ToString();
        charsWritten = text.TryCopyTo(destination) ? text.Length : 0;
        return charsWritten > 0;
    }
}

/// <summary>A TIMESTAMP without time zone, as microseconds since 1970-01-01T00:00:00; ±infinity are the long extremes.</summary>
public readonly record struct LocalTimestamp(long MicrosSinceEpoch) : IComparable<LocalTimestamp>, ISpanFormattable
{
    public static LocalTimestamp PositiveInfinity => new(long.MaxValue);
    public static LocalTimestamp NegativeInfinity => new(long.MinValue);
    public bool IsFinite => MicrosSinceEpoch is not (long.MaxValue or long.MinValue);
    public static LocalTimestamp FromDateTime(DateTime value) => new(Micros.FromDateTime(value));
    public DateTime ToDateTime() => Micros.ToDateTime(MicrosSinceEpoch);
    public int CompareTo(LocalTimestamp other) => MicrosSinceEpoch.CompareTo(other.MicrosSinceEpoch);
    public static bool operator <(LocalTimestamp left, LocalTimestamp right) => left.CompareTo(right) < 0;
    public static bool operator >(LocalTimestamp left, LocalTimestamp right) => left.CompareTo(right) > 0;
    public static bool operator <=(LocalTimestamp left, LocalTimestamp right) => left.CompareTo(right) <= 0;
    public static bool operator >=(LocalTimestamp left, LocalTimestamp right) => left.CompareTo(right) >= 0;
    public override string ToString() => Micros.FormatTimestamp(MicrosSinceEpoch, utc: false);
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null) =>
        Micros.TryFormatTimestamp(MicrosSinceEpoch, utc: false, destination, out charsWritten);
}

/// <summary>A TIMESTAMPTZ: a UTC instant, microseconds since the Unix epoch; ±infinity are the long extremes.</summary>
public readonly record struct UtcTimestamp(long MicrosSinceEpoch) : IComparable<UtcTimestamp>, ISpanFormattable
{
    public static UtcTimestamp PositiveInfinity => new(long.MaxValue);
    public static UtcTimestamp NegativeInfinity => new(long.MinValue);
    public bool IsFinite => MicrosSinceEpoch is not (long.MaxValue or long.MinValue);
    public static UtcTimestamp FromDateTimeOffset(DateTimeOffset value) => new(Micros.FromDateTime(value.UtcDateTime));
    public DateTimeOffset ToDateTimeOffset() => new(Micros.ToDateTime(MicrosSinceEpoch), TimeSpan.Zero);
    public int CompareTo(UtcTimestamp other) => MicrosSinceEpoch.CompareTo(other.MicrosSinceEpoch);
    public static bool operator <(UtcTimestamp left, UtcTimestamp right) => left.CompareTo(right) < 0;
    public static bool operator >(UtcTimestamp left, UtcTimestamp right) => left.CompareTo(right) > 0;
    public static bool operator <=(UtcTimestamp left, UtcTimestamp right) => left.CompareTo(right) <= 0;
    public static bool operator >=(UtcTimestamp left, UtcTimestamp right) => left.CompareTo(right) >= 0;
    public override string ToString() => Micros.FormatTimestamp(MicrosSinceEpoch, utc: true);
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null) =>
        Micros.TryFormatTimestamp(MicrosSinceEpoch, utc: true, destination, out charsWritten);
}

/// <summary>A TIME without time zone: microseconds since midnight (up to 24:00:00).</summary>
public readonly record struct LocalTime(long MicrosOfDay) : IComparable<LocalTime>
{
    public int CompareTo(LocalTime other) => MicrosOfDay.CompareTo(other.MicrosOfDay);
    public static bool operator <(LocalTime left, LocalTime right) => left.CompareTo(right) < 0;
    public static bool operator >(LocalTime left, LocalTime right) => left.CompareTo(right) > 0;
    public static bool operator <=(LocalTime left, LocalTime right) => left.CompareTo(right) <= 0;
    public static bool operator >=(LocalTime left, LocalTime right) => left.CompareTo(right) >= 0;
    public override string ToString() => Micros.FormatTime(MicrosOfDay, utc: false);
}

/// <summary>A TIMETZ normalised to UTC, as Debezium's <c>ZonedTime</c> renders it.</summary>
public readonly record struct UtcTime(long MicrosOfDay) : IComparable<UtcTime>
{
    public int CompareTo(UtcTime other) => MicrosOfDay.CompareTo(other.MicrosOfDay);
    public static bool operator <(UtcTime left, UtcTime right) => left.CompareTo(right) < 0;
    public static bool operator >(UtcTime left, UtcTime right) => left.CompareTo(right) > 0;
    public static bool operator <=(UtcTime left, UtcTime right) => left.CompareTo(right) <= 0;
    public static bool operator >=(UtcTime left, UtcTime right) => left.CompareTo(right) >= 0;
    public override string ToString() => Micros.FormatTime(MicrosOfDay, utc: true);
}
