namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Translation rules loaded from YAML files (one per source table; see samples/legacy-orders/rules/README.md
/// for the format), every expression compiled once. Loading checks everything it can and reports every
/// problem at once with file, line and reason (<see cref="RuleLoadException"/>).
/// </summary>
public sealed class RuleSet
{
    private RuleSet(IReadOnlyList<TableRules> files)
    {
        Files = files;
        Tables = files.GroupBy(f => f.Table, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<TableRules>)g.ToList(), StringComparer.Ordinal);
    }

    /// <summary>Every rule file, in file-name order (the order events of one change are produced in).</summary>
    public IReadOnlyList<TableRules> Files { get; }

    /// <summary>Rule files by <c>schema.table</c>.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<TableRules>> Tables { get; }

    /// <summary>The sinks commands are addressed to, for checking them against the configured sinks.</summary>
    public IEnumerable<string> CommandTargets =>
        Files.SelectMany(f => f.Events).Where(e => e.Target is not null).Select(e => e.Target!).Distinct(StringComparer.Ordinal);

    /// <summary>Loads every <c>*.yaml</c> and <c>*.yml</c> file of a directory (not its subdirectories), in ordinal name order.</summary>
    public static RuleSet LoadDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new RuleLoadException([new RuleError(directory, 0, 0, "rules directory not found")]);
        }

        var files = Directory.EnumerateFiles(directory)
            .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new RuleLoadException([new RuleError(directory, 0, 0, "no rule files (*.yaml, *.yml) in the rules directory")]);
        }

        return LoadFiles(files);
    }

    public static RuleSet LoadFiles(IEnumerable<string> paths) =>
        Parse(paths.Select(p => (p, File.ReadAllText(p))));

    /// <summary>Loads rule files given as text; <c>File</c> names them in errors and gives the rule-id prefix.</summary>
    public static RuleSet Parse(IEnumerable<(string File, string Yaml)> files)
    {
        var errors = new List<RuleError>();
        var loaded = new List<TableRules>();
        var ruleIds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (file, yaml) in files)
        {
            if (new RuleFileLoader(file, errors).Load(yaml) is not { } rules)
            {
                continue;
            }

            foreach (var rule in rules.Events)
            {
                if (!ruleIds.TryAdd(rule.Id, file))
                {
                    errors.Add(new RuleError(file, rule.Location.Line, rule.Location.Column,
                        $"rule id '{rule.Id}' is also used in {ruleIds[rule.Id]}: rule ids (file name#type) must be unique"));
                }
            }

            loaded.Add(rules);
        }

        return errors.Count > 0 ? throw new RuleLoadException(errors) : new RuleSet(loaded);
    }

    public static RuleSet Parse(string file, string yaml) => Parse([(file, yaml)]);

    /// <summary>The translator for these rules; <paramref name="pipelineName"/> goes into every event's CloudEvents <c>source</c>.</summary>
    public RuleTranslator CreateTranslator(string pipelineName) => new(this, pipelineName);
}
