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

    /// <summary>Text that ends in <c>before[</c> (or <c>after[</c>, <c>row[</c>): the literal after it is a column name.</summary>
    [GeneratedRegex(@"(?<![\w.])(?:after|before|row)\s*\[\s*$")]
    public static partial Regex RowIndexer();

    /// <summary><c>before.col</c> or <c>before["col"]</c>, not <c>x.before</c>.</summary>
    [GeneratedRegex("""
        (?<![\w.])before\s*(?:\.\s*(?<member>[A-Za-z_]\w*)|\[\s*"(?<index>[^"]*)"\s*\])
        """)]
    public static partial Regex Read();

    /// <summary><c>row.col</c> or <c>row["col"]</c>: on a delete <c>row</c> is the old row.</summary>
    [GeneratedRegex("""
        (?<![\w.])row\s*(?:\.\s*(?<member>[A-Za-z_]\w*)|\[\s*"(?<index>[^"]*)"\s*\])
        """)]
    public static partial Regex RowImageRead();

    /// <summary><c>after.col</c>, <c>before.col</c>, <c>row.col</c> or the same with <c>["col"]</c>: a column of the change's table.</summary>
    [GeneratedRegex("""
        (?<![\w.])(?:after|before|row)\s*(?:\.\s*(?<member>[A-Za-z_]\w*)|\[\s*"(?<index>[^"]*)"\s*\])
        """)]
    public static partial Regex RowRead();
}
