namespace CdcPipeline.Core.Translation.Rules;

/// <summary>A legacy code table from a rule file's <c>lookups:</c> (<c>status: { P: PLACED, S: SHIPPED }</c>).</summary>
public sealed class LookupTable
{
    private readonly Dictionary<string, string> _codes;

    public LookupTable(string name, IReadOnlyDictionary<string, string> codes)
    {
        Name = name;
        _codes = new Dictionary<string, string>(codes, StringComparer.Ordinal);
    }

    public string Name { get; }

    public IReadOnlyDictionary<string, string> Codes => _codes;

    /// <summary>
    /// Maps a code; trailing blanks are ignored because a CHAR(n) code arrives blank-padded and
    /// PostgreSQL itself treats those blanks as insignificant. Null maps to null. An unknown code is an
    /// error: a legacy system that grew a new status should stop the rule, not invent a meaning.
    /// </summary>
    public object? Map(object? code)
    {
        if (code is null)
        {
            return null;
        }

        var text = Key(code);
        return _codes.TryGetValue(text, out var value)
            ? value
            : throw new ExpressionFailure(
                $"code '{text}' is not in lookup '{Name}' (it has {string.Join(", ", _codes.Keys)}); add it to the rule file's lookups, or give a default: lookup(\"{Name}\", value, \"UNKNOWN\")");
    }

    /// <summary>Maps a code, or returns <paramref name="fallback"/> for a code the table lacks.</summary>
    public object? Map(object? code, object? fallback)
    {
        if (code is null)
        {
            return fallback;
        }

        return _codes.TryGetValue(Key(code), out var value) ? value : fallback;
    }

    private static string Key(object code) => (RuleValues.ToText(code) ?? "").TrimEnd(' ');
}
