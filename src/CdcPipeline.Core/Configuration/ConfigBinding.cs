using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// Binds a configuration section to an options type strictly: an unknown key, a value of the wrong
/// type or a failed validation attribute is a <see cref="ConfigurationException"/> naming the key and
/// the file line it came from.
/// </summary>
public static partial class ConfigBinding
{
    public static T Bind<T>(IConfigurationSection section, ConfigurationLocations? locations)
        where T : class, new()
    {
        T options;
        try
        {
            options = section.Get<T>(o => o.ErrorOnUnknownConfiguration = true) ?? new T();
        }
        catch (InvalidOperationException e)
        {
            var (key, reason) = Describe(e, section.Path);
            throw new ConfigurationException(key, reason, locations, e);
        }

        Validate(options, section.Path, locations);
        return options;
    }

    public static void Validate(object options, string path, ConfigurationLocations? locations)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            var first = results[0];
            var member = first.MemberNames.FirstOrDefault();
            var name = member is null ? null : $"{char.ToLowerInvariant(member[0])}{member[1..]}";
            var key = name is null ? path : path.Length == 0 ? name : $"{path}:{name}";
            throw new ConfigurationException(key, first.ErrorMessage ?? "invalid value", locations);
        }
    }

    /// <summary>
    /// The key at fault and why, from the binder's messages: "Failed to convert configuration value 'x' at
    /// 'a:b:c' to type 'System.Boolean'" names the exact key (so the error points at its line); an unknown
    /// key is named as such. Otherwise the innermost message, which names the value.
    /// </summary>
    private static (string Key, string Reason) Describe(InvalidOperationException e, string sectionPath)
    {
        var innermost = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            innermost = inner.Message;
        }

        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            var convert = ConvertFailure().Match(current.Message);
            if (convert.Success)
            {
                var type = convert.Groups["type"].Value;
                type = type.StartsWith("System.", StringComparison.Ordinal) ? type["System.".Length..] : type;
                // the binder names the last segment after the C# property; the YAML key is its camelCase
                var key = convert.Groups["key"].Value;
                var last = key.LastIndexOf(':') + 1;
                key = last < key.Length ? string.Concat(key.AsSpan(0, last), char.ToLowerInvariant(key[last]).ToString(), key.AsSpan(last + 1)) : key;
                return (key, $"'{convert.Groups["value"].Value}' is not a valid {type}");
            }

            var unknown = UnknownKeys().Match(current.Message);
            if (unknown.Success)
            {
                return (sectionPath, $"unknown key {unknown.Groups["keys"].Value} (check its spelling and the documented keys)");
            }
        }

        return (sectionPath, innermost);
    }

    [System.Text.RegularExpressions.GeneratedRegex("configuration value '(?<value>[^']*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial System.Text.RegularExpressions.Regex ConvertFailure();

    [System.Text.RegularExpressions.GeneratedRegex("properties were not found on the instance of [^:]+: (?<keys>.+)$")]
    private static partial System.Text.RegularExpressions.Regex UnknownKeys();
}
