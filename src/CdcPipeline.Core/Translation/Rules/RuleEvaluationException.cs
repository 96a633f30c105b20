namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// A rule expression failed on a particular change (an unknown column, a legacy code missing from a
/// lookup, a malformed CHAR(8) date…). The change cannot be translated as the rules stand: the pipeline
/// treats it as poison (dead letter), and the message names the rule, file, line, expression and change. Also how the
/// outbox translator refuses a row (rule <c>outbox</c>: a required column null, a payload that is not JSON) and how an event
/// with an extension attribute CloudEvents cannot carry is refused: a verdict on the data, logged in one line (event 1010).
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

    /// <summary>The text of the expression that failed, when one did (not a missing key column or a rule file's table).</summary>
    public string? Expression { get; init; }
}
