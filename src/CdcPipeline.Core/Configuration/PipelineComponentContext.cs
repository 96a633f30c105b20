using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Core.Configuration;

/// <summary>What a source or sink factory gets: its section, where keys came from, and the services.</summary>
public sealed record PipelineComponentContext(
    string Name,
    IConfigurationSection Section,
    PipelineOptions Pipeline,
    ConfigurationLocations Locations,
    string BaseDirectory,
    IServiceProvider Services)
{
    /// <summary>
    /// The pipeline's dead-letter queue, given to the source (built before it): a source that sets aside
    /// records it cannot decode may share it rather than open a second one to the same place.
    /// </summary>
    public IDeadLetterQueue? DeadLetters { get; init; }

    /// <summary>The pipeline's rule files, given to the source: one that knows which tables are captured can say at start-up
    /// that a rule file's table is not among them.</summary>
    public IReadOnlyList<Translation.Rules.TableRules> RuleFiles { get; init; } = [];

    public T Bind<T>()
        where T : class, new() => ConfigBinding.Bind<T>(Section, Locations);

    /// <summary>Resolves a path from the configuration relative to the configuration file's folder.</summary>
    public string ResolvePath(string path) => Path.GetFullPath(Path.Combine(BaseDirectory, path));

    public ConfigurationException Error(string key, string reason) =>
        new(key.Length == 0 ? Section.Path : $"{Section.Path}:{key}", reason, Locations);
}
