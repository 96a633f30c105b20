namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Thrown by the rule functions and row accessors while an expression runs; the evaluator wraps it in a
/// <see cref="RuleEvaluationException"/> that adds the rule, file, line and expression.
/// </summary>
internal sealed class ExpressionFailure : Exception
{
    public ExpressionFailure(string message)
        : base(message)
    {
    }

    public ExpressionFailure()
    {
    }

    public ExpressionFailure(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
