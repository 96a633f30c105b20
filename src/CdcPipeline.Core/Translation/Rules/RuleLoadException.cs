namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Rule files that cannot be used. Every problem found is listed, each with its file, line and reason,
/// so a rule author fixes them all in one round rather than one per start-up.
/// </summary>
public sealed class RuleLoadException : Exception
{
    public RuleLoadException(IReadOnlyList<RuleError> errors)
        : base(Describe(errors))
    {
        Errors = errors;
    }

    public RuleLoadException(string message)
        : this([new RuleError("", 0, 0, message)])
    {
    }

    public RuleLoadException()
        : this("rule files could not be loaded")
    {
    }

    public RuleLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [new RuleError("", 0, 0, message)];
    }

    public IReadOnlyList<RuleError> Errors { get; }

    private static string Describe(IReadOnlyList<RuleError> errors) =>
        errors.Count == 1
            ? "invalid translation rules: " + errors[0]
            : $"invalid translation rules ({errors.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)} problems):{Environment.NewLine}  "
              + string.Join(Environment.NewLine + "  ", errors);
}
