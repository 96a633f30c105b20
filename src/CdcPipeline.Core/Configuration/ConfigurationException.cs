namespace CdcPipeline.Core.Configuration;

/// <summary>Bad configuration: names the file and line, the key, and the reason.</summary>
public sealed class ConfigurationException : Exception
{
    public ConfigurationException(string key, string reason, ConfigurationLocations? locations = null, Exception? inner = null)
        : base(Format(key, reason, locations), inner)
    {
        Key = key;
        Reason = reason;
    }

    public string Key { get; }

    public string Reason { get; }

    private static string Format(string key, string reason, ConfigurationLocations? locations)
    {
        var where = locations?.Describe(key) is { } location ? location + ": " : "";
        // An error of the file itself (missing, unreadable, not YAML) has no key: the reason says what is wrong with which file.
        return key.Length == 0 ? $"{where}{reason}" : $"{where}{key.Replace(':', '.')}: {reason}";
    }
}
