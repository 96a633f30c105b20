using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation;

/// <summary>
/// Several translators as one: rule files beside C# translators for what rules cannot say. Each
/// translator is registered for one table (<c>schema.table</c>) or for every change; for a change, the
/// matching translators run in registration order and their events are appended in that order, so the
/// output stays deterministic.
/// </summary>
public sealed class CompositeTranslator : IChangeTranslator
{
    private readonly List<(string? Table, IChangeTranslator Translator)> _entries = [];

    public CompositeTranslator()
    {
    }

    public CompositeTranslator(IEnumerable<IChangeTranslator> translators)
    {
        foreach (var t in translators)
        {
            Add(t);
        }
    }

    /// <summary>A translator that sees every change (a <see cref="Rules.RuleTranslator"/> routes by table itself).</summary>
    public CompositeTranslator Add(IChangeTranslator translator)
    {
        ArgumentNullException.ThrowIfNull(translator);
        _entries.Add((null, translator));
        return this;
    }

    /// <summary>A translator for the changes of one table; a bare table name means schema <c>public</c>.</summary>
    public CompositeTranslator Add(string table, IChangeTranslator translator)
    {
        ArgumentException.ThrowIfNullOrEmpty(table);
        ArgumentNullException.ThrowIfNull(translator);
        _entries.Add((table.Contains('.', StringComparison.Ordinal) ? table : "public." + table, translator));
        return this;
    }

    public int Count => _entries.Count;

    /// <summary>The translators, in registration order.</summary>
    public IEnumerable<IChangeTranslator> Translators => _entries.Select(e => e.Translator);

    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        string? table = null;
        foreach (var (forTable, translator) in _entries)
        {
            if (forTable is not null && !string.Equals(forTable, table ??= change.Source.QualifiedTable, StringComparison.Ordinal))
            {
                continue;
            }

            translator.Translate(change, output);
        }
    }
}
