using System.Text.RegularExpressions;

namespace CdcPipeline.Consumer;

/// <summary>
/// Table names come from configuration and end up in SQL text: only plain (schema-qualified) identifiers pass. They mean
/// what they would mean written unquoted in SQL — PostgreSQL folds an unquoted name to lower case, so <c>Outbox</c> is the
/// table <c>outbox</c> — and go into SQL folded and quoted, so a reserved word (<c>order</c>, <c>user</c>) is a table name too.
/// The polling relay (<c>source.outboxPolling.table</c>) reads its <c>table</c> option the same way.
/// </summary>
internal static partial class SqlIdentifiers
{
    /// <summary>The table <paramref name="name"/> names, as SQL text: <c>"schema"."table"</c>, or <c>"table"</c> (found through search_path).</summary>
    public static string Table(string name, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!QualifiedName().IsMatch(name))
        {
            throw new ArgumentException($"{what} '{name}' is not a plain table name: use [schema.]table with letters, digits and '_'", nameof(name));
        }

        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? Quote(name) : Quote(name[..dot]) + "." + Quote(name[(dot + 1)..]);
    }

    /// <summary>The name of an index of a table <see cref="Table"/> returned, quoted: <c>"table_suffix"</c> (an index lives in its table's schema).</summary>
    public static string Index(string table, string suffix)
    {
        // "schema"."table" or "table": from the table's opening quote to before its closing one.
        var start = table.LastIndexOf("\".\"", StringComparison.Ordinal) is var dot and >= 0 ? dot + 2 : 0;
        return table[start..^1] + "_" + suffix + "\"";
    }

    /// <summary>
    /// An identifier made of letters, digits and '_' (checked above), as PostgreSQL reads it unquoted: ASCII letters folded to
    /// lower case (no quote can occur in it). Longer than 63 characters, the server truncates it, quoted or not.
    /// </summary>
    private static string Quote(string identifier) => "\"" + identifier.ToLowerInvariant() + "\"";

    [GeneratedRegex("^([A-Za-z_][A-Za-z0-9_]*\\.)?[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex QualifiedName();
}
