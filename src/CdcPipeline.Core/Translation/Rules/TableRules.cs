namespace CdcPipeline.Core.Translation.Rules;

/// <summary>The compiled rules of one rule file: one source table and the events its changes become.</summary>
public sealed class TableRules
{
    internal TableRules(string file, string table, string? aggregate, IReadOnlyList<string> keyColumns, CompiledExpression? subject,
        IReadOnlyDictionary<string, LookupTable> lookups, IReadOnlyList<EventRule> events)
    {
        File = file;
        Table = table;
        Aggregate = aggregate;
        KeyColumns = keyColumns;
        Subject = subject;
        Lookups = lookups;
        Events = events;
    }

    public string File { get; }

    /// <summary><c>schema.table</c>; a rule file naming a bare table means schema <c>public</c>.</summary>
    public string Table { get; }

    public string? Aggregate { get; }

    /// <summary>The aggregate key columns (<c>key:</c>); empty means the change's own key columns.</summary>
    public IReadOnlyList<string> KeyColumns { get; }

    /// <summary>Where <c>key:</c>'s value is, for the error of a key column a change lacks; null without <c>key:</c>.</summary>
    public RuleLocation? KeyLocation { get; internal init; }

    /// <summary>A subject expression for every event of the file (<c>subject:</c>), instead of the key columns.</summary>
    public CompiledExpression? Subject { get; }

    public IReadOnlyDictionary<string, LookupTable> Lookups { get; }

    public IReadOnlyList<EventRule> Events { get; }
}
