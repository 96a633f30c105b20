using System.Dynamic;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using DynamicExpresso;
using DynamicExpresso.Exceptions;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Compiles the expressions of one rule file with DynamicExpresso (C# expression syntax) into delegates,
/// once, at load. The parsed tree is then checked and bound: char literals are refused (<c>'S'</c> is a
/// char in C#, and comparing a column with a char fails only at run time), wall-clock and hash functions
/// are refused (translation must be deterministic), <c>lookup("name", …)</c> is bound to the named table
/// (so an unknown name fails at load), and <c>changed(…)</c> to the change being translated.
/// </summary>
internal sealed class RuleExpressionCompiler
{
    private static readonly Delegate LookupPlaceholder = (Func<string, object?, object?>)RuleFunctions.LookupPlaceholder;
    private static readonly Delegate LookupWithDefaultPlaceholder = (Func<string, object?, object?, object?>)RuleFunctions.LookupWithDefaultPlaceholder;
    private static readonly Delegate ChangedPlaceholder = (Func<string, bool>)RuleFunctions.ChangedPlaceholder;

    private static readonly (string Name, string ScopeProperty, Type Type)[] Variables =
    [
        ("op", nameof(EvalScope.Op), typeof(string)),
        ("before", nameof(EvalScope.Before), typeof(RowAccessor)),
        ("after", nameof(EvalScope.After), typeof(RowAccessor)),
        ("key", nameof(EvalScope.Key), typeof(RowAccessor)),
        ("row", nameof(EvalScope.Row), typeof(RowAccessor)),
        ("source", nameof(EvalScope.Source), typeof(SourceView)),
        ("keyChanged", nameof(EvalScope.KeyChanged), typeof(bool)),
        ("oldKey", nameof(EvalScope.OldKey), typeof(RowAccessor)),
        ("newKey", nameof(EvalScope.NewKey), typeof(RowAccessor)),
    ];

    private static readonly MethodInfo MapMethod = typeof(LookupTable).GetMethod(nameof(LookupTable.Map), [typeof(object)])!;
    private static readonly MethodInfo MapWithDefaultMethod = typeof(LookupTable).GetMethod(nameof(LookupTable.Map), [typeof(object), typeof(object)])!;
    private static readonly MethodInfo ChangedMethod = typeof(EvalScope).GetMethod(nameof(EvalScope.Changed))!;
    private static readonly MethodInfo AsConditionMethod = typeof(RuleExpressionCompiler).GetMethod(nameof(AsCondition), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo TruthMethod = typeof(RuleExpressionCompiler).GetMethod(nameof(Truth), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo NotMethod = typeof(RuleExpressionCompiler).GetMethod(nameof(Not), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo StringEqualMethod = typeof(RuleExpressionCompiler).GetMethod(nameof(StringEqual), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo TextEqualMethod = typeof(RuleExpressionCompiler).GetMethod(nameof(TextEqual), BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly Interpreter _interpreter;
    private readonly IReadOnlyDictionary<string, LookupTable> _lookups;
    private readonly List<RuleError> _errors;

    public RuleExpressionCompiler(IReadOnlyDictionary<string, LookupTable> lookups, List<RuleError> errors)
    {
        _lookups = lookups;
        _errors = errors;

        // Primitive types and true/false/null only: no Math, Convert, Environment. Number literals are
        // decimal, so `after.ord_amt > 100.5` compares a NUMERIC exactly instead of failing on double.
        // LateBindObject: the functions return object, and without late binding `trim(x) == "S"` would be
        // C#'s reference equality on object — false for equal text. Late bound, it compares the values.
        _interpreter = new Interpreter(InterpreterOptions.PrimitiveTypes | InterpreterOptions.SystemKeywords | InterpreterOptions.LateBindObject);
        _interpreter.SetDefaultNumberType(DefaultNumberType.Decimal);
        _interpreter.EnableAssignment(AssignmentOperators.None);
        _interpreter.SetFunction("date", (Func<object?, string, object?>)RuleFunctions.Date);
        _interpreter.SetFunction("timestamp", (Func<object?, string, object?>)RuleFunctions.Timestamp);
        _interpreter.SetFunction("trim", (Func<object?, object?>)RuleFunctions.Trim);
        _interpreter.SetFunction("isBlank", (Func<object?, bool>)RuleFunctions.IsBlank);
        _interpreter.SetFunction("coalesce", (Func<object?, object?, object?>)RuleFunctions.Coalesce);
        _interpreter.SetFunction("coalesce", (Func<object?, object?, object?, object?>)RuleFunctions.Coalesce);
        _interpreter.SetFunction("coalesce", (Func<object?, object?, object?, object?, object?>)RuleFunctions.Coalesce);
        _interpreter.SetFunction("number", (Func<object?, object?>)RuleFunctions.Number);
        _interpreter.SetFunction("integer", (Func<object?, object?>)RuleFunctions.Integer);
        _interpreter.SetFunction("text", (Func<object?, string?>)RuleFunctions.Text);
        _interpreter.SetFunction("lookup", LookupPlaceholder);
        _interpreter.SetFunction("lookup", LookupWithDefaultPlaceholder);
        _interpreter.SetFunction("changed", ChangedPlaceholder);
    }

    private static Parameter[] CreateParameters() =>
        Variables.Select(v => new Parameter(v.Name, v.Type)).ToArray();

    /// <summary>Compiles a value expression (data fields, subjects); null (with an error recorded) when it is invalid.</summary>
    public CompiledExpression? CompileValue(string text, RuleLocation location, string what)
    {
        var bound = Parse(text, location, what);
        if (bound is null)
        {
            return null;
        }

        var body = bound.Body;

        // Integer literals are parsed as decimal (see above); a bare `1` in data should still be the number 1.
        // A literal written with a fraction (`1.00`) is a decimal with that scale, even when it is whole.
        if (body is ConstantExpression { Value: decimal d } && d.Scale == 0 && d >= long.MinValue && d <= long.MaxValue)
        {
            body = Expression.Constant((long)d);
        }

        var value = Lambda<Func<EvalScope, object?>>(body, bound, typeof(object));
        return Checked(new CompiledExpression(text, what, location, value, null)
        {
            OldColumns = bound.OldColumns, RowColumns = bound.RowColumns, ChangedColumns = bound.ChangedColumns, Columns = bound.Columns, Parsed = bound.Parsed,
        });
    }

    /// <summary>Compiles a condition (<c>when</c>): it must be true or false.</summary>
    public CompiledExpression? CompileCondition(string text, RuleLocation location, string what)
    {
        var bound = Parse(text, location, what);
        if (bound is null)
        {
            return null;
        }

        var expression = bound.Body;
        if (expression.Type != typeof(bool))
        {
            if (expression.Type != typeof(object))
            {
                Error(location, 0, $"{what} must be true or false, but `{text}` is a {expression.Type.Name}");
                return null;
            }

            // A dynamic comparison (a column against a literal) is typed object until it runs.
            expression = Expression.Call(AsConditionMethod, expression);
        }

        var condition = Lambda<Func<EvalScope, bool>>(expression, bound, typeof(bool));
        return Checked(new CompiledExpression(text, what, location, null, condition)
        {
            OldColumns = bound.OldColumns, RowColumns = bound.RowColumns, ChangedColumns = bound.ChangedColumns, Columns = bound.Columns, Parsed = bound.Parsed,
        });
    }

    /// <summary>
    /// <paramref name="expression"/>, or null (with an error for each) when it fails on every change whatever the columns hold:
    /// a condition that is never true or false (<c>when: number(after.qty)</c>), text compared with a number
    /// (<c>lookup("status", x) == 5</c>). What depends on the columns' types is checked against the table at start.
    /// </summary>
    private CompiledExpression? Checked(CompiledExpression expression)
    {
        var problems = RuleTypeCheck.Check(expression, columns: null);
        foreach (var problem in problems)
        {
            Error(expression.Location, problem.Position, $"{expression.What}: {problem.Problem}; {problem.Fix}");
        }

        return problems.Count == 0 ? expression : null;
    }

    // A null condition is SQL's unknown: like WHERE, the rule does not fire.
    private static bool AsCondition(object? value) => Truth(value) ?? false;

    private static bool? Truth(object? value) => value switch
    {
        null => null,
        bool b => b,
        _ => throw new ExpressionFailure($"the condition gave {RuleValues.ToText(value)}, not true or false"),
    };

    private static object? Not(object? value) => Truth(value) is { } b ? !b : null;

    /// <summary>
    /// <c>==</c> on two texts as PostgreSQL compares bpchar (<see cref="RuleValues.SameText"/>: trailing blanks are
    /// insignificant). Null for other operands, which the dynamic binder compares as before.
    /// </summary>
    private static object? TextEqual(object? left, object? right, bool equal) =>
        left is string l && right is string r
            ? RuleValues.SameText(l, r) == equal
            : null;

    /// <summary><c>==</c>/<c>!=</c> between two expressions typed text (<c>text(x) == "S"</c>): the same blank-insensitive
    /// comparison as <see cref="TextEqual"/>; a null equals only null.</summary>
    private static bool StringEqual(string? left, string? right, bool equal) =>
        left is null || right is null
            ? (left is null && right is null) == equal
            : RuleValues.SameText(left, right) == equal;

    private static TDelegate Lambda<TDelegate>(Expression body, Bound bound, Type resultType)
    {
        var statements = new List<Expression>();
        foreach (var p in bound.Used)
        {
            var variable = Variables.First(v => v.Name == p.Name);
            statements.Add(Expression.Assign(p, Expression.Property(bound.ScopeParameter, variable.ScopeProperty)));
        }

        statements.Add(body.Type == resultType ? body : Expression.Convert(body, resultType));
        var block = Expression.Block(resultType, bound.Used, statements);
        return Expression.Lambda<TDelegate>(block, bound.ScopeParameter).Compile();
    }

    private Bound? Parse(string text, RuleLocation location, string what)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            Error(location, 0, $"{what} is empty");
            return null;
        }

        Lambda lambda;
        try
        {
            lambda = _interpreter.Parse(text, CreateParameters());
        }
        catch (ParseException e)
        {
            Error(location, e.Position, $"{what}: cannot parse `{text}`: {e.Message}{Hint(text, e)}");
            return null;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or InvalidCastException)
        {
            Error(location, 0, $"{what}: cannot parse `{text}`: {e.Message}");
            return null;
        }

        var scope = Expression.Parameter(typeof(EvalScope), "scope");
        var binder = new Binder(this, text, location, what, scope);
        var body = binder.Visit(lambda.Expression);
        if (binder.Failed)
        {
            return null;
        }

        var used = lambda.UsedParameters.Select(p => p.Expression).ToArray();
        var rowRead = used.Any(p => p.Name is "before" or "after" or "row");
        var oldColumns = rowRead ? Columns(text, OldRowRead.Read()) : [];
        var rowColumns = rowRead ? Columns(text, OldRowRead.RowImageRead()) : [];
        var columns = rowRead || binder.ChangedColumns.Count > 0 ? Columns(text, OldRowRead.RowRead()).Union(binder.ChangedColumns).Order(StringComparer.Ordinal).ToArray() : [];
        return new Bound(body, scope, used, oldColumns, rowColumns, [.. binder.ChangedColumns], columns, lambda.Expression);
    }

    /// <summary>
    /// The columns <paramref name="read"/> finds (<c>before.col</c> and <c>before["col"]</c>, say), found in the text of an expression that parsed and uses
    /// <c>before</c> (DynamicExpresso keeps a late-bound member's name only inside its own internal binder). Text literals are
    /// blanked first, but for the column name of <c>before["col"]</c>, so <c>"before.x"</c> as text is no read.
    /// </summary>
    private static string[] Columns(string text, Regex read)
    {
        var code = OldRowRead.StringLiteral().Replace(text, m => OldRowRead.RowIndexer().IsMatch(text.AsSpan(0, m.Index)) ? m.Value : "\"\"");
        return read.Matches(code)
            .Select(m => m.Groups["member"].Success ? m.Groups["member"].Value : m.Groups["index"].Value)
            .Where(c => c.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    private static string Hint(string text, ParseException e) =>
        text.Contains('\'', StringComparison.Ordinal)
            ? " (strings take double quotes: \"S\")"
            : e is UnknownIdentifierException
                ? " (variables: op, before, after, key, row, source, keyChanged, oldKey, newKey; functions: lookup, date, timestamp, trim, isBlank, changed, coalesce, number, integer, text)"
                : e.Message.StartsWith("Argument list incompatible", StringComparison.Ordinal) && FunctionAt(text, e.Position) is { } usage
                    ? $" ({usage})"
                    : "";

    /// <summary>What the function called at <paramref name="position"/> takes: DynamicExpresso names neither it nor its arguments.</summary>
    private static string? FunctionAt(string text, int position)
    {
        if (position < 0 || position >= text.Length)
        {
            return null;
        }

        var end = position;
        while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_'))
        {
            end++;
        }

        var usage = text[position..end] switch
        {
            "lookup" => "lookup(\"name\", code) or lookup(\"name\", code, default)",
            "date" => "date(x, \"yyyyMMdd\")",
            "timestamp" => "timestamp(x, \"yyyyMMddHHmmss\")",
            "trim" => "trim(x)",
            "isBlank" => "isBlank(x)",
            "changed" => "changed(\"column\")",
            "coalesce" => "coalesce(a, b[, c[, d]])",
            "number" => "number(x)",
            "integer" => "integer(x)",
            "text" => "text(x)",
            _ => null,
        };
        return usage is null ? null : $"{text[position..end]}() takes {usage}";
    }

    private void Error(RuleLocation location, int position, string reason)
    {
        _errors.Add(new RuleError(location.File, location.Line, location.Column + Math.Max(0, position), reason));
    }

    private sealed record Bound(Expression Body, ParameterExpression ScopeParameter, ParameterExpression[] Used, string[] OldColumns, string[] RowColumns,
        string[] ChangedColumns, string[] Columns, Expression Parsed);

    /// <summary>Checks the parsed tree and binds the placeholders to their load-time or run-time targets.</summary>
    private sealed class Binder(RuleExpressionCompiler owner, string text, RuleLocation location, string what, ParameterExpression scope)
        : ExpressionVisitor
    {
        public bool Failed { get; private set; }

        /// <summary>The columns of <c>changed("col")</c> (see <see cref="CompiledExpression.ChangedColumns"/>).</summary>
        public SortedSet<string> ChangedColumns { get; } = new(StringComparer.Ordinal);

        private void Fail(int position, string reason)
        {
            Failed = true;
            owner.Error(location, position, $"{what}: {reason} in `{text}`");
        }

        protected override Expression VisitConstant(ConstantExpression node)
        {
            if (node.Type == typeof(char))
            {
                var at = text.IndexOf('\'', StringComparison.Ordinal);
                Fail(at, $"'{node.Value}' is a char literal; use double quotes (\"{node.Value}\") for text");
            }

            return node;
        }

        protected override Expression VisitMember(MemberExpression node)
        {
            if (node.Expression is null && node.Member.DeclaringType is { } t
                && (t == typeof(DateTime) || t == typeof(DateTimeOffset))
                && node.Member.Name is "Now" or "UtcNow" or "Today")
            {
                Fail(text.IndexOf(node.Member.Name, StringComparison.Ordinal), $"{t.Name}.{node.Member.Name} reads the clock; translation must be deterministic (use source.commitTime)");
                return node;
            }

            return base.VisitMember(node);
        }

        protected override Expression VisitMethodCall(MethodCallExpression node)
        {
            if (node.Method.Name is "GetHashCode" or "GetType" || (node.Method.DeclaringType == typeof(Guid) && node.Method.Name == "NewGuid"))
            {
                Fail(text.IndexOf(node.Method.Name, StringComparison.Ordinal), $"{node.Method.Name}() is not deterministic across runs");
                return node;
            }

            return base.VisitMethodCall(node);
        }

        protected override Expression VisitInvocation(InvocationExpression node)
        {
            if (node.Expression is MemberExpression { Expression: ConstantExpression { Value: CallSite site } })
            {
                return VisitCallSite(node, site);
            }

            if (node.Expression is not ConstantExpression { Value: Delegate target })
            {
                return base.VisitInvocation(node);
            }

            if (target == ChangedPlaceholder)
            {
                if (node.Arguments[0] is ConstantExpression { Value: string column })
                {
                    ChangedColumns.Add(column);
                }
                else
                {
                    // as lookup()'s name: only a literal can be checked against the table at start (events 1115, 1116)
                    Fail(text.IndexOf("changed", StringComparison.Ordinal), "changed() takes the column's name as a literal in double quotes: changed(\"qty\")");
                    return node;
                }

                return Expression.Call(scope, ChangedMethod, Visit(node.Arguments[0]));
            }

            if (target == LookupPlaceholder || target == LookupWithDefaultPlaceholder)
            {
                if (node.Arguments[0] is not ConstantExpression { Value: string name })
                {
                    Fail(text.IndexOf("lookup", StringComparison.Ordinal), "lookup() takes the lookup's name as a literal in double quotes: lookup(\"status\", after.col)");
                    return node;
                }

                if (!owner._lookups.TryGetValue(name, out var table))
                {
                    var known = owner._lookups.Count == 0 ? "this file defines no lookups" : "this file defines " + string.Join(", ", owner._lookups.Keys);
                    Fail(text.IndexOf(name, StringComparison.Ordinal) - 1, $"unknown lookup '{name}' ({known})");
                    return node;
                }

                var code = Expression.Convert(Visit(node.Arguments[1]), typeof(object));
                return target == LookupPlaceholder
                    ? Expression.Call(Expression.Constant(table), MapMethod, code)
                    : Expression.Call(Expression.Constant(table), MapWithDefaultMethod, code, Expression.Convert(Visit(node.Arguments[2]), typeof(object)));
            }

            return base.VisitInvocation(node);
        }

        /// <summary>The late-bound operators (DynamicExpresso invokes a C# call site): text equality and NOT get SQL's meaning.</summary>
        private Expression VisitCallSite(InvocationExpression node, CallSite site)
        {
            if (site.Binder is UnaryOperationBinder { Operation: ExpressionType.Not } && node.Arguments.Count == 2 && node.Arguments[1].Type == typeof(object))
            {
                return Expression.Call(NotMethod, Visit(node.Arguments[1]));
            }

            if (site.Binder is BinaryOperationBinder { Operation: ExpressionType.Equal or ExpressionType.NotEqual } binary && node.Arguments.Count == 3
                && node.Arguments[1].Type is var lt && (lt == typeof(object) || lt == typeof(string))
                && node.Arguments[2].Type is var rt && (rt == typeof(object) || rt == typeof(string)))
            {
                var left = Expression.Variable(lt, "left");
                var right = Expression.Variable(rt, "right");
                var dynamic = node.Update(node.Expression, [node.Arguments[0], left, right]);
                var text = Expression.Call(TextEqualMethod, Expression.Convert(left, typeof(object)), Expression.Convert(right, typeof(object)),
                    Expression.Constant(binary.Operation == ExpressionType.Equal));
                return Expression.Block(
                    node.Type,
                    [left, right],
                    Expression.Assign(left, Visit(node.Arguments[1])),
                    Expression.Assign(right, Visit(node.Arguments[2])),
                    Expression.Coalesce(text, Expression.Convert(dynamic, typeof(object))));
            }

            if (site.Binder is BinaryOperationBinder { Operation: ExpressionType.LessThan or ExpressionType.LessThanOrEqual
                    or ExpressionType.GreaterThan or ExpressionType.GreaterThanOrEqual } && node.Arguments.Count == 3
                && CanBeNull(node.Type) && (CanBeNull(node.Arguments[1].Type) || CanBeNull(node.Arguments[2].Type)))
            {
                // SQL: NULL < x is unknown (null), not false, so NOT (NULL < x) stays unknown. The C# binder would
                // pick the lifted operator and answer false, and `!` of that true.
                var left = Expression.Variable(node.Arguments[1].Type, "left");
                var right = Expression.Variable(node.Arguments[2].Type, "right");
                var dynamic = node.Update(node.Expression, [node.Arguments[0], left, right]);
                return Expression.Block(
                    node.Type,
                    [left, right],
                    Expression.Assign(left, Visit(node.Arguments[1])),
                    Expression.Assign(right, Visit(node.Arguments[2])),
                    Expression.Condition(
                        Expression.OrElse(IsNull(left), IsNull(right)),
                        Expression.Constant(null, node.Type),
                        dynamic));
            }

            return base.VisitInvocation(node);
        }

        private static bool CanBeNull(Type type) => !type.IsValueType || Nullable.GetUnderlyingType(type) is not null;

        private static Expression IsNull(ParameterExpression value) =>
            CanBeNull(value.Type) ? Expression.Equal(Expression.Convert(value, typeof(object)), Expression.Constant(null)) : Expression.Constant(false);

        private static bool IsOrdering(ExpressionType type) =>
            type is ExpressionType.LessThan or ExpressionType.LessThanOrEqual or ExpressionType.GreaterThan or ExpressionType.GreaterThanOrEqual;

        // AND, OR, NOT and a late-bound value used as a condition follow SQL's three-valued logic: a null boolean is
        // unknown, not an error. Within a chain of them unknown is kept (NOT unknown is unknown); where a plain bool is
        // needed at last (the whole condition, the test of ?:), unknown counts as false, as in WHERE and CASE WHEN.
        protected override Expression VisitBinary(BinaryExpression node)
        {
            if (node.NodeType is ExpressionType.AndAlso or ExpressionType.OrElse && node.Type == typeof(bool))
            {
                return Expression.Coalesce(Lift(node), Expression.Constant(false));
            }

            // Two statically typed texts (text(x), op, source.table) compile to string's own ==, which counts trailing
            // blanks; give them the same CHAR(n) meaning as a column compared with a literal.
            if (node.NodeType is ExpressionType.Equal or ExpressionType.NotEqual && node.Type == typeof(bool)
                && node.Left.Type == typeof(string) && node.Right.Type == typeof(string))
            {
                return Expression.Call(StringEqualMethod, Visit(node.Left), Visit(node.Right), Expression.Constant(node.NodeType == ExpressionType.Equal));
            }

            return base.VisitBinary(node);
        }

        protected override Expression VisitUnary(UnaryExpression node) =>
            (node.NodeType == ExpressionType.Not && node.Type == typeof(bool)) || IsTruthTest(node)
                ? Expression.Coalesce(Lift(node), Expression.Constant(false))
                : base.VisitUnary(node);

        private static bool IsTruthTest(UnaryExpression node) =>
            node.NodeType == ExpressionType.Convert && node.Type == typeof(bool) && node.Operand.Type == typeof(object);

        private Expression Lift(Expression node)
        {
            switch (node)
            {
                case UnaryExpression u when IsTruthTest(u):
                    return Expression.Call(TruthMethod, Visit(u.Operand));
                case UnaryExpression { NodeType: ExpressionType.Not } u when u.Type == typeof(bool):
                {
                    var operand = Expression.Variable(typeof(bool?), "operand");
                    return Expression.Block(
                        typeof(bool?),
                        [operand],
                        Expression.Assign(operand, Lift(u.Operand)),
                        Expression.Condition(Expression.Property(operand, "HasValue"),
                            Expression.Convert(Expression.Not(Expression.Property(operand, "Value")), typeof(bool?)),
                            Expression.Constant(null, typeof(bool?))));
                }

                case BinaryExpression { NodeType: ExpressionType.AndAlso or ExpressionType.OrElse } b when b.Type == typeof(bool):
                {
                    // Short-circuits like C#: the right side is not evaluated when the left one decides.
                    var decides = Expression.Constant(b.NodeType == ExpressionType.OrElse, typeof(bool?));
                    var left = Expression.Variable(typeof(bool?), "left");
                    var right = Expression.Variable(typeof(bool?), "right");
                    return Expression.Block(
                        typeof(bool?),
                        [left, right],
                        Expression.Assign(left, Lift(b.Left)),
                        Expression.Condition(
                            Expression.Equal(left, decides),
                            decides,
                            Expression.Block(
                                Expression.Assign(right, Lift(b.Right)),
                                Expression.Condition(
                                    Expression.OrElse(Expression.Equal(right, decides), Expression.OrElse(
                                        Expression.Not(Expression.Property(left, "HasValue")), Expression.Not(Expression.Property(right, "HasValue")))),
                                    Expression.Condition(Expression.Equal(right, decides), decides, Expression.Constant(null, typeof(bool?))),
                                    Expression.Convert(Expression.Not(Expression.Convert(decides, typeof(bool))), typeof(bool?))))));
                }

                case BinaryExpression b when IsOrdering(b.NodeType) && b.IsLifted && !b.IsLiftedToNull:
                    // A typed nullable operand (source.txId > 5): C#'s lifted operator says false for null; within a
                    // chain of AND/OR/NOT it is unknown, so that NOT of it stays unknown.
                    return Expression.MakeBinary(b.NodeType, Visit(b.Left), Visit(b.Right), liftToNull: true, b.Method);

                default:
                    return Expression.Convert(Visit(node), typeof(bool?));
            }
        }
    }
}
