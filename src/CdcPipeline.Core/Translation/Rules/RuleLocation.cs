namespace CdcPipeline.Core.Translation.Rules;

/// <summary>A place in a rule file (1-based line and column, as YamlDotNet marks report them).</summary>
public readonly record struct RuleLocation(string File, long Line, long Column)
{
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}");
}
