namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// A rule expression failed on a particular change (an unknown column, a legacy code missing from a
/// lookup, a malformed CHAR(8) date…). The change cannot be translated as the rules stand: the pipeline
/// treats it as poison (dead letter), and the message names the rule, file, line, expression and change.
/// </summary>
public sealed class RuleEvaluationException : Exception
{
    public RuleEvaluationException(string message)
        : base(message)
    {
    }

    public RuleEvaluationException()
    {
    }

    public RuleEvaluationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The rule (<c>file#type</c>) whose expression failed, when known.</summary>
    public string? RuleId { get; init; }
}
