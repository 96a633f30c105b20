namespace CdcPipeline.Core.Translation.Rules;

/// <summary>One problem found while loading a rule file: where it is (1-based line and column) and what to do.</summary>
public sealed record RuleError(string File, long Line, long Column, string Reason)
{
    public override string ToString() =>
        Line > 0
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}: {Reason}")
            : string.Concat(File, ": ", Reason);
}
