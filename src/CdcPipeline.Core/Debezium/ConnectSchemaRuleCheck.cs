using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation.Rules;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// The Kafka path's check of the rules against the column types a record's schema gives (JSON with schemas, Avro's writer
/// schema): the embedded capture checks at start, with the types from PostgreSQL's catalog, what fails on every change
/// (<c>after.sts_cd == 5</c> on a CHAR column, <c>after.cap_ts &gt; "2024-01-01"</c> on a timestamp); here the types are
/// known only from the records, so the first record of each value schema is checked (event 1117, once per file, expression
/// and problem), and again when a record brings another schema. A record without schema (<c>schemas.enable=false</c>) tells
/// no types: nothing is checked. Thread-safe.
/// </summary>
public sealed class ConnectSchemaRuleCheck
{
    private readonly Dictionary<string, TableRules[]> _files;
    private readonly ILogger _logger;
    private readonly HashSet<string> _said = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public ConnectSchemaRuleCheck(IReadOnlyList<TableRules> files, ILogger logger)
    {
        _files = files.GroupBy(f => f.Table, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        _logger = logger;
    }

    /// <summary>
    /// Checks the rules of <paramref name="change"/>'s table against <paramref name="valueSchema"/> (the record's value schema,
    /// null without one) unless that schema was checked already: per record a reference comparison, the decoders' schema
    /// caches giving the same <see cref="ConnectSchema"/> for the same schema.
    /// </summary>
    public void Check(ConnectSchema? valueSchema, ChangeEvent change)
    {
        if (valueSchema is not null && !ReferenceEquals(valueSchema.RulesCheckedBy, this))
        {
            CheckFirst(valueSchema, change);
        }
    }

    private void CheckFirst(ConnectSchema valueSchema, ChangeEvent change)
    {
        // A heartbeat's or a transaction's schema has no rows to check: marked as checked all the same.
        if (change.Kind == ChangeKind.Change
            && (valueSchema.Field("after") ?? valueSchema.Field("before"))?.Schema is { Type: ConnectType.Struct } row
            && _files.TryGetValue(change.Source.QualifiedTable, out var files))
        {
            var columns = new Dictionary<string, RuleColumnType>(StringComparer.Ordinal);
            foreach (var field in row.Fields)
            {
                columns[field.Name] = new RuleColumnType(ConnectValues.RuleKinds(field.Schema), TypeName(field.Schema));
            }

            foreach (var file in files)
            {
                foreach (var (what, at, e, problem) in RuleTypeCheck.Check(file, columns))
                {
                    if (Say(file.File, what, at, problem.Problem))
                    {
                        RuleLog.RuleMistypesColumns(_logger, what, at, e.What, problem.Problem, file.Table, problem.Fix);
                    }
                }
            }
        }

        valueSchema.RulesCheckedBy = this;
    }

    /// <summary>
    /// Whether a warning is said now: once per file, expression and problem in this process. A schema that changes without
    /// changing what the expression meets (a column added elsewhere) says nothing new; one that changes the column's type does.
    /// </summary>
    private bool Say(params string[] about)
    {
        lock (_lock)
        {
            return _said.Add(string.Join('\u001f', about));
        }
    }

    /// <summary>The column's type as the record names it: the source type when the connector propagates it, else the Connect type and logical name.</summary>
    private static string TypeName(ConnectSchema s) =>
        s.Parameters.TryGetValue("__debezium.source.column.type", out var source)
            ? (s.Parameters.TryGetValue("__debezium.source.column.length", out var length), s.Parameters.TryGetValue("__debezium.source.column.scale", out var scale)) switch
            {
                (true, true) => $"{source}({length},{scale})",
                (true, false) => $"{source}({length})",
                _ => source,
            }
            : s.ToString();
}
