using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
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
        RefuseMapsAsLists(section, typeof(T), locations);
        T options;
        try
        {
            options = section.Get<T>(o => o.ErrorOnUnknownConfiguration = true) ?? new T();
        }
        catch (InvalidOperationException e)
        {
            var (key, reason) = Describe(e, section, typeof(T));
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
            throw new ConfigurationException(key, RangeReason(options, member) ?? first.ErrorMessage ?? "invalid value", locations);
        }
    }

    /// <summary>
    /// For a <see cref="RangeAttribute"/> without its own message, what is allowed and what was given; DataAnnotations' default
    /// names the C# property ("The field MaxReconnectAttempts must be between 0 and 2147483647"), not the key. Null otherwise.
    /// </summary>
    private static string? RangeReason(object options, string? member)
    {
        if (member is null
            || options.GetType().GetProperty(member) is not { } property
            || property.GetCustomAttribute<RangeAttribute>() is not { ErrorMessage: null, ErrorMessageResourceType: null } range)
        {
            return null;
        }

        var culture = System.Globalization.CultureInfo.InvariantCulture;
        var given = Convert.ToString(property.GetValue(options), culture);
        // Range(1, long.MaxValue) is the (double, double) constructor: its maximum is long.MaxValue as a double.
        return range.Maximum is int.MaxValue or long.MaxValue or >= (double)long.MaxValue
            ? string.Create(culture, $"must be {range.Minimum} or more, not {given}")
            : string.Create(culture, $"must be from {range.Minimum} to {range.Maximum}, not {given}");
    }

    /// <summary>Why a single value (<c>tables: public.orders</c>) is refused where a list is expected, and how to write it.</summary>
    public static string ListExpected(string value) =>
        $"'{value}' is one value where a list is expected: write [{value}] or one '- {value}' per line below the key";

    /// <summary>
    /// Throws a <see cref="ConfigurationException"/> at the first key under <paramref name="section"/> that <paramref name="type"/>
    /// binds to a list (or array) but the YAML wrote as a mapping: the binder takes a mapping's keys for indexes (<c>0:</c>,
    /// <c>1:</c>) and passes over any other keys, so <c>tables: {0: a, 1: b}</c> or <c>tables: {first: a}</c> would be read as a
    /// list the operator did not write. Keys <paramref name="type"/> does not have are left to the strict bind.
    /// </summary>
    public static void RefuseMapsAsLists(IConfigurationSection section, Type type, ConfigurationLocations? locations)
    {
        if (locations is not null && FindMapAsList(section, type, locations) is { } map)
        {
            throw new ConfigurationException(map.Path, MapWhereListExpected(map), locations);
        }
    }

    /// <summary>Why a mapping is refused where a list is expected, and how to write the list (its values, when they are values).</summary>
    public static string MapWhereListExpected(IConfigurationSection map)
    {
        var entries = map.GetChildren().ToList();
        var first = entries[0];
        return entries.All(e => e.Value is { Length: > 0 })
            ? $"a map (key '{first.Key}') where a list is expected: write [{string.Join(", ", entries.Select(e => e.Value))}] or one '- {first.Value}' per line below the key, without keys"
            : $"a map (key '{first.Key}') where a list is expected: write one '- ' item per entry below the key, without the keys ('{first.Key}:')";
    }

    private static IConfigurationSection? FindMapAsList(IConfigurationSection section, Type type, ConfigurationLocations locations)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsValue(type))
        {
            return null;
        }

        var element = ElementType(type);
        if (element is null)
        {
            foreach (var child in section.GetChildren())
            {
                if (type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { } property
                    && FindMapAsList(child, property.PropertyType, locations) is { } found)
                {
                    return found;
                }
            }

            return null;
        }

        var items = section.GetChildren().ToList();
        if (!IsDictionary(type) && items.Count > 0 && locations.IsMapping(section.Path))
        {
            return section;
        }

        return IsValue(Nullable.GetUnderlyingType(element) ?? element)
            ? null
            : items.Select(item => FindMapAsList(item, element, locations)).FirstOrDefault(found => found is not null);
    }

    private static bool IsDictionary(Type type) =>
        type.GetInterfaces().Append(type).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));

    /// <summary>
    /// The key at fault and why, from the binder's messages: "Failed to convert configuration value 'x' at
    /// 'a:b:c' to type 'System.Boolean'" names the exact key (so the error points at its line); an unknown
    /// key is named as such. Otherwise the innermost message, which names the value.
    /// </summary>
    private static (string Key, string Reason) Describe(InvalidOperationException e, IConfigurationSection section, Type boundType)
    {
        var sectionPath = section.Path;
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
                if (type.StartsWith("Collections.Generic.List`1", StringComparison.Ordinal) || type.EndsWith("[]", StringComparison.Ordinal))
                {
                    return (key, ListExpected(convert.Groups["value"].Value));
                }

                // a TimeSpan's form is not obvious ('10s', '200ms' and a bare 60, which would be days, are the usual guesses)
                var form = type == "TimeSpan" ? " (write hh:mm:ss, e.g. \"00:00:10\", or \"00:00:00.200\" for 200 ms)" : "";
                return (key, $"'{convert.Groups["value"].Value}' is not a valid {type}{form}");
            }

            var unknown = UnknownKeys().Match(current.Message);
            if (unknown.Success)
            {
                // The binder names the keys but not where they are: the first one's own path points at its line.
                var keys = unknown.Groups["keys"].Value;
                var first = keys.Split(',')[0].Trim().Trim('\'');
                return (FindUnknownKey(section, boundType, first) ?? sectionPath, $"unknown key {keys} (check its spelling and the documented keys)");
            }
        }

        return (sectionPath, innermost);
    }

    /// <summary>
    /// The path of <paramref name="key"/> where it is not a property of the type bound there: the binder's own walk
    /// (properties by name ignoring case; lists and dictionaries by element; a type convertible from text is a value).
    /// </summary>
    private static string? FindUnknownKey(IConfigurationSection section, Type type, string key)
    {
        foreach (var child in section.GetChildren())
        {
            var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null)
            {
                if (string.Equals(child.Key, key, StringComparison.OrdinalIgnoreCase))
                {
                    return child.Path;
                }

                continue;
            }

            var found = FindUnknownKeyIn(child, property.PropertyType, key);
            if (found is not null)
            {
                return found;
            }
        }

        return null;
    }

    private static string? FindUnknownKeyIn(IConfigurationSection section, Type type, string key)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsValue(type))
        {
            return null;
        }

        var element = ElementType(type);
        if (element is null)
        {
            return FindUnknownKey(section, type, key);
        }

        if (IsValue(Nullable.GetUnderlyingType(element) ?? element))
        {
            return null;
        }

        return section.GetChildren().Select(item => FindUnknownKeyIn(item, element, key)).FirstOrDefault(path => path is not null);
    }

    private static bool IsValue(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(object) || TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string));

    /// <summary>The value type of a dictionary, the element type of an array or list; null for anything else.</summary>
    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        var dictionary = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            return dictionary.GetGenericArguments()[1];
        }

        var enumerable = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        return enumerable?.GetGenericArguments()[0];
    }

    [System.Text.RegularExpressions.GeneratedRegex("configuration value '(?<value>[^']*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial System.Text.RegularExpressions.Regex ConvertFailure();

    [System.Text.RegularExpressions.GeneratedRegex("properties were not found on the instance of [^:]+: (?<keys>.+)$")]
    private static partial System.Text.RegularExpressions.Regex UnknownKeys();
}
