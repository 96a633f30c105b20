using System.Linq.Expressions;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>A rule expression compiled once at load into a delegate over <see cref="EvalScope"/>, with where it came from.</summary>
public sealed class CompiledExpression
{
    private readonly Func<EvalScope, object?>? _value;
    private readonly Func<EvalScope, bool>? _condition;

    internal CompiledExpression(string text, string what, RuleLocation location, Func<EvalScope, object?>? value, Func<EvalScope, bool>? condition)
    {
        Text = text;
        What = what;
        Location = location;
        _value = value;
        _condition = condition;
    }

    public string Text { get; }

    /// <summary>What the expression is for, as errors name it: <c>OrderPlaced when</c>, <c>OrderPlaced data.total</c>.</summary>
    public string What { get; }

    public RuleLocation Location { get; }

    /// <summary>
    /// The columns the expression reads from the old row (<c>before.col</c>, <c>before["col"]</c>). PostgreSQL sends the whole
    /// old row only with REPLICA IDENTITY FULL (otherwise none with an update, the key columns with a delete), so the embedded
    /// capture checks these against the table at start.
    /// </summary>
    public IReadOnlyList<string> OldColumns { get; internal init; } = [];

    /// <summary>
    /// The columns the expression reads through <c>row</c> (<c>row.col</c>, <c>row["col"]</c>): the old row on a delete, which
    /// without REPLICA IDENTITY FULL holds only the replica identity's columns.
    /// </summary>
    public IReadOnlyList<string> RowColumns { get; internal init; } = [];

    /// <summary>The columns of the expression's <c>changed("col")</c> calls: each needs the whole old row of an update.</summary>
    public IReadOnlyList<string> ChangedColumns { get; internal init; } = [];

    /// <summary>Every column of the change's table the expression names (<c>after.col</c>, <c>before.col</c>, <c>row.col</c>, <c>changed("col")</c>).</summary>
    public IReadOnlyList<string> Columns { get; internal init; } = [];

    /// <summary>The expression as DynamicExpresso parsed it, before binding: what <see cref="RuleTypeCheck"/> and <see cref="OpCondition"/> read.</summary>
    internal Expression Parsed { get; init; } = Expression.Empty();

    internal bool IsCondition => _condition is not null;

    /// <summary>For a condition: false only when it is false for every change with <paramref name="op"/> (<c>op == "c"</c> for "d").</summary>
    internal bool MayHold(string op) => OpCondition.MayHold(Parsed, op);

    public object? Evaluate(EvalScope scope) => _value!(scope);

    public bool Test(EvalScope scope) => _condition!(scope);
}
