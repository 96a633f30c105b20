using System.Text.RegularExpressions;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>The patterns <see cref="RuleExpressionCompiler"/> finds old-row reads with.</summary>
internal static partial class OldRowRead
{
    /// <summary>A double-quoted literal, with C# escapes.</summary>
    [GeneratedRegex("""
        "(?:[^"\\]|\\.)*"
        """)]
    public static partial Regex StringLiteral();

    /// <summary>Text that ends in <c>before[</c>: the literal after it is a column name.</summary>
    [GeneratedRegex(@"(?<![\w.])before\s*\[\s*$")]
    public static partial Regex IndexerBefore();

    /// <summary><c>before.col</c> or <c>before["col"]</c>, not <c>x.before</c>.</summary>
    [GeneratedRegex("""
        (?<![\w.])before\s*(?:\.\s*(?<member>[A-Za-z_]\w*)|\[\s*"(?<index>[^"]*)"\s*\])
        """)]
    public static partial Regex Read();
}
