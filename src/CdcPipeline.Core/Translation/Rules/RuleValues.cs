using System.Globalization;
using System.Numerics;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>How column values look inside rule expressions, and how values become subject text.</summary>
internal static class RuleValues
{
    /// <summary>
    /// A NUMERIC that fits <see cref="decimal"/> is handed to expressions as one, so arithmetic and
    /// comparison with decimal literals work through the dynamic binder (ExactDecimal has comparison
    /// operators only). <see cref="decimal"/> keeps the scale, so <c>149.90</c> still renders as "149.90".
    /// Wider NUMERICs stay <see cref="ExactDecimal"/>: comparable, never silently rounded.
    /// </summary>
    public static object? ForExpression(object? value)
    {
        if (value is ExactDecimal d && TryToDecimal(d, out var m))
        {
            return m;
        }

        return value;
    }

    public static bool TryToDecimal(ExactDecimal value, out decimal result)
    {
        result = 0;
        if (!value.IsFinite || value.Scale > 28)
        {
            return false;
        }

        var unscaled = value.Unscaled;
        var negative = unscaled.Sign < 0;
        var magnitude = BigInteger.Abs(unscaled);
        if (magnitude <= ulong.MaxValue)
        {
            var u = (ulong)magnitude;
            result = new decimal((int)(uint)u, (int)(uint)(u >> 32), 0, negative, (byte)value.Scale);
            return true;
        }

        if (magnitude.GetBitLength() > 96)
        {
            return false;
        }

        Span<int> bits = stackalloc int[4];
        decimal.GetBits((decimal)magnitude, bits);
        result = new decimal(bits[0], bits[1], bits[2], negative, (byte)value.Scale);
        return true;
    }

    /// <summary>The text of a value in a subject or <c>text()</c>: the canonical rendering, without JSON quoting.</summary>
    public static string? ToText(object? value) => value switch
    {
        null => null,
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        int i => i.ToString(CultureInfo.InvariantCulture),
        short sh => sh.ToString(CultureInfo.InvariantCulture),
        decimal m => ExactDecimal.FromDecimal(m).ToString(),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        char c => c.ToString(),
        Guid g => g.ToString(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>
    /// Text equality as PostgreSQL compares bpchar: trailing blanks are insignificant, because Debezium and pgoutput
    /// send a CHAR(n) value blank-padded ('S' in CHAR(2) arrives as "S "). The one place rules decide it: <c>==</c>,
    /// <c>!=</c> and <c>changed()</c> all come here, so they never disagree.
    /// </summary>
    public static bool SameText(string left, string right) =>
        left.AsSpan().TrimEnd(' ').SequenceEqual(right.AsSpan().TrimEnd(' '));

    /// <summary>
    /// Value equality as <c>changed()</c> needs it: numeric for numbers, element-wise for arrays and bytes, and
    /// texts as <c>==</c> compares them (<see cref="SameText"/>), so <c>changed(c)</c> agrees with <c>before.c != after.c</c>.
    /// </summary>
    public static bool SameValue(object? a, object? b)
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a is null || b is null)
        {
            return false;
        }

        switch (a)
        {
            case byte[] x when b is byte[] y:
                return x.AsSpan().SequenceEqual(y);
            case string text:
                return b is string other && SameText(text, other);
            case Row:
                return a.Equals(b);
            case System.Collections.IList x when b is System.Collections.IList y:
                if (x.Count != y.Count)
                {
                    return false;
                }

                for (var i = 0; i < x.Count; i++)
                {
                    if (!SameValue(x[i], y[i]))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return a.Equals(b);
        }
    }
}
