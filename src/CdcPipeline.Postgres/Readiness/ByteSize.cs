using System.Globalization;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>Byte counts the way <c>pg_size_pretty</c> prints them (1024 steps), and parsing of <c>--max-lag 64MB</c>.</summary>
public static class ByteSize
{
    private static readonly string[] Units = ["bytes", "kB", "MB", "GB", "TB", "PB"];

    public static string Format(long? bytes)
    {
        if (bytes is not { } value)
        {
            return "-";
        }

        double scaled = value;
        var unit = 0;
        while (Math.Abs(scaled) >= 1024 && unit < Units.Length - 1)
        {
            scaled /= 1024;
            unit++;
        }

        return unit == 0
            ? value.ToString(CultureInfo.InvariantCulture) + " bytes"
            : scaled.ToString(scaled >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    /// <summary>Parses <c>1048576</c>, <c>512kB</c>, <c>64MB</c>, <c>1 GB</c> (units are powers of 1024, case-insensitive).</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var s = text.Trim();
        var split = 0;
        while (split < s.Length && (char.IsAsciiDigit(s[split]) || s[split] == '.'))
        {
            split++;
        }

        if (split == 0 || !decimal.TryParse(s[..split], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        long factor = s[split..].Trim().ToUpperInvariant() switch
        {
            "" or "B" or "BYTES" => 1,
            "K" or "KB" => 1L << 10,
            "M" or "MB" => 1L << 20,
            "G" or "GB" => 1L << 30,
            "T" or "TB" => 1L << 40,
            _ => 0,
        };
        if (factor == 0)
        {
            return false;
        }

        bytes = (long)(number * factor);
        return true;
    }
}
