using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// The pipeline's configuration: the YAML file, overridden by environment variables
/// <c>CDC__Section__Key</c> (e.g. <c>CDC__source__postgres__slot</c>), with the source line of every key.
/// </summary>
public sealed class PipelineConfiguration
{
    public const string EnvironmentPrefix = "CDC__";

    private static readonly HashSet<string> TopLevelKeys = new(
        ["name", "source", "rules", "sinks", "deadLetter", "runner", "translators", "outbox", "failures", "observability"], StringComparer.OrdinalIgnoreCase);

    private PipelineConfiguration(string path, IConfigurationRoot root, ConfigurationLocations locations, PipelineOptions options)
    {
        FilePath = path;
        Root = root;
        Locations = locations;
        Options = options;
    }

    public string FilePath { get; }

    public string BaseDirectory => Path.GetDirectoryName(Path.GetFullPath(FilePath)) ?? ".";

    public IConfigurationRoot Root { get; }

    public ConfigurationLocations Locations { get; }

    public PipelineOptions Options { get; }

    public static PipelineConfiguration Load(string path, Func<string, string?>? environment = null)
    {
        var locations = new ConfigurationLocations();
        var builder = new ConfigurationBuilder().Add(new YamlConfigurationSource(path, locations, environment));
        if (environment is null)
        {
            builder.AddEnvironmentVariables(EnvironmentPrefix);

            // An overridden key's value is the variable's, not the file's: a bad one must name the variable.
            foreach (var name in Environment.GetEnvironmentVariables().Keys.OfType<string>())
            {
                if (name.Length > EnvironmentPrefix.Length && name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                {
                    locations.Override(name[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal), $"environment variable {name}");
                }
            }
        }

        var root = builder.Build();
        foreach (var top in root.GetChildren())
        {
            // Keys ignore case, as the binder does: CDC__RULES (variables are by custom upper case) is 'rules'.
            if (!TopLevelKeys.Contains(top.Key))
            {
                throw new ConfigurationException(top.Path, "unknown key; expected name, source, rules, sinks, deadLetter, runner, translators, outbox, failures or observability", locations);
            }
        }

        // sinks is a list: written as a map ('sinks: { screen: { console: {} } }'), each key read as a sink without a name.
        var sinks = root.GetSection("sinks");
        if (sinks.Value is { Length: > 0 } single)
        {
            throw new ConfigurationException("sinks", ConfigBinding.ListExpected(single), locations);
        }

        // With keys 0:, 1: (or any keys) the mapping flattens as a list would, and the binder took it for one.
        var sinkEntries = sinks.GetChildren().ToList();
        var mapEntry = sinkEntries.FirstOrDefault(c => !int.TryParse(c.Key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            ?? (locations.IsMapping("sinks") ? sinkEntries.FirstOrDefault() : null);
        if (mapEntry is not null)
        {
            var named = int.TryParse(mapEntry.Key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)
                ? mapEntry["name"] is { Length: > 0 } name ? name : "audit"
                : mapEntry.Key;
            throw new ConfigurationException("sinks",
                $"a map (key '{mapEntry.Key}') where a list is expected: write one '- name: {named}' item per sink with its kind below it, e.g. sinks: [{{ name: {named}, console: {{}} }}]",
                locations);
        }

        foreach (var sink in sinkEntries)
        {
            // The common keys (types:) strictly; the kind's section is its factory's to bind.
            ConfigBinding.RefuseMapsAsLists(sink, typeof(SinkCommonOptions), locations);
        }

        // The typed sections first, strictly: a value of the wrong type ('bufferCapacity: lots') is then an error
        // naming its key and line, not the plain binder's InvalidOperationException (a stack trace, exit 1).
        var deadLetter = ConfigBinding.Bind<DeadLetterOptions>(root.GetSection("deadLetter"), locations);
        var runner = ConfigBinding.Bind<RunnerOptions>(root.GetSection("runner"), locations);
        var observability = root.GetSection("observability") is { } section && section.Exists()
            ? ConfigBinding.Bind<ObservabilityOptions>(section, locations)
            : null;
        if (observability is not null)
        {
            if (observability.Otlp is null && root.GetSection("observability:otlp").Exists())
            {
                // 'otlp: {}' binds to nothing, yet asks for the push with every setting from the OTEL_* variables.
                observability.Otlp = new OtlpOptions();
            }

            if (observability.Otlp is { } otlp)
            {
                // The validator does not descend into nested options: otlp's own attributes are checked here.
                ConfigBinding.Validate(otlp, "observability:otlp", locations);
            }
            else if (observability.Port is null)
            {
                throw new ConfigurationException("observability:port",
                    "the port to serve /metrics, /healthz and /readyz on is required (1-65535) unless metrics are pushed; set port or otlp (or both)", locations);
            }
        }

        var options = new PipelineOptions();
        root.Bind(options, o => o.ErrorOnUnknownConfiguration = false);
        options.DeadLetter = deadLetter;
        options.Runner = runner;
        options.Observability = observability;
        ConfigBinding.Validate(options, "", locations);
        return new PipelineConfiguration(path, root, locations, options);
    }

    /// <summary>The one kind section under <paramref name="section"/> that is not a common key; errors when there are none or several.</summary>
    public string KindOf(IConfigurationSection section, IReadOnlySet<string> commonKeys, IEnumerable<string> knownKinds)
    {
        var kinds = section.GetChildren().Select(c => c.Key).Where(k => !commonKeys.Contains(k)).ToList();
        var known = string.Join(", ", knownKinds.Order(StringComparer.Ordinal));
        return kinds.Count switch
        {
            1 => kinds[0],
            0 => throw new ConfigurationException(section.Path, $"no kind given; add exactly one of: {known}", Locations),
            _ => throw new ConfigurationException(section.Path, $"several kinds given ({string.Join(", ", kinds)}); exactly one of: {known}", Locations),
        };
    }
}
