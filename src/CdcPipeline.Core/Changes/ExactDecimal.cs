using System.Globalization;
using System.Numerics;

namespace CdcPipeline.Core.Changes;

/// <summary>
/// A PostgreSQL NUMERIC, exact: an unscaled integer and a scale, as Kafka Connect's <c>Decimal</c>
/// carries it. Keeps every digit (NUMERIC reaches 131072 digits; <see cref="decimal"/> only 28),
/// and the scale (<c>12.50</c> stays <c>12.50</c>). NUMERIC's <c>NaN</c> and <c>±Infinity</c> are special values.
/// </summary>
public readonly struct ExactDecimal : IEquatable<ExactDecimal>, IComparable<ExactDecimal>, ISpanFormattable
{
    private readonly byte _special; // 0 finite, 1 NaN, 2 +Infinity, 3 -Infinity

    public ExactDecimal(BigInteger unscaled, int scale)
    {
        if (scale < 0)
        {
            // Kafka Connect allows negative scales; normalise so the text form is always plain digits.
            unscaled *= BigInteger.Pow(10, -scale);
            scale = 0;
        }

        Unscaled = unscaled;
        Scale = scale;
        _special = 0;
    }

    private ExactDecimal(byte special)
    {
        Unscaled = BigInteger.Zero;
        Scale = 0;
        _special = special;
    }

    public static ExactDecimal NaN { get; } = new(1);
    public static ExactDecimal PositiveInfinity { get; } = new(2);
    public static ExactDecimal NegativeInfinity { get; } = new(3);

    public BigInteger Unscaled { get; }
    public int Scale { get; }
    public bool IsFinite => _special == 0;
    public bool IsNaN => _special == 1;

    /// <summary>Kafka Connect's Decimal wire form: big-endian two's-complement unscaled bytes.</summary>
    public static ExactDecimal FromBigEndianTwosComplement(ReadOnlySpan<byte> bytes, int scale) =>
        new(new BigInteger(bytes, isUnsigned: false, isBigEndian: true), scale);

    public byte[] ToBigEndianTwosComplement() => Unscaled.ToByteArray(isUnsigned: false, isBigEndian: true);

    public static ExactDecimal FromDecimal(decimal value)
    {
        var bits = decimal.GetBits(value);
        var scale = (bits[3] >> 16) & 0xFF;
        var mag = new BigInteger((uint)bits[0]) | (new BigInteger((uint)bits[1]) << 32) | (new BigInteger((uint)bits[2]) << 64);
        return new ExactDecimal(value < 0 || (bits[3] & int.MinValue) != 0 ? -mag : mag, scale);
    }

    /// <summary>Parses plain decimal text (<c>-12.50</c>, <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>); exponents are accepted.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ExactDecimal value)
    {
        value = default;
        text = text.Trim();
        switch (text)
        {
            case "NaN": value = NaN; return true;
            case "Infinity" or "+Infinity" or "infinity": value = PositiveInfinity; return true;
            case "-Infinity" or "-infinity": value = NegativeInfinity; return true;
        }

        var exponent = 0;
        var e = text.IndexOfAny('e', 'E');
        if (e >= 0)
        {
            if (!int.TryParse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
            {
                return false;
            }

            text = text[..e];
        }

        var negative = false;
        if (text.Length > 0 && (text[0] == '-' || text[0] == '+'))
        {
            negative = text[0] == '-';
            text = text[1..];
        }

        var dot = text.IndexOf('.');
        var scale = 0;
        Span<char> digits = text.Length <= 256 ? stackalloc char[text.Length] : new char[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var ch = text[i];
            if (i == dot)
            {
                continue;
            }

            if (ch is < '0' or > '9')
            {
                return false;
            }

            digits[n++] = ch;
        }

        if (n == 0)
        {
            return false;
        }

        if (dot >= 0)
        {
            scale = text.Length - dot - 1;
        }

        // Up to 18 digits fit a long: the common NUMERIC(12,2) needs no general big-integer parse.
        BigInteger unscaled;
        if (n <= 18)
        {
            long small = 0;
            foreach (var d in digits[..n])
            {
                small = (small * 10) + (d - '0');
            }

            unscaled = small;
        }
        else
        {
            unscaled = BigInteger.Parse(digits[..n], NumberStyles.None, CultureInfo.InvariantCulture);
        }

        value = new ExactDecimal(negative ? -unscaled : unscaled, scale - exponent);
        return true;
    }

    public static ExactDecimal Parse(string text) =>
        TryParse(text, out var v) ? v : throw new FormatException($"'{text}' is not a decimal number");

    /// <summary>Exact digits and scale: <c>-12.50</c>, <c>0.001</c>, <c>NaN</c>.</summary>
    public override string ToString()
    {
        Span<char> buffer = stackalloc char[64];
        if (TryFormat(buffer, out var written))
        {
            return new string(buffer[..written]);
        }

        // NUMERIC reaches 131 072 digits: grow a heap buffer until the text fits
        for (var size = 256; ; size *= 4)
        {
            var heap = new char[size];
            if (TryFormat(heap, out written))
            {
                return new string(heap, 0, written);
            }
        }
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <summary>The text of <see cref="ToString()"/> without allocating; false when it does not fit.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        charsWritten = 0;
        var special = _special switch { 1 => "NaN", 2 => "Infinity", 3 => "-Infinity", _ => null };
        if (special is not null)
        {
            if (!special.TryCopyTo(destination))
            {
                return false;
            }

            charsWritten = special.Length;
            return true;
        }

        // The digits, left-padded with zeros to at least Scale + 1 of them ("0.05" for 5 at scale 2).
        var negative = Unscaled.Sign < 0 ? 1 : 0;
        Span<char> digits = destination.Length <= 64 ? stackalloc char[64] : new char[destination.Length];
        int count;
        if (Unscaled >= -long.MaxValue && Unscaled <= long.MaxValue)
        {
            // Nearly every NUMERIC a row holds: formatting a long is several times cheaper than a BigInteger.
            if (!Math.Abs((long)Unscaled).TryFormat(digits, out count, default, CultureInfo.InvariantCulture))
            {
                return false;
            }
        }
        else if (!BigInteger.Abs(Unscaled).TryFormat(digits, out count, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        var padded = Scale > 0 ? Math.Max(count, Scale + 1) : count;
        var total = negative + padded + (Scale > 0 ? 1 : 0);
        if (total > destination.Length)
        {
            return false;
        }

        var at = 0;
        if (negative == 1)
        {
            destination[at++] = '-';
        }

        var integral = padded - Scale;
        for (var i = 0; i < padded; i++)
        {
            if (i == integral)
            {
                destination[at++] = '.';
            }

            var fromDigits = i - (padded - count);
            destination[at++] = fromDigits >= 0 ? digits[fromDigits] : '0';
        }

        charsWritten = at;
        return true;
    }

    /// <summary>The value as <see cref="decimal"/>; throws when it does not fit (more than 28–29 digits).</summary>
    public decimal ToDecimal()
    {
        if (!IsFinite)
        {
            throw new OverflowException($"{this} has no System.Decimal value");
        }

        return decimal.Parse(ToString(), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    public double ToDouble() => _special switch
    {
        1 => double.NaN,
        2 => double.PositiveInfinity,
        3 => double.NegativeInfinity,
        _ => double.Parse(ToString(), NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    /// <summary>Numeric equality: <c>1.0 == 1.00</c>. Use <see cref="ToString"/> to compare representations.</summary>
    public bool Equals(ExactDecimal other) => CompareTo(other) == 0 && _special == other._special;

    public override bool Equals(object? obj) => obj is ExactDecimal d && Equals(d);

    public override int GetHashCode()
    {
        if (!IsFinite)
        {
            return _special;
        }

        // Without trailing zeros, so numerically equal values hash alike.
        var stripped = StripTrailingZeros();
        return stripped.Unscaled.IsZero ? 0 : HashCode.Combine(stripped.Unscaled, stripped.Scale);
    }

    /// <summary>
    /// The same number with the fewest fraction digits, as Java's <c>BigDecimal.stripTrailingZeros</c> (never a negative
    /// scale): <c>1.500</c> → <c>1.5</c>, <c>0.000</c> → <c>0</c>, <c>100</c> stays <c>100</c>. Non-finite values are unchanged.
    /// </summary>
    public ExactDecimal StripTrailingZeros()
    {
        if (!IsFinite || Scale == 0)
        {
            return this;
        }

        var unscaled = Unscaled;
        var scale = Scale;
        while (scale > 0 && !unscaled.IsZero)
        {
            var quotient = BigInteger.DivRem(unscaled, 10, out var remainder);
            if (!remainder.IsZero)
            {
                break;
            }

            unscaled = quotient;
            scale--;
        }

        return unscaled.IsZero ? new ExactDecimal(0, 0) : new ExactDecimal(unscaled, scale);
    }

    public int CompareTo(ExactDecimal other)
    {
        if (!IsFinite || !other.IsFinite)
        {
            return ToDouble().CompareTo(other.ToDouble());
        }

        if (Scale == other.Scale)
        {
            return Unscaled.CompareTo(other.Unscaled);
        }

        return Scale < other.Scale
            ? (Unscaled * BigInteger.Pow(10, other.Scale - Scale)).CompareTo(other.Unscaled)
            : Unscaled.CompareTo(other.Unscaled * BigInteger.Pow(10, Scale - other.Scale));
    }

    public static implicit operator ExactDecimal(long value) => new(value, 0);
    public static implicit operator ExactDecimal(decimal value) => FromDecimal(value);

    public static bool operator ==(ExactDecimal a, ExactDecimal b) => a.Equals(b);
    public static bool operator !=(ExactDecimal a, ExactDecimal b) => !a.Equals(b);
    public static bool operator <(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) < 0;
    public static bool operator >(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) > 0;
    public static bool operator <=(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) <= 0;
    public static bool operator >=(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) >= 0;
}
