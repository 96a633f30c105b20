namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// A legacy code table from a rule file's <c>lookups:</c> (<c>status: { P: PLACED, S: SHIPPED }</c>).
/// The entry <c>_default</c>, when present, is the value of every code the table does not list.
/// </summary>
public sealed class LookupTable
{
    public const string DefaultKey = "_default";

    private readonly Dictionary<string, string> _codes;

    public LookupTable(string name, IReadOnlyDictionary<string, string> codes)
    {
        Name = name;
        // Codes are kept without trailing blanks: Map trims them off the value too (CHAR(n) padding).
        _codes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (code, value) in codes)
        {
            if (!_codes.TryAdd(code.TrimEnd(' '), value))
            {
                throw new ArgumentException($"lookup '{name}': code '{code}' differs from another only in trailing blanks, which are ignored", nameof(codes));
            }
        }

        if (_codes.Remove(DefaultKey, out var fallback))
        {
            Default = fallback;
        }
    }

    public string Name { get; }

    /// <summary>The value for unlisted codes (<c>_default:</c>); null means an unlisted code is an error.</summary>
    public string? Default { get; }

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
            : Default ?? throw new ExpressionFailure(
                $"code '{text}' is not in lookup '{Name}' (it has {string.Join(", ", _codes.Keys)}); add it to the rule file's lookups, give the lookup a {DefaultKey}: entry, or give a default: lookup(\"{Name}\", value, \"UNKNOWN\")");
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
