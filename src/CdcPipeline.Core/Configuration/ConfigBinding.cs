using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// Binds a configuration section to an options type strictly: an unknown key, a value of the wrong
/// type or a failed validation attribute is a <see cref="ConfigurationException"/> naming the key and
/// the file line it came from.
/// </summary>
public static class ConfigBinding
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
            throw new ConfigurationException(section.Path, Describe(e), locations, e);
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

    private static string Describe(InvalidOperationException e)
    {
        // The binder's messages are good ("'x' was not found…", "Failed to convert configuration value
        // '…' at '…' to type '…'"); keep the innermost, which names the value.
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            message = inner.Message;
        }

        return message;
    }
}
