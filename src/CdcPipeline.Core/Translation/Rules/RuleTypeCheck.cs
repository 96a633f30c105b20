using System.Dynamic;
using System.Globalization;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Finds, in an expression as DynamicExpresso parsed it, what fails on every change it is evaluated on because of what its
/// values are: a condition (or an operand of <c>&amp;&amp;</c>, <c>||</c>, <c>!</c>, <c>?:</c>) that is never true or false, a
/// comparison C#'s binder refuses (text with a number, a float with a decimal, true/false with either, a date or a time with
/// anything but its own type) and a function given a value it never takes (<c>date()</c> of a timestamp). Rules compare late
/// bound, so both fail only when a change reaches them, and the change goes to the dead letters. Without the column types
/// (at load) only literals and function results are known, so only what fails for any input is found; with a table's column
/// types (the embedded capture's start, or a Kafka record's schema the first time one brings it: <see cref="Debezium.ConnectSchemaRuleCheck"/>)
/// the column reads are known too. Runs at load, at start and once per record schema only, never per change.
/// </summary>
internal static class RuleTypeCheck
{
    private static readonly string[] RowVariables = ["after", "before", "row", "key", "oldKey", "newKey"];

    /// <param name="expression">A compiled expression; a condition is also checked as a whole.</param>
    /// <param name="columns">The table's columns by name; null when they are not known (at load).</param>
    public static IReadOnlyList<RuleTypeProblem> Check(CompiledExpression expression, IReadOnlyDictionary<string, RuleColumnType>? columns)
    {
        var walker = new Walker(expression.Text, columns);
        var value = walker.Walk(expression.Parsed);
        if (expression.IsCondition && expression.Parsed.Type == typeof(object))
        {
            var whole = expression.Text.Contains(' ', StringComparison.Ordinal) ? $"({expression.Text})" : expression.Text;
            walker.TruthTest(value with { Source = $"`{expression.Text}`", Type = null, Token = null, Code = whole });
        }

        return walker.Problems;
    }

    /// <summary>
    /// What fails on every change in <paramref name="file"/>'s expressions given its table's <paramref name="columns"/>: for each
    /// problem what it is in (<c>rule orders#Placed</c>, or <c>subject:</c> once for a file's subject that some rule uses), where
    /// (its file:line:column) and the expression. Event 1117 says each, on either capture path.
    /// </summary>
    public static IEnumerable<(string What, string At, CompiledExpression Expression, RuleTypeProblem Problem)> Check(
        TableRules file, IReadOnlyDictionary<string, RuleColumnType> columns)
    {
        foreach (var rule in file.Events)
        {
            foreach (var e in rule.Expressions())
            {
                foreach (var problem in Check(e, columns))
                {
                    yield return ("rule " + rule.Id, At(e, problem), e, problem);
                }
            }
        }

        // the file's subject: once, not once per rule that uses it
        if (file.Subject is { } subject && file.Events.Any(r => r.Subject is null))
        {
            foreach (var problem in Check(subject, columns))
            {
                yield return ("subject:", At(subject, problem), subject, problem);
            }
        }

        static string At(CompiledExpression e, RuleTypeProblem problem) => (e.Location with { Column = e.Location.Column + problem.Position }).ToString();
    }

    /// <summary>A value of the expression: what it can be, how a message names it and where its text is.</summary>
    /// <param name="Source">How a message names it: <c>after.sts_cd</c>, <c>lookup()</c>, <c>5</c>.</param>
    /// <param name="Type">The column's type as the database names it.</param>
    /// <param name="Token">Its text in the expression (a column read, a function's name, a literal as written), to find it by.</param>
    /// <param name="Code">How a suggested fix writes it: <c>after.qty</c>, <c>lookup(…)</c>.</param>
    /// <param name="Literal">A literal's value as text (<c>5</c>, <c>10</c> of <c>"10"</c>).</param>
    private readonly record struct Value(ValueKinds Kinds, string Source, string? Type = null, string? Token = null, string? Code = null, string? Literal = null);

    private sealed class Walker(string text, IReadOnlyDictionary<string, RuleColumnType>? columns)
    {
        // The text with the contents of its string literals blanked (same length), so that a name is not found inside "…".
        private readonly string _code = OldRowRead.StringLiteral().Replace(text, m => "\"" + new string(' ', m.Length - 2) + "\"");

        public List<RuleTypeProblem> Problems { get; } = [];

        public Value Walk(Expression node)
        {
            switch (node)
            {
                case ConstantExpression c:
                    return Constant(c.Value, c.Type);
                case ParameterExpression p:
                    return new(Static(p.Type), p.Name ?? "", Token: p.Name, Code: p.Name);
                case InvocationExpression { Expression: MemberExpression { Expression: ConstantExpression { Value: CallSite site } } } call:
                    return CallSite(site, call.Arguments);
                case InvocationExpression { Expression: ConstantExpression { Value: Delegate function } } call:
                    return Function(function, call.Arguments.Select(Walk).ToArray());
                case UnaryExpression { NodeType: ExpressionType.Convert or ExpressionType.ConvertChecked } u:
                {
                    var operand = Walk(u.Operand);
                    if (u.Type == typeof(bool) && u.Operand.Type == typeof(object))
                    {
                        // a late-bound value where true or false is needed (&&, ||, the test of ?:)
                        TruthTest(operand);
                        return new(ValueKinds.Bool, operand.Source);
                    }

                    return u.Type == typeof(object) ? operand : operand with { Kinds = Static(u.Type) };
                }

                case ConditionalExpression c:
                {
                    Walk(c.Test);
                    var ifTrue = Walk(c.IfTrue);
                    var ifFalse = Walk(c.IfFalse);
                    return c.Type == typeof(object) ? new(ifTrue.Kinds | ifFalse.Kinds, "?:") : new(Static(c.Type), "?:");
                }

                default:
                    new Children(this).Visit(node);
                    return new(Static(node.Type), "");
            }
        }

        public void TruthTest(Value value)
        {
            if (value.Kinds == ValueKinds.None || (value.Kinds & ValueKinds.Bool) != 0)
            {
                return;
            }

            var code = value.Code ?? "…";
            var fix = (value.Kinds & ~ValueKinds.Text) == 0
                ? $"write a test that is true or false: {code} == \"Y\", or !isBlank({code})"
                : (value.Kinds & ~ValueKinds.Number) == 0
                    ? $"write a test that is true or false: {code} > 0, or {code} != null"
                    : $"write a test that is true or false: {code} != null";
            var named = value.Type is null ? value.Source : $"{value.Source} ({value.Type})";
            var within = value.Source == $"`{text}`" ? "" : $", in `{text}`";
            Problems.Add(new(Find(value.Token) ?? 0, $"{named} gives {Words(value.Kinds)}, never true or false{within}", fix));
        }

        private static Value Constant(object? value, Type type) => value switch
        {
            null => new(ValueKinds.None, "null"),
            string s => new(ValueKinds.Text, $"\"{s}\"", Token: $"\"{s}\"", Code: $"\"{s}\"", Literal: s),
            bool b => new(ValueKinds.Bool, b ? "true" : "false"),
            decimal or long or int => new(Static(type), RuleValues.ToText(value)!, Token: RuleValues.ToText(value), Code: RuleValues.ToText(value), Literal: RuleValues.ToText(value)),
            _ => new(Static(type), ""),
        };

        private Value CallSite(CallSite site, IReadOnlyList<Expression> arguments)
        {
            // arguments[0] is the call site itself
            switch (site.Binder)
            {
                case BinaryOperationBinder binary when arguments.Count == 3:
                {
                    var left = Walk(arguments[1]);
                    var right = Walk(arguments[2]);
                    return binary.Operation switch
                    {
                        ExpressionType.Equal or ExpressionType.NotEqual or ExpressionType.LessThan or ExpressionType.LessThanOrEqual
                            or ExpressionType.GreaterThan or ExpressionType.GreaterThanOrEqual => Compare(left, right),
                        // + of text is text (C# concatenates anything with a string); no arithmetic gives true or false
                        ExpressionType.Add => new(left.Kinds == ValueKinds.Text || right.Kinds == ValueKinds.Text ? ValueKinds.Text : ValueKinds.Any & ~ValueKinds.Bool, "+"),
                        ExpressionType.Subtract => new(ValueKinds.Number | ValueKinds.Time | ValueKinds.Other, "-"),
                        ExpressionType.Multiply or ExpressionType.Divide or ExpressionType.Modulo => new(ValueKinds.Number, binary.Operation.ToString()),
                        _ => new(ValueKinds.Any, ""),
                    };
                }

                case UnaryOperationBinder unary when arguments.Count == 2:
                {
                    var operand = Walk(arguments[1]);
                    switch (unary.Operation)
                    {
                        case ExpressionType.Not:
                            TruthTest(operand);
                            return new(ValueKinds.Bool, "!");
                        case ExpressionType.Negate or ExpressionType.UnaryPlus:
                            return new(ValueKinds.Number, "-");
                        default:
                            return new(ValueKinds.Any, "");
                    }
                }
            }

            var binder = site.Binder!.GetType().Name;
            if (binder == "LateGetMemberCallSiteBinder" && arguments.Count == 2 && arguments[1] is ParameterExpression { Name: { } image }
                && RowVariables.Contains(image) && MemberName(site.Binder) is { } member)
            {
                return Column(member, $"{image}.{member}");
            }

            if (binder == "LateGetIndexCallSiteBinder" && arguments.Count == 3 && arguments[1] is ParameterExpression { Name: { } indexed }
                && RowVariables.Contains(indexed) && arguments[2] is ConstantExpression { Value: string column })
            {
                return Column(column, $"{indexed}[\"{column}\"]");
            }

            foreach (var argument in arguments.Skip(1))
            {
                Walk(argument);
            }

            return new(ValueKinds.Any, "");
        }

        // DynamicExpresso keeps a late-bound member's name only in its own binder (LateGetMemberCallSiteBinder).
        private static string? MemberName(CallSiteBinder binder) =>
            binder.GetType().GetField("_propertyOrFieldName", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(binder) as string;

        private Value Column(string name, string read) =>
            columns is not null && columns.TryGetValue(name, out var type)
                ? new(type.Kinds, read, type.Name, read, read)
                : new(ValueKinds.Any, read, Token: read, Code: read);

        private Value Function(Delegate function, Value[] arguments)
        {
            if (function.Method.DeclaringType != typeof(RuleFunctions))
            {
                return new(ValueKinds.Any, "");
            }

            var (name, kinds) = function.Method.Name switch
            {
                nameof(RuleFunctions.Date) => ("date", ValueKinds.Date),
                nameof(RuleFunctions.Timestamp) => ("timestamp", ValueKinds.LocalTimestamp),
                nameof(RuleFunctions.Trim) => ("trim", arguments[0].Kinds),
                nameof(RuleFunctions.IsBlank) => ("isBlank", ValueKinds.Bool),
                nameof(RuleFunctions.Coalesce) => ("coalesce", arguments.Aggregate(ValueKinds.None, (k, a) => k | a.Kinds)),
                nameof(RuleFunctions.Number) => ("number", ValueKinds.Decimal),
                nameof(RuleFunctions.Integer) => ("integer", ValueKinds.Integer),
                nameof(RuleFunctions.Text) => ("text", ValueKinds.Text),
                nameof(RuleFunctions.LookupPlaceholder) => ("lookup", ValueKinds.Text),
                nameof(RuleFunctions.LookupWithDefaultPlaceholder) => ("lookup", ValueKinds.Text | arguments[2].Kinds),
                nameof(RuleFunctions.ChangedPlaceholder) => ("changed", ValueKinds.Bool),
                _ => ("", ValueKinds.Any),
            };
            if (Takes(name) is { } takes && arguments.Length > 0 && arguments[0].Kinds != ValueKinds.None && (arguments[0].Kinds & takes) == 0)
            {
                var argument = arguments[0];
                Problems.Add(new(
                    Find(argument.Token) ?? Find(name) ?? 0,
                    $"gives {name}() {Describe(argument)}, which it does not take (it takes {Words(takes)}), in `{text}`",
                    FunctionFix(name, argument)));
            }

            return new(kinds, name + "()", Token: name, Code: name + "(…)");
        }

        /// <summary>What a conversion function takes (<see cref="RuleFunctions"/>: anything else is an error); null for the others.</summary>
        private static ValueKinds? Takes(string function) => function switch
        {
            "date" => ValueKinds.Text | ValueKinds.Integer | ValueKinds.Decimal | ValueKinds.Date,
            "timestamp" => ValueKinds.Text | ValueKinds.Integer | ValueKinds.Decimal | ValueKinds.LocalTimestamp,
            "number" => ValueKinds.Text | ValueKinds.Number,
            "integer" => ValueKinds.Text | ValueKinds.Integer | ValueKinds.Decimal,
            _ => null,
        };

        private static string FunctionFix(string function, Value argument)
        {
            var code = argument.Code ?? "…";
            if (IsOnly(argument, ValueKinds.Float))
            {
                return $"write {function}(number({code})): number() makes the float an exact decimal";
            }

            if (IsOnly(argument, ValueKinds.Bool))
            {
                return $"test it instead: {code} == true";
            }

            return IsOnly(argument, ValueKinds.Date | ValueKinds.Time)
                ? $"{argument.Code ?? "the value"} is {Words(argument.Kinds)} already: compare it as it is with {Same(argument.Kinds)}, or use text({code}) for its text"
                : $"give {function}() text or a number";
        }

        /// <summary>How to write a value a date or time compares with, for a fix.</summary>
        private static string Same(ValueKinds kinds) => kinds switch
        {
            ValueKinds.Date => "another date (a date column, date(\"20240301\", \"yyyyMMdd\"))",
            ValueKinds.LocalTimestamp => "another timestamp (a timestamp column, timestamp(\"20240301081530\", \"yyyyMMddHHmmss\"))",
            ValueKinds.UtcTimestamp => "another timestamp with time zone (a timestamptz column, source.commitTime)",
            _ => $"another {Words(kinds)} (a column of its type)",
        };

        private Value Compare(Value left, Value right)
        {
            if (Refused(left.Kinds, right.Kinds))
            {
                var at = Find(left.Token) ?? Find(right.Token) ?? 0;
                Problems.Add(new(at, $"compares {Describe(left)} with {Describe(right)} in `{text}`", Fix(left, right)));
            }

            return new(ValueKinds.Bool, "");
        }

        private string Fix(Value left, Value right)
        {
            if (IsOnly(left, ValueKinds.Bool) || IsOnly(right, ValueKinds.Bool))
            {
                return "compare with true or false (`x == true`), or test the value alone";
            }

            if (IsOnly(left, ValueKinds.Date | ValueKinds.Time) || IsOnly(right, ValueKinds.Date | ValueKinds.Time))
            {
                var time = IsOnly(left, ValueKinds.Date | ValueKinds.Time) ? left : right;
                var code = time.Code ?? "…";
                return (time.Kinds & (time.Kinds - 1)) == 0
                    ? $"{Words(time.Kinds)} compares only with {Same(time.Kinds)}; text({code}) gives its text to compare with text (== \"{Example(time.Kinds)}\")"
                    : $"a date or time compares only with a value of its own type; text({code}) gives its text";
            }

            if (IsOnly(left, ValueKinds.Float) || IsOnly(right, ValueKinds.Float))
            {
                var single = IsOnly(left, ValueKinds.Float) ? left : right;
                return single.Literal is null && Rewrite(single, $"number({single.Token})") is { } floats
                    ? $"write `{floats}` (number() makes the float an exact decimal)"
                    : "compare through number(…), which makes the float an exact decimal";
            }

            var number = IsOnly(left, ValueKinds.Number) ? left : right;
            var texts = IsOnly(left, ValueKinds.Number) ? right : left;
            if (number.Literal is { } digits && Rewrite(number, $"\"{digits}\"") is { } asText)
            {
                return $"write `{asText}` to compare text, or convert the text with number(…) to compare numbers";
            }

            if (texts.Literal is { } written && decimal.TryParse(written.Trim(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out _)
                && Rewrite(texts, written.Trim()) is { } asNumber)
            {
                return $"write `{asNumber}` to compare numbers (or text(…) of the number to compare text)";
            }

            return "convert one side: number(…) compares numbers, text(…) compares text";
        }

        private static bool IsOnly(Value value, ValueKinds kinds) => value.Kinds != ValueKinds.None && (value.Kinds & ~kinds) == 0;

        /// <summary>The whole expression with <paramref name="value"/>'s text replaced; null when its text is not found.</summary>
        private string? Rewrite(Value value, string replacement) =>
            Find(value.Token) is { } at ? string.Concat(text.AsSpan(0, at), replacement, text.AsSpan(at + value.Token!.Length)) : null;

        private int? Find(string? token)
        {
            if (string.IsNullOrEmpty(token))
            {
                return null;
            }

            if (token.Contains('"', StringComparison.Ordinal))
            {
                var quoted = text.IndexOf(token, StringComparison.Ordinal);
                return quoted < 0 ? null : quoted;
            }

            var match = Regex.Match(_code, $@"(?<![\w.]){Regex.Escape(token)}(?![\w])");
            return match.Success ? match.Index : null;
        }

        private static string Describe(Value value) =>
            string.IsNullOrEmpty(value.Source)
                ? Words(value.Kinds)
                : $"{Words(value.Kinds)} ({value.Source}{(value.Type is null ? "" : ", " + value.Type)})";

        private sealed class Children(Walker walker) : ExpressionVisitor
        {
            private bool _entered;

            public override Expression? Visit(Expression? node)
            {
                if (node is null)
                {
                    return null;
                }

                if (!_entered)
                {
                    _entered = true;
                    return base.Visit(node);
                }

                walker.Walk(node);
                return node;
            }
        }
    }

    /// <summary>Whether C#'s binder refuses to compare every kind of one side with every kind of the other.</summary>
    private static bool Refused(ValueKinds left, ValueKinds right)
    {
        if (left == ValueKinds.None || right == ValueKinds.None)
        {
            return false;
        }

        foreach (var l in Each(left))
        {
            foreach (var r in Each(right))
            {
                if (!RefusedPair(l, r) && !RefusedPair(r, l))
                {
                    return false;
                }
            }
        }

        return true;

        // A date or a time has comparison operators with its own type only: not with text, a number, true/false or another
        // of them (a timestamp with a timestamptz, a date with a timestamp).
        static bool RefusedPair(ValueKinds a, ValueKinds b) =>
            (a == ValueKinds.Text && (b & ValueKinds.Number) != 0)
            || (a == ValueKinds.Float && b == ValueKinds.Decimal)
            || (a == ValueKinds.Bool && (b == ValueKinds.Text || (b & ValueKinds.Number) != 0))
            || ((a & (ValueKinds.Date | ValueKinds.Time)) != 0 && b != a && b != ValueKinds.Other);
    }

    /// <summary>A value's canonical text (<c>text()</c>), for a fix.</summary>
    private static string Example(ValueKinds kinds) => kinds switch
    {
        ValueKinds.Date => "2024-03-01",
        ValueKinds.LocalTimestamp => "2024-03-01T08:15:30.000000",
        ValueKinds.UtcTimestamp => "2024-03-01T08:15:30.000000Z",
        ValueKinds.LocalTime => "08:15:30.000000",
        _ => "08:15:30.000000Z",
    };

    private static IEnumerable<ValueKinds> Each(ValueKinds kinds) =>
        Enum.GetValues<ValueKinds>().Where(k => k != ValueKinds.None && (k & (k - 1)) == 0 && (kinds & k) != 0);

    private static string Words(ValueKinds kinds)
    {
        var words = Each(kinds).Select(k => k switch
        {
            ValueKinds.Bool => "true or false",
            ValueKinds.Text => "text",
            ValueKinds.Integer or ValueKinds.Decimal or ValueKinds.Float => "a number",
            ValueKinds.Date => "a date",
            ValueKinds.LocalTimestamp => "a timestamp",
            ValueKinds.UtcTimestamp => "a timestamp with time zone",
            ValueKinds.LocalTime => "a time",
            ValueKinds.UtcTime => "a time with time zone",
            _ => "another value",
        }).Distinct().ToList();
        return words.Count == 0 ? "null" : string.Join(" or ", words);
    }

    private static ValueKinds Static(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type switch
        {
            _ when type == typeof(object) => ValueKinds.Any,
            _ when type == typeof(string) || type == typeof(char) => ValueKinds.Text,
            _ when type == typeof(bool) => ValueKinds.Bool,
            _ when type == typeof(long) || type == typeof(int) || type == typeof(short) => ValueKinds.Integer,
            _ when type == typeof(decimal) => ValueKinds.Decimal,
            _ when type == typeof(double) || type == typeof(float) => ValueKinds.Float,
            _ when type == typeof(Changes.Date) => ValueKinds.Date,
            _ when type == typeof(Changes.LocalTimestamp) => ValueKinds.LocalTimestamp,
            _ when type == typeof(Changes.UtcTimestamp) => ValueKinds.UtcTimestamp,
            _ when type == typeof(Changes.LocalTime) => ValueKinds.LocalTime,
            _ when type == typeof(Changes.UtcTime) => ValueKinds.UtcTime,
            _ => ValueKinds.Other,
        };
    }
}
