using System.Linq.Expressions;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Which ops a condition can hold for, from its tests of <c>op</c> (<c>op == "d"</c>, <c>op != "u"</c>) joined by <c>&amp;&amp;</c>,
/// <c>||</c> and <c>!</c>; anything else may hold for any op. The start's old-row check (event 1115) asks it: what a rule reads of
/// the old row matters only for the ops it fires on (an update carries no old row, a delete only the key, an insert none).
/// </summary>
internal static class OpCondition
{
    /// <summary>False only when <paramref name="condition"/> (as DynamicExpresso parsed it) is false for every change with <paramref name="op"/>.</summary>
    public static bool MayHold(Expression condition, string op) => Evaluate(condition, op) != false;

    private static bool? Evaluate(Expression node, string op) => node switch
    {
        BinaryExpression { NodeType: ExpressionType.Equal or ExpressionType.NotEqual } b when OpTested(b) is { } literal =>
            RuleValues.SameText(op, literal) == (b.NodeType == ExpressionType.Equal),
        BinaryExpression { NodeType: ExpressionType.AndAlso } b => And(Evaluate(b.Left, op), Evaluate(b.Right, op)),
        BinaryExpression { NodeType: ExpressionType.OrElse } b => Or(Evaluate(b.Left, op), Evaluate(b.Right, op)),
        UnaryExpression { NodeType: ExpressionType.Not } u when u.Type == typeof(bool) => !Evaluate(u.Operand, op),
        _ => null,
    };

    private static string? OpTested(BinaryExpression b) => (b.Left, b.Right) switch
    {
        (ParameterExpression { Name: "op" }, ConstantExpression { Value: string literal }) => literal,
        (ConstantExpression { Value: string literal }, ParameterExpression { Name: "op" }) => literal,
        _ => null,
    };

    private static bool? And(bool? left, bool? right) =>
        left == false || right == false ? false : left == true && right == true ? true : null;

    private static bool? Or(bool? left, bool? right) =>
        left == true || right == true ? true : left == false && right == false ? false : null;
}
