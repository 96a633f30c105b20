using CdcPipeline.Core.Changes;
using Microsoft.CSharp.RuntimeBinder;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Translates row changes with a <see cref="RuleSet"/>: the change's table selects the rule files, each
/// event rule whose <c>when</c> holds produces one domain event, in file and rule order. Changes of
/// tables without rules, and records that are not row changes (heartbeats, transaction markers,
/// tombstones, messages), produce nothing. An expression that fails throws
/// <see cref="RuleEvaluationException"/>: the change is poison for these rules, never silently skipped.
/// Thread-safe.
/// </summary>
public sealed class RuleTranslator : IChangeTranslator
{
    // Keyed by (schema, table) rather than "schema.table" so routing a change allocates no string.
    private readonly Dictionary<(string Schema, string Table), Table[]> _tables;

    // The rule files by table name in any case: a change whose table only a rule file in another case names fails instead
    // of passing without events (see Translate).
    private readonly Dictionary<(string Schema, string Table), TableRules> _otherCase;

    public RuleTranslator(RuleSet rules, string pipelineName)
    {
        ArgumentException.ThrowIfNullOrEmpty(pipelineName);
        Rules = rules;
        PipelineName = pipelineName;
        _tables = rules.Tables.ToDictionary(
            t => Split(t.Key),
            t => t.Value.Select(r => new Table(r, EventSources.For(pipelineName, t.Key))).ToArray());
        _otherCase = new Dictionary<(string Schema, string Table), TableRules>(IgnoreCase.Instance);
        foreach (var (table, files) in rules.Tables)
        {
            _otherCase.TryAdd(Split(table), files[0]);
        }
    }

    public RuleSet Rules { get; }

    public string PipelineName { get; }

    /// <summary>Whether some rule file covers <paramref name="qualifiedTable"/> (<c>schema.table</c>).</summary>
    public bool Covers(string qualifiedTable) => _tables.ContainsKey(Split(qualifiedTable));

    private static (string, string) Split(string qualifiedTable)
    {
        var dot = qualifiedTable.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? ("public", qualifiedTable) : (qualifiedTable[..dot], qualifiedTable[(dot + 1)..]);
    }

    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        if (change.Kind != ChangeKind.Change)
        {
            return;
        }

        var name = (change.Source.Schema ?? "public", change.Source.Table ?? "");
        if (!_tables.TryGetValue(name, out var tables))
        {
            // Debezium matches its table list in any case, so 'PUBLIC.TB_ORD_MST' there captures public.tb_ord_mst; a
            // rule file saying the same would otherwise let every change of the table pass without its events.
            if (_otherCase.TryGetValue(name, out var other))
            {
                throw new RuleEvaluationException(
                    $"{other.File}: 'table: {other.Table}' does not name {name.Item1}.{name.Item2}, the table this change is from: a rule file names its "
                    + $"table exactly as PostgreSQL stores it (unquoted names in lower case). Write 'table: {name.Item1}.{name.Item2}' in {other.File}, then redrive this change.");
            }

            return;
        }

        var scope = EvalScope.Rent(change);
        ChangeEvent? header = null;
        try
        {
            foreach (var table in tables)
            {
                foreach (var rule in table.Rules.Events)
                {
                    if (rule.When is { } when && !Test(when, rule, scope))
                    {
                        continue;
                    }

                    output.Add(Build(table, rule, scope, header ??= change.Header(tables[0].HeaderSource(change.Source))));
                }
            }
        }
        finally
        {
            EvalScope.Return(scope);
        }
    }

    private static bool Test(CompiledExpression when, EventRule rule, EvalScope scope)
    {
        try
        {
            return when.Test(scope);
        }
        catch (Exception e) when (e is not RuleEvaluationException)
        {
            throw Failure(rule, when, "when", scope.Change, e);
        }
    }

    private static DomainEvent Build(Table table, EventRule rule, EvalScope scope, ChangeEvent header)
    {
        var change = scope.Change;
        var subject = Subject(table.Rules, rule, scope);
        object? data = null;
        if (rule.Data is { } template)
        {
            CompiledExpression? failed = null;
            try
            {
                data = template.Evaluate(scope, ref failed);
            }
            catch (Exception e) when (e is not RuleEvaluationException)
            {
                throw Failure(rule, failed, "data", change, e);
            }
        }

        return new DomainEvent
        {
            Id = EventIds.For(change, rule.Id),
            Type = rule.Type,
            Source = table.Source,
            Subject = subject,
            AggregateType = rule.Aggregate,
            Time = EventSources.Time(change),
            Kind = rule.Kind,
            Target = rule.Target,
            Data = data,
            RuleId = rule.Id,
            Position = change.Position,
            Change = header,
        };
    }

    private static string? Subject(TableRules table, EventRule rule, EvalScope scope)
    {
        var expression = rule.Subject ?? table.Subject;
        if (expression is not null)
        {
            try
            {
                return RuleValues.ToText(expression.Evaluate(scope));
            }
            catch (Exception e) when (e is not RuleEvaluationException)
            {
                throw Failure(rule, expression, "subject", scope.Change, e);
            }
        }

        var change = scope.Change;
        var columns = table.KeyColumns;
        if (columns.Count == 0)
        {
            return EventSources.Subject(change.Key ?? (change.After ?? change.Before));
        }

        if (change.After is null && change.Before is null && change.Key is null)
        {
            // A truncate (op "t") carries no row and no key: there is no row for key: to name, which is
            // not a mistake in key:. Such an event has no subject, like a change of a table without a key.
            return null;
        }

        var values = new object?[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            if (!TryKeyValue(change, columns[i], out values[i]))
            {
                throw new RuleEvaluationException(
                    $"{table.KeyLocation?.ToString() ?? table.File}: rule {rule.Id}, key column '{columns[i]}' is in neither the after, before nor key image of this "
                    + $"{change.Source.QualifiedTable} change at {change.Position}; fix key: in the rule file")
                {
                    RuleId = rule.Id,
                };
            }
        }

        return EventSources.Subject(values);
    }

    private static bool TryKeyValue(ChangeEvent change, string column, out object? value)
    {
        value = null;
        return (change.After?.TryGetValue(column, out value) ?? false)
            || (change.Before?.TryGetValue(column, out value) ?? false)
            || (change.Key?.TryGetValue(column, out value) ?? false);
    }

    private static RuleEvaluationException Failure(EventRule rule, CompiledExpression? expression, string part, ChangeEvent change, Exception e)
    {
        if (e is NullReferenceException && ThrownByExpression(e))
        {
            // after.ord_no.ToString() of a NULL column: the rule meeting the data (object's own methods bind early and throw
            // this), not a bug of ours, and said as the binder's "runtime binding on a null reference" is.
            e = new ExpressionFailure(NullMember, e);
        }
        else if (e is not (ExpressionFailure or RuleEvaluationException or RuntimeBinderException) && CalledByExpression(e, out var method))
        {
            // after.code.Contains(before.code) with a NULL old code, after.code.CompareTo(5): a .NET method the rule calls
            // refusing what it is given is the rule meeting the data, as a rule function's refusal is; one line, naming it.
            var name = method is not null ? $"{method.DeclaringType!.Name}.{method.Name}()" : MethodCalled(expression?.Text);
            e = new ExpressionFailure($"{name} threw {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", e);
        }

        var where = expression?.Location ?? rule.Location;
        var what = expression is null ? part : $"{expression.What} `{expression.Text}`";
        return new RuleEvaluationException(
            $"{where}: rule {rule.Id}, {what} failed on the {change.Source.QualifiedTable} change (op {change.Operation?.ToCode()}) at {change.Position}: {e.Message}{Hint(e.Message)}", e)
        {
            RuleId = rule.Id,
            Expression = expression?.Text,
        };
    }

    private const string NullMember = "a method or member of a null value (a column that is NULL in this change): test it first,"
        + " `after.col != null ? after.col.ToString() : null`, or use text(x), trim(x) or coalesce(x, …), which take null";

    private static readonly string[] BindingNamespaces =
        ["CdcPipeline", "DynamicExpresso", "Microsoft.CSharp", "System.Dynamic", "System.Linq.Expressions", "System.Runtime.CompilerServices"];

    /// <summary>
    /// Whether <paramref name="e"/> was thrown in a method outside this project that a compiled expression called (directly, or
    /// through a late-bound call site), and which (<paramref name="method"/>; null when the JIT inlined it into the expression
    /// and only a throw helper is left). False when <paramref name="e"/> came from the expression itself or passed through our
    /// own code (a rule function, a row accessor: a bug of ours, which keeps its stack trace).
    /// </summary>
    private static bool CalledByExpression(Exception e, out System.Reflection.MethodBase? method)
    {
        method = null;
        var outside = false;
        foreach (var frame in new System.Diagnostics.StackTrace(e, fNeedFileInfo: false).GetFrames())
        {
            if (frame.GetMethod() is not { DeclaringType: { } type } called)
            {
                // a dynamic method: the expression, or the rule a late-bound call site made of it
                return outside;
            }

            // ours (a rule function, a row accessor), or the binding machinery's (DynamicExpresso, the C# binder, call sites):
            // not a method the rule called
            if (type.Namespace is { } ns && BindingNamespaces.Any(n => ns.StartsWith(n, StringComparison.Ordinal)))
            {
                return false;
            }

            outside = true;
            if (!typeof(Exception).IsAssignableFrom(type) && !type.Name.Contains("ThrowHelper", StringComparison.Ordinal))
            {
                method = called;
            }
        }

        return false;
    }

    /// <summary>How a failure names the .NET method an expression called when the stack does not tell: the one the text calls, if one.</summary>
    private static string MethodCalled(string? text)
    {
        var code = text is null ? "" : OldRowRead.StringLiteral().Replace(text, "\"\"");
        var names = System.Text.RegularExpressions.Regex.Matches(code, @"\.\s*(\w+)\s*\(").Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal).ToList();
        return names.Count == 1 ? names[0] + "()" : "a .NET method it calls";
    }

    /// <summary>Whether <paramref name="e"/> was thrown by a compiled expression itself (its own frame, a dynamic method), not by code it called.</summary>
    private static bool ThrownByExpression(Exception e) =>
        new System.Diagnostics.StackTrace(e, fNeedFileInfo: false).GetFrame(0)?.GetMethod() is not { DeclaringType: not null };

    /// <summary>What to do about a dynamic binder's complaint that names the cause only by a type.</summary>
    private static string Hint(string message)
    {
        if (message.Contains("Cannot perform runtime binding on a null reference", StringComparison.Ordinal))
        {
            return $" ({NullMember})";
        }

        if (message.Contains("'double'", StringComparison.Ordinal) || message.Contains("'float'", StringComparison.Ordinal))
        {
            return " (number literals are exact decimals: compare a float column through number(x))";
        }

        if (message.Contains("cannot be applied to operands", StringComparison.Ordinal)
            && (message.Contains(typeof(Date).FullName!, StringComparison.Ordinal) || message.Contains(typeof(LocalTimestamp).FullName!, StringComparison.Ordinal)
                || message.Contains(typeof(UtcTimestamp).FullName!, StringComparison.Ordinal) || message.Contains(typeof(LocalTime).FullName!, StringComparison.Ordinal)
                || message.Contains(typeof(UtcTime).FullName!, StringComparison.Ordinal)))
        {
            return " (a date or time compares only with its own type: a date with a date column or date(…), a timestamp with a timestamp column or"
                + " timestamp(…), a timestamptz with a timestamptz column or source.commitTime; text(x) gives its text, 2024-03-01T08:15:30.000000Z)";
        }

        if (message.Contains(typeof(Unavailable).FullName!, StringComparison.Ordinal))
        {
            return " (the value is an unchanged TOASTed column, which PostgreSQL does not send with an update that left it alone:"
                + " test changed(\"column\") before using it, or read the old value from before with REPLICA IDENTITY FULL)";
        }

        return "";
    }

    private sealed record Table(TableRules Rules, string Source)
    {
        // The last change's source without its per-record fields, shared by its events' headers (see ChangeEvent.Header).
        // Read and replaced without a lock: a race only makes one more instance.
        private SourceInfo? _headerSource;

        public IReadOnlyList<string> KeyColumns => Rules.KeyColumns;

        public SourceInfo HeaderSource(SourceInfo source)
        {
            var last = _headerSource;
            var shared = source.WithoutRecordFields(last);
            if (!ReferenceEquals(shared, last))
            {
                _headerSource = shared;
            }

            return shared;
        }
    }

    private sealed class IgnoreCase : IEqualityComparer<(string Schema, string Table)>
    {
        public static readonly IgnoreCase Instance = new();

        public bool Equals((string Schema, string Table) x, (string Schema, string Table) y) =>
            string.Equals(x.Schema, y.Schema, StringComparison.OrdinalIgnoreCase) && string.Equals(x.Table, y.Table, StringComparison.OrdinalIgnoreCase);

        public int GetHashCode((string Schema, string Table) obj) =>
            HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(obj.Schema), StringComparer.OrdinalIgnoreCase.GetHashCode(obj.Table));
    }
}
