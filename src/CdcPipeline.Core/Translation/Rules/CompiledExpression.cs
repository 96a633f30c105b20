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

    public object? Evaluate(EvalScope scope) => _value!(scope);

    public bool Test(EvalScope scope) => _condition!(scope);
}
