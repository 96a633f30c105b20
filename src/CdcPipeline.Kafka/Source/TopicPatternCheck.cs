namespace CdcPipeline.Kafka.Source;

/// <summary>
/// librdkafka matches a <c>^</c> subscription against topic names with POSIX extended regular expressions (glibc's
/// <c>regcomp</c>), not the Java or .NET language a pattern is usually written in. What that language lacks is no error
/// there: <c>\d</c> matches a literal <c>d</c>, so <c>^legacy\.public\.tb_\d+$</c> subscribes to nothing and the source
/// waits forever, silently. Checked on the librdkafka the source runs (librdkafka.redist 2.16): <c>[0-9]</c>,
/// <c>[[:digit:]]</c> and the GNU <c>\w</c> match digits, <c>\d</c> does not.
/// </summary>
public static class TopicPatternCheck
{
    /// <summary>The backslash escapes glibc gives a meaning outside a bracket expression (GNU extensions, back references).</summary>
    private const string GnuEscapes = "wWsSbB123456789";

    /// <summary>Why librdkafka would not match <paramref name="pattern"/> as written; null when it would.</summary>
    public static string? Problem(string pattern)
    {
        var inBracket = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (inBracket)
            {
                // "[]…]" and "[^]…]": a ']' first is a member; "[:digit:]" and the like are classes, not the end.
                if (c == '[' && i + 1 < pattern.Length && pattern[i + 1] is ':' or '.' or '=')
                {
                    var close = pattern.IndexOf(pattern[i + 1] + "]", i + 2, StringComparison.Ordinal);
                    i = close < 0 ? pattern.Length : close + 1;
                }
                else if (c == ']')
                {
                    inBracket = false;
                }
                else if (c == '\\' && i + 1 < pattern.Length && char.IsAsciiLetter(pattern[i + 1]))
                {
                    return $"'\\{pattern[i + 1]}' inside [...]: in POSIX regular expressions, which librdkafka matches topic names with, a backslash there is a "
                        + $"literal backslash, so this matches '\\' or '{pattern[i + 1]}'. {Instead(pattern[i + 1])}";
                }

                continue;
            }

            switch (c)
            {
                case '[':
                    inBracket = true;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '^')
                    {
                        i++;
                    }

                    if (i + 1 < pattern.Length && pattern[i + 1] == ']')
                    {
                        i++;
                    }

                    break;
                case '(' when i + 1 < pattern.Length && pattern[i + 1] == '?':
                    return "'(?' (an inline option, non-capturing group or lookaround): POSIX regular expressions, which librdkafka matches topic names with, "
                        + "have none of them; use a plain group '(...)' and spell out the cases, e.g. [Oo]rders";
                case '\\' when i + 1 < pattern.Length && char.IsAsciiLetterOrDigit(pattern[i + 1]) && !GnuEscapes.Contains(pattern[i + 1], StringComparison.Ordinal):
                    return $"'\\{pattern[i + 1]}' is not in the POSIX regular expressions librdkafka matches topic names with: it matches a literal "
                        + $"'{pattern[i + 1]}', and the subscription would silently miss the topics meant. {Instead(pattern[i + 1])}";
                case '\\':
                    i++;
                    break;
            }
        }

        return null;
    }

    private static string Instead(char escape) => escape switch
    {
        'd' => "Write [0-9] (or [[:digit:]]) instead.",
        'D' => "Write [^0-9] instead.",
        'w' => "Write [A-Za-z0-9_] instead.",
        's' => "Write [[:space:]] instead.",
        _ => "Write it with POSIX bracket expressions such as [0-9] or [[:alpha:]].",
    };
}
