namespace CdcPipeline.Core.Configuration;

/// <summary>Where each configuration key was written (file and line), so errors can point at it.</summary>
public sealed class ConfigurationLocations
{
    private readonly Dictionary<string, (string File, int Line)> _locations = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _overridden = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _mappings = new(StringComparer.OrdinalIgnoreCase);

    public void Add(string key, string file, int line) => _locations.TryAdd(key, (file, line));

    /// <summary><paramref name="key"/> was written as a mapping (<c>key: { a: 1 }</c> or keys indented below it), not a list.</summary>
    public void AddMapping(string key) => _mappings.Add(key);

    /// <summary>
    /// Whether <paramref name="key"/> was written as a mapping: flattened, a mapping with keys <c>0:</c>, <c>1:</c> looks like
    /// a list (<c>key:0</c>, <c>key:1</c>), which the binder takes as one.
    /// </summary>
    public bool IsMapping(string key) => _mappings.Contains(key);

    /// <summary>
    /// <paramref name="key"/>'s value comes from somewhere that has no line (an environment variable, named by
    /// <paramref name="origin"/>), whatever the file says: errors point there (line 0), not at the file.
    /// </summary>
    public void Override(string key, string origin)
    {
        _locations[key] = (origin, 0);
        _overridden.Add(key);
    }

    /// <summary>Whether <paramref name="key"/> itself is set somewhere other than the file (an environment variable).</summary>
    public bool IsOverridden(string key) => _overridden.Contains(key);

    /// <summary>The location of <paramref name="key"/>, or of its nearest parent that has one.</summary>
    public (string File, int Line)? Find(string key)
    {
        for (var k = key; !string.IsNullOrEmpty(k); k = Parent(k))
        {
            if (_locations.TryGetValue(k, out var location))
            {
                return location;
            }
        }

        return null;
    }

    /// <summary>
    /// Where <paramref name="key"/> (or its nearest parent) was written, as errors show it: <c>file:line</c>, or the origin
    /// alone when it has no line (an environment variable); null when it was not written anywhere known.
    /// </summary>
    public string? Describe(string key) => Find(key) switch
    {
        { Line: 0 } location => location.File,
        { } location => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{location.File}:{location.Line}"),
        null => null,
    };

    private static string Parent(string key)
    {
        var i = key.LastIndexOf(':');
        return i < 0 ? "" : key[..i];
    }
}
