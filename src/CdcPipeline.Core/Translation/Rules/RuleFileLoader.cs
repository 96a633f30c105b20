using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Reads one rule file through YamlDotNet's representation model (not a deserializer), so that every key
/// and every expression keeps its line and column for error messages, and unknown keys are caught.
/// </summary>
internal sealed class RuleFileLoader
{
    private static readonly string[] FileKeys = ["table", "description", "aggregate", "key", "subject", "lookups", "events"];
    private static readonly string[] EventKeys = ["type", "id", "description", "kind", "target", "aggregate", "when", "subject", "data"];

    private readonly string _file;
    private readonly string _ruleIdPrefix;
    private readonly List<RuleError> _errors;

    public RuleFileLoader(string file, List<RuleError> errors)
    {
        _file = file;
        _ruleIdPrefix = Path.GetFileNameWithoutExtension(file);
        _errors = errors;
    }

    public TableRules? Load(string yaml)
    {
        var errorsBefore = _errors.Count;
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            Error(e.Start, $"YAML syntax: {Innermost(e).Message}");
            return null;
        }

        if (stream.Documents.Count != 1)
        {
            Error(default, stream.Documents.Count == 0 ? "the file is empty" : "one YAML document per rule file (found several '---')");
            return null;
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            Error(stream.Documents[0].RootNode.Start, "a rule file is a mapping with table: and events:");
            return null;
        }

        var fields = Fields(root, FileKeys, "rule file");

        string? table = null;
        if (fields.TryGetValue("table", out var tableNode))
        {
            table = Scalar(tableNode, "table");
            if (table is not null && (table.Length == 0 || table.Count(c => c == '.') > 1))
            {
                Error(tableNode.Start, $"table: '{table}' is not 'schema.table' or 'table'");
                table = null;
            }
            else if (table is not null && !table.Contains('.', StringComparison.Ordinal))
            {
                table = "public." + table;
            }
        }
        else
        {
            Error(root.Start, "missing table: (the source table, 'schema.table')");
        }

        var aggregate = fields.TryGetValue("aggregate", out var aggNode) ? Scalar(aggNode, "aggregate") : null;
        var keyColumns = fields.TryGetValue("key", out var keyNode) ? KeyColumns(keyNode) : [];
        var lookups = fields.TryGetValue("lookups", out var lookupsNode) ? Lookups(lookupsNode) : new Dictionary<string, LookupTable>();
        var compiler = new RuleExpressionCompiler(lookups, _errors);

        CompiledExpression? subject = null;
        if (fields.TryGetValue("subject", out var subjectNode) && Scalar(subjectNode, "subject") is { } subjectText)
        {
            if (keyNode is not null)
            {
                Error(subjectNode.Start, "give either key: (columns) or subject: (an expression), not both");
            }

            subject = compiler.CompileValue(subjectText, Where(subjectNode), "subject");
        }

        var events = new List<EventRule>();
        if (!fields.TryGetValue("events", out var eventsNode))
        {
            Error(root.Start, "missing events: (a list of events, each with type:)");
        }
        else if (eventsNode is not YamlSequenceNode sequence || sequence.Children.Count == 0)
        {
            Error(eventsNode.Start, "events: must be a list with at least one event (- type: …)");
        }
        else
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var node in sequence.Children)
            {
                if (Event(node, compiler, aggregate) is { } rule)
                {
                    if (!ids.Add(rule.Id))
                    {
                        Error(node.Start, $"two events have the rule id '{rule.Id}' (it is part of every event id); give one of them id: <unique-name>");
                    }

                    events.Add(rule);
                }
            }
        }

        if (_errors.Count > errorsBefore || table is null)
        {
            return null;
        }

        return new TableRules(_file, table, aggregate, keyColumns, subject, lookups, events)
        {
            KeyLocation = keyNode is null ? null : new RuleLocation(_file, keyNode.Start.Line, keyNode.Start.Column),
        };
    }

    private EventRule? Event(YamlNode node, RuleExpressionCompiler compiler, string? fileAggregate)
    {
        if (node is not YamlMappingNode map)
        {
            Error(node.Start, "each event is a mapping (- type: OrderPlaced, when: …, data: …)");
            return null;
        }

        var fields = Fields(map, EventKeys, "event");
        string? type = null;
        if (fields.TryGetValue("type", out var typeNode))
        {
            type = Scalar(typeNode, "type");
            if (type is { Length: 0 })
            {
                Error(typeNode.Start, "type: is empty");
                type = null;
            }
        }
        else
        {
            Error(map.Start, "event without type: (the CloudEvents type, e.g. OrderPlaced)");
        }

        var id = fields.TryGetValue("id", out var idNode) ? Scalar(idNode, "id") : type;
        var kind = DomainEventKind.Event;
        if (fields.TryGetValue("kind", out var kindNode))
        {
            switch (Scalar(kindNode, "kind"))
            {
                case "event": break;
                case "command": kind = DomainEventKind.Command; break;
                case { } other: Error(kindNode.Start, $"kind: '{other}' is neither event nor command"); break;
            }
        }

        string? target = null;
        if (fields.TryGetValue("target", out var targetNode))
        {
            target = Scalar(targetNode, "target");
            if (kind != DomainEventKind.Command)
            {
                Error(targetNode.Start, "target: applies to commands only (add kind: command); an event goes to every sink");
            }
        }
        else if (kind == DomainEventKind.Command)
        {
            Error(map.Start, "a command (kind: command) needs target: <sink name>: it goes to exactly one sink");
        }

        var aggregate = fields.TryGetValue("aggregate", out var aggNode) ? Scalar(aggNode, "aggregate") : fileAggregate;
        var label = type ?? "event";
        var when = fields.TryGetValue("when", out var whenNode) && Scalar(whenNode, "when") is { } whenText
            ? compiler.CompileCondition(whenText, Where(whenNode), $"{label} when")
            : null;
        var subject = fields.TryGetValue("subject", out var subjectNode) && Scalar(subjectNode, "subject") is { } subjectText
            ? compiler.CompileValue(subjectText, Where(subjectNode), $"{label} subject")
            : null;
        var data = fields.TryGetValue("data", out var dataNode) ? Data(dataNode, compiler, label + " data") : null;

        if (type is null || id is null)
        {
            return null;
        }

        return new EventRule($"{_ruleIdPrefix}#{id}", type, kind, target, aggregate, when, subject, data, Where(map));
    }

    private DataTemplate? Data(YamlNode node, RuleExpressionCompiler compiler, string path)
    {
        if (node is not YamlMappingNode map)
        {
            Error(node.Start, $"{path}: must be a mapping of field name → expression");
            return null;
        }

        if (map.Style == YamlDotNet.Core.Events.MappingStyle.Flow && CutAtComma(map) is { } cut)
        {
            // YAML ends a flow mapping's value at a comma: `{ d: date(x, "yyyyMMdd") }` is d: `date(x` and a key `"yyyyMMdd"`
            // with the value `)`. Compiled piece by piece that says "')' expected" and names keys nobody wrote.
            Error(map.Start, $"{path}: a flow mapping {{ … }} ends each value at a comma, so `{cut}` was cut at the comma of its call; "
                + "write the fields as a block mapping, one 'name: expression' per line below the key (or quote each expression: name: 'f(a, b)')");
            return null;
        }

        var names = new List<string>();
        var fields = new List<object>();
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? "";
            object? field = valueNode switch
            {
                YamlMappingNode => Data(valueNode, compiler, $"{path}.{name}"),
                YamlScalarNode scalar => compiler.CompileValue(scalar.Value ?? "", Where(scalar), $"{path}.{name}"),
                _ => null,
            };
            if (valueNode is YamlSequenceNode)
            {
                Error(valueNode.Start, $"{path}.{name}: a list is not an expression; write one expression (or a nested mapping)");
            }

            if (field is not null)
            {
                names.Add(name);
                fields.Add(field);
            }
        }

        return new DataTemplate(names, fields.ToArray());
    }

    /// <summary>The first plain value of a flow mapping whose parentheses do not close (YAML cut it at a comma), or null.</summary>
    private static string? CutAtComma(YamlMappingNode map)
    {
        foreach (var (keyNode, valueNode) in map.Children)
        {
            if (valueNode is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } text } && Depth(text) > 0)
            {
                return text;
            }

            if (keyNode is YamlScalarNode { Value: { } key } && (Depth(key) != 0 || (valueNode is YamlScalarNode { Value: { } v } && Depth(v) < 0)))
            {
                return key;
            }
        }

        return null;

        // '(' minus ')' outside double-quoted text
        static int Depth(string text)
        {
            var depth = 0;
            var quoted = false;
            foreach (var c in text)
            {
                switch (c)
                {
                    case '"': quoted = !quoted; break;
                    case '(' when !quoted: depth++; break;
                    case ')' when !quoted: depth--; break;
                }
            }

            return depth;
        }
    }

    private List<string> KeyColumns(YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode { Value: { Length: > 0 } column }:
                return [column];
            case YamlSequenceNode sequence when sequence.Children.Count > 0:
                var columns = new List<string>();
                foreach (var item in sequence.Children)
                {
                    if (Scalar(item, "key") is { Length: > 0 } c)
                    {
                        columns.Add(c);
                    }
                }

                return columns;
            default:
                Error(node.Start, "key: is a column name or a list of column names ([ord_no, ln_no])");
                return [];
        }
    }

    private Dictionary<string, LookupTable> Lookups(YamlNode node)
    {
        var lookups = new Dictionary<string, LookupTable>(StringComparer.Ordinal);
        if (node is not YamlMappingNode map)
        {
            Error(node.Start, "lookups: is a mapping of name → { code: value, … }");
            return lookups;
        }

        foreach (var (nameNode, tableNode) in map.Children)
        {
            var name = ((YamlScalarNode)nameNode).Value ?? "";
            if (tableNode is not YamlMappingNode codes)
            {
                Error(tableNode.Start, $"lookups.{name}: is a mapping of code → value ({{ P: PLACED, S: SHIPPED }})");
                continue;
            }

            var entries = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (codeNode, valueNode) in codes.Children)
            {
                if (Scalar(codeNode, $"lookups.{name} code") is not { } code || Scalar(valueNode, $"lookups.{name}.{code}") is not { } value)
                {
                    continue;
                }

                if (IsYamlNull(valueNode))
                {
                    // `C:` or `C: ~` is YAML for no value; taken as text it would map the code to "" or "~".
                    Error(valueNode.Start, $"lookups.{name}.{code}: has no value (a code maps to text; write '' for empty text)");
                    continue;
                }

                // A code is matched without its trailing blanks (CHAR(n) padding), as == compares text.
                var trimmed = code.TrimEnd(' ');
                if (!entries.TryAdd(trimmed, value))
                {
                    Error(codeNode.Start, $"lookups.{name}: code '{code}' is code '{trimmed}' again (trailing blanks are ignored, as in CHAR(n)); keep one of them");
                }
            }

            lookups[name] = new LookupTable(name, entries);
        }

        return lookups;
    }

    private Dictionary<string, YamlNode> Fields(YamlMappingNode map, string[] allowed, string what)
    {
        var fields = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (Array.IndexOf(allowed, key) < 0)
            {
                Error(keyNode.Start, $"unknown key '{key}' in {what} (allowed: {string.Join(", ", allowed)})");
                continue;
            }

            fields[key] = valueNode;
        }

        return fields;
    }

    /// <summary>A plain scalar YAML reads as null: empty, <c>~</c> or <c>null</c>.</summary>
    private static bool IsYamlNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    private string? Scalar(YamlNode node, string what)
    {
        if (node is YamlScalarNode scalar)
        {
            return scalar.Value ?? "";
        }

        Error(node.Start, $"{what}: expects a single value, not a {(node is YamlSequenceNode ? "list" : "mapping")}");
        return null;
    }

    /// <summary>Where an expression's first character is: a quoted scalar starts one column after its mark.</summary>
    private RuleLocation Where(YamlNode node)
    {
        var quoted = node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted };
        return new RuleLocation(_file, node.Start.Line, node.Start.Column + (quoted ? 1 : 0));
    }

    private void Error(Mark mark, string reason) => _errors.Add(new RuleError(_file, mark.Line, mark.Column, reason));

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
