using Microsoft.Extensions.Logging;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>The rule checks' log messages that both capture paths say.</summary>
internal static partial class RuleLog
{
    // Said before the change meets it (the embedded capture's start; the Kafka source's first record of a schema): otherwise
    // the expression fails at the first change it is evaluated on (a dead letter).
    [LoggerMessage(1117, LogLevel.Warning,
        "The {Rule} ({Location}): {Expression} {Problem}, given the column types of {Table}: each change it is evaluated on fails " +
        "and goes to the dead letters. Fix the rule file: {Fix}")]
    public static partial void RuleMistypesColumns(ILogger logger, string rule, string location, string expression, string problem, string table, string fix);
}
