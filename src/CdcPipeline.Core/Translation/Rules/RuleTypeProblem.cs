namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// An expression that fails on every change it is evaluated on (with a non-null value): <paramref name="Position"/> is the
/// 0-based offset in the expression's text, <paramref name="Problem"/> what is wrong, <paramref name="Fix"/> what to write.
/// </summary>
internal sealed record RuleTypeProblem(int Position, string Problem, string Fix);
