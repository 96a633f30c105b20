using System.Globalization;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// The pure functions rule expressions may call. None reads the clock, a random source or the
/// environment: translation must be deterministic, so a replay yields the same events.
/// </summary>
internal static class RuleFunctions
{
    /// <summary>
    /// A legacy date in a fixed text form (CHAR(8) 'yyyyMMdd', or a NUMERIC(8) holding the same digits)
    /// → <see cref="Date"/>. Blank or all-zero values (<c>'        '</c>, <c>'00000000'</c>) are how
    /// such systems spell "no date": they become null.
    /// </summary>
    public static object? Date(object? value, string format)
    {
        switch (value)
        {
            case null:
                return null;
            case Changes.Date d:
                return d;
        }

        var text = LegacyText(value, "date");
        if (text is null)
        {
            return null;
        }

        if (DateOnly.TryParseExact(text, format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            return Changes.Date.FromDateOnly(date);
        }

        throw new ExpressionFailure($"date(): '{text}' is not a date in the form \"{format}\"");
    }

    /// <summary>A legacy timestamp in a fixed text form (CHAR(14) 'yyyyMMddHHmmss', say) → <see cref="LocalTimestamp"/>; blank or zero → null.</summary>
    public static object? Timestamp(object? value, string format)
    {
        switch (value)
        {
            case null:
                return null;
            case LocalTimestamp ts:
                return ts;
        }

        var text = LegacyText(value, "timestamp");
        if (text is null)
        {
            return null;
        }

        if (DateTime.TryParseExact(text, format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var dt))
        {
            return LocalTimestamp.FromDateTime(dt);
        }

        throw new ExpressionFailure($"timestamp(): '{text}' is not a timestamp in the form \"{format}\"");
    }

    private static string? LegacyText(object value, string function)
    {
        var text = value switch
        {
            string s => s.Trim(),
            long or int or short or decimal => RuleValues.ToText(value)!,
            ExactDecimal d => d.ToString(),
            _ => throw new ExpressionFailure($"{function}(): expects text or a number, not a {value.GetType().Name} ({RuleValues.ToText(value)})"),
        };

        return text.Length == 0 || text.AsSpan().IndexOfAnyExcept('0') < 0 ? null : text;
    }

    /// <summary>Blank-padded CHAR(n) values → the text without padding; non-text values pass unchanged.</summary>
    public static object? Trim(object? value) => value is string s ? s.Trim() : value;

    public static bool IsBlank(object? value) => value is null || (value is string s && string.IsNullOrWhiteSpace(s));

    public static object? Coalesce(object? a, object? b) => a ?? b;

    public static object? Coalesce(object? a, object? b, object? c) => a ?? b ?? c;

    public static object? Coalesce(object? a, object? b, object? c, object? d) => a ?? b ?? c ?? d;

    /// <summary>Text or any number → an exact decimal (System.Decimal when it fits); blank text → null.</summary>
    public static object? Number(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case decimal:
                return value;
            case long l:
                return (decimal)l;
            case int i:
                return (decimal)i;
            case short sh:
                return (decimal)sh;
            case double d when double.IsFinite(d):
                return (decimal)d;
            case float f when float.IsFinite(f):
                return (decimal)f;
            case ExactDecimal e:
                return RuleValues.ForExpression(e);
            case string s:
                if (string.IsNullOrWhiteSpace(s))
                {
                    return null;
                }

                if (ExactDecimal.TryParse(s, out var parsed))
                {
                    return RuleValues.ForExpression(parsed);
                }

                throw new ExpressionFailure($"number(): '{s}' is not a number");
            default:
                throw new ExpressionFailure($"number(): cannot convert a {value.GetType().Name} ({RuleValues.ToText(value)}) to a number");
        }
    }

    /// <summary>Text or a whole number → a 64-bit integer; blank text → null; a fraction is an error, never truncated.</summary>
    public static object? Integer(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case long:
                return value;
            case int i:
                return (long)i;
            case short sh:
                return (long)sh;
            case decimal m when decimal.Truncate(m) == m && m >= long.MinValue && m <= long.MaxValue:
                return (long)m;
            case string s:
                if (string.IsNullOrWhiteSpace(s))
                {
                    return null;
                }

                if (long.TryParse(s.AsSpan().Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    return l;
                }

                break;
        }

        throw new ExpressionFailure($"integer(): cannot convert {value!.GetType().Name} '{RuleValues.ToText(value)}' to a whole number");
    }

    /// <summary>Any value → its canonical text (decimals with their scale, dates as yyyy-MM-dd); null stays null.</summary>
    public static string? Text(object? value) => RuleValues.ToText(value);

    /// <summary>Placeholder for <c>lookup(name, code)</c>: replaced at load time by the named table's <see cref="LookupTable.Map(object?)"/>.</summary>
    public static object? LookupPlaceholder(string name, object? code) =>
        throw new InvalidOperationException("lookup() is bound at load time");

    public static object? LookupWithDefaultPlaceholder(string name, object? code, object? fallback) =>
        throw new InvalidOperationException("lookup() is bound at load time");

    /// <summary>Placeholder for <c>changed(column)</c>: replaced at load time by <see cref="EvalScope.Changed(string)"/>.</summary>
    public static bool ChangedPlaceholder(string column) =>
        throw new InvalidOperationException("changed() is bound at load time");
}
