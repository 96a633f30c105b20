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

    /// <summary>
    /// The whole configuration, given to the source: one that can read what another part of the pipeline writes (a Kafka
    /// source subscribed to a sink's or the dead letters' topic) refuses that at start-up, naming both settings.
    /// </summary>
    public PipelineConfiguration? Configuration { get; init; }

    /// <summary>
    /// Stops start-up when a rule file is for a table outside <paramref name="tables"/>, the list (at <paramref name="key"/>)
    /// of the tables this source passes on: such a file loads, never runs, and its events are missing without a word.
    /// <paramref name="stands"/> says whether a listed name stands for a rule file's table.
    /// </summary>
    public void RequireRuleTablesIn(string key, IReadOnlyList<string> tables, Func<string, string, bool> stands, string addAdvice = "")
    {
        if (RuleFiles.FirstOrDefault(r => !tables.Any(t => stands(t, r.Table))) is not { } outside)
        {
            return;
        }

        var sameButCase = tables.FirstOrDefault(t => string.Equals(t, outside.Table, StringComparison.OrdinalIgnoreCase));
        throw Error(
            key,
            sameButCase is not null
                ? $"rule file {outside.File} is for {outside.Table}, but this list names the table {sameButCase}, and its changes carry that name: "
                    + $"write 'table: {sameButCase}' in the rule file"
                : $"rule file {outside.File} is for {outside.Table}, which this list does not capture, so its rules would never run: "
                    + $"add the table here{addAdvice}, or correct 'table:' in the rule file");
    }

    public T Bind<T>()
        where T : class, new() => ConfigBinding.Bind<T>(Section, Locations);

    /// <summary>Resolves a path from the configuration relative to the configuration file's folder.</summary>
    public string ResolvePath(string path) => Path.GetFullPath(Path.Combine(BaseDirectory, path));

    public ConfigurationException Error(string key, string reason) =>
        new(key.Length == 0 ? Section.Path : $"{Section.Path}:{key}", reason, Locations);
}
