using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation;

/// <summary>CloudEvents <c>source</c> and <c>subject</c> values, shared by rules and C# translators so both name things alike.</summary>
public static class EventSources
{
    /// <summary><c>/cdcpipeline/{pipeline}/{schema}.{table}</c>: a URI-reference, each segment escaped.</summary>
    public static string For(string pipelineName, SourceInfo source) => For(pipelineName, source.QualifiedTable);

    public static string For(string pipelineName, string qualifiedTable) =>
        string.Concat("/cdcpipeline/", Uri.EscapeDataString(pipelineName), "/", Uri.EscapeDataString(qualifiedTable));

    /// <summary>
    /// An aggregate key as subject text: one value as its canonical text (a blank-padded CHAR without its
    /// padding); several joined by '/', each with '%' and '/' percent-escaped so distinct keys never collide.
    /// </summary>
    public static string? Subject(ReadOnlySpan<object?> keyValues)
    {
        if (keyValues.Length == 0)
        {
            return null;
        }

        if (keyValues.Length == 1)
        {
            return Component(keyValues[0]);
        }

        var parts = new string[keyValues.Length];
        for (var i = 0; i < keyValues.Length; i++)
        {
            parts[i] = Component(keyValues[i]).Replace("%", "%25", StringComparison.Ordinal).Replace("/", "%2F", StringComparison.Ordinal);
        }

        return string.Join('/', parts);
    }

    /// <summary>The subject of a row key: its columns' values in key order.</summary>
    public static string? Subject(Row? key)
    {
        if (key is null || key.Count == 0)
        {
            return null;
        }

        if (key.Count == 1)
        {
            return Component(key[0]);
        }

        return Subject(key.Values.ToArray());
    }

    private static string Component(object? value) =>
        value is string s ? s.TrimEnd(' ') : Rules.RuleValues.ToText(Rules.RuleValues.ForExpression(value)) ?? "";

    /// <summary>The CloudEvents <c>time</c> of a change: its commit time, else when it was captured.</summary>
    public static DateTimeOffset? Time(ChangeEvent change) =>
        (change.Source.CommitTime ?? change.CapturedAt)?.ToDateTimeOffset();
}
