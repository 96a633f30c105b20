using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// Flattens the YAML document into configuration keys (<c>sinks:0:file:path</c>), remembering each
/// key's line, and expands <c>${VAR}</c> / <c>${VAR:-default}</c> from the environment so secrets stay
/// out of the file. A reference to an unset variable without a default is an error naming the key.
/// </summary>
internal sealed partial class YamlConfigurationProvider : ConfigurationProvider
{
    private readonly YamlConfigurationSource _source;

    public YamlConfigurationProvider(YamlConfigurationSource source)
    {
        _source = source;
    }

    public override void Load()
    {
        if (Directory.Exists(_source.Path))
        {
            // File.Exists is false for a directory: it was reported as "does not exist", which sends the operator looking
            // for a file that is there.
            throw new ConfigurationException("", $"cannot read configuration file '{_source.Path}': it is a directory; give the pipeline's YAML file");
        }

        if (!File.Exists(_source.Path))
        {
            throw new ConfigurationException("", $"configuration file '{_source.Path}' does not exist");
        }

        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(_source.Path);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new ConfigurationException("", $"{_source.Path}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.InnerException?.Message ?? e.Message}", null, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A file the process may not read (mode 000, another owner) or that fails to read is the operator's to fix, as
            // a missing one is: one line and exit 2 from every command that loads a configuration, not a stack trace.
            throw new ConfigurationException("", $"cannot read configuration file '{_source.Path}': {e.Message}", null, e);
        }

        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (stream.Documents.Count > 0)
        {
            Visit(stream.Documents[0].RootNode, "", data);
        }

        Data = data;
    }

    private void Visit(YamlNode node, string key, Dictionary<string, string?> data)
    {
        if (key.Length > 0)
        {
            _source.Locations.Add(key, _source.Path, (int)node.Start.Line);
        }

        switch (node)
        {
            case YamlMappingNode map:
                if (key.Length > 0)
                {
                    _source.Locations.AddMapping(key);
                }

                if (map.Children.Count == 0 && key.Length > 0)
                {
                    // 'console: {}' must still exist as a section, so record it as an empty value.
                    data[key] = "";
                }

                foreach (var (k, v) in map.Children)
                {
                    var name = ((YamlScalarNode)k).Value ?? "";
                    _source.Locations.Add(Join(key, name), _source.Path, (int)k.Start.Line);
                    Visit(v, Join(key, name), data);
                }

                break;
            case YamlSequenceNode seq:
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    Visit(seq.Children[i], Join(key, i.ToString(CultureInfo.InvariantCulture)), data);
                }

                break;
            case YamlScalarNode scalar:
                var isNull = scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null";
                // A key a CDC__ variable sets takes that value: the file's, and a variable it names, are never used.
                data[key] = isNull ? null : _source.Locations.IsOverridden(key) ? scalar.Value : Expand(key, scalar.Value ?? "");
                break;
        }
    }

    private string Expand(string key, string value) =>
        VariablePattern().Replace(value, m =>
        {
            if (m.Groups["escaped"].Success)
            {
                // $${ is a literal ${ (as docker compose writes it): a password or a template may contain one.
                return "${";
            }

            var name = m.Groups["name"].Value;
            var fallback = m.Groups["default"];
            var resolved = _source.Environment(name);
            if (!string.IsNullOrEmpty(resolved))
            {
                return resolved;
            }

            if (fallback.Success)
            {
                return fallback.Value;
            }

            var state = resolved is null ? "is not set" : "is set but empty";
            throw new ConfigurationException(key, $"environment variable '{name}' {state} (referenced as ${{{name}}}); give it a value or write ${{{name}:-default}} (a literal ${{ is written $${{)", _source.Locations);
        });

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + ":" + name;

    [GeneratedRegex(@"(?<escaped>\$\$\{)|\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex VariablePattern();
}
