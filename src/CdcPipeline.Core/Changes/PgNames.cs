namespace CdcPipeline.Core.Changes;

/// <summary>
/// A table or column name from configuration, read as PostgreSQL reads it unquoted: letters, digits and '_' only, ASCII
/// letters folded to lower case, cut to 63 characters (NAMEDATALEN - 1). <c>Outbox</c>, <c>outbox</c> and
/// <c>Public.OUTBOX</c> are all the table <c>public.outbox</c>, which is how the WAL (and Debezium) name it.
/// </summary>
public static class PgNames
{
    /// <summary>A plain identifier (no quotes): what a configured column name must look like.</summary>
    public const string IdentifierPattern = "^[A-Za-z_][A-Za-z0-9_]*$";

    /// <summary><c>[schema.]table</c> of plain identifiers: what a configured table name must look like.</summary>
    public const string TablePattern = "^([A-Za-z_][A-Za-z0-9_]*\\.)?[A-Za-z_][A-Za-z0-9_]*$";

    public const int MaxIdentifierLength = 63;

    /// <summary>The identifier PostgreSQL resolves a plain (unquoted) <paramref name="identifier"/> to.</summary>
    public static string Fold(string identifier) =>
        (identifier.Length > MaxIdentifierLength ? identifier[..MaxIdentifierLength] : identifier).ToLowerInvariant();

    /// <summary><c>schema.table</c> as PostgreSQL resolves a plain <c>[schema.]table</c>; a bare name means schema <c>public</c>.</summary>
    public static string QualifiedTable(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? "public." + Fold(name) : Fold(name[..dot]) + "." + Fold(name[(dot + 1)..]);
    }

    /// <summary>
    /// <c>[schema.]table</c> read as PostgreSQL reads a name in SQL: a plain part (letters, digits and '_') folds as
    /// <see cref="Fold"/> does (<c>Orders</c> is <c>orders</c>); a part written in double quotes keeps its case and may hold
    /// any character, <c>""</c> standing for a quote (<c>"Orders"</c> is <c>Orders</c>, <c>sales."Order Lines"</c>). Returns the
    /// parts' real names (no quotes); <paramref name="schema"/> is null for a bare name. Parts longer than 63 bytes are refused
    /// (PostgreSQL would cut them silently). False, with the reason in <paramref name="error"/>, when the text is no such name.
    /// </summary>
    public static bool TryParseQualified(string text, out string? schema, out string table, out string? error)
    {
        schema = null;
        table = "";
        var parts = new List<string>(2);
        var i = 0;
        while (true)
        {
            if (!TryParsePart(text, ref i, "table or schema.table", out var part, out error))
            {
                return false;
            }

            parts.Add(part);
            if (i == text.Length)
            {
                break;
            }

            if (text[i] != '.' || parts.Count == 2)
            {
                error = parts.Count == 2 && text[i] == '.'
                    ? "use table or schema.table: at most one '.' outside quotes (a database name cannot be given here)"
                    : "use table or schema.table: after a name comes '.' or the end (write a name holding other characters in double quotes)";
                return false;
            }

            i++;
        }

        (schema, table) = parts.Count == 2 ? (parts[0], parts[1]) : (null, parts[0]);
        error = null;
        return true;
    }

    /// <summary>
    /// One name (a column's) read as <see cref="TryParseQualified"/> reads each part: <c>OrderId</c> is <c>orderid</c>,
    /// <c>"OrderId"</c> keeps its case. Returns the real name (no quotes).
    /// </summary>
    public static bool TryParseName(string text, out string name, out string? error)
    {
        var i = 0;
        if (!TryParsePart(text, ref i, "one name", out name, out error))
        {
            return false;
        }

        if (i != text.Length)
        {
            error = "use one name: plain (letters, digits and '_') or in double quotes to keep its case or hold other characters ('.' included)";
            return false;
        }

        return true;
    }

    /// <summary>
    /// <paramref name="name"/> (a real name: folded already, or as it is in the catalog) written in SQL to mean exactly it,
    /// whatever it holds: in double quotes, a quote in it doubled.
    /// </summary>
    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary><paramref name="text"/> as a SQL string literal: in single quotes, a quote in it doubled.</summary>
    public static string QuoteLiteral(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>Whether <paramref name="text"/> (valid for <see cref="TryParseQualified"/>) has a part written in double quotes.</summary>
    public static bool IsQuoted(string text) => text.Contains('"', StringComparison.Ordinal);

    private static bool TryParsePart(string text, ref int i, string use, out string part, out string? error)
    {
        if (i < text.Length && text[i] == '"')
        {
            var name = new System.Text.StringBuilder();
            i++;
            while (true)
            {
                if (i >= text.Length)
                {
                    (part, error) = ("", "a quoted name has no closing '\"'");
                    return false;
                }

                if (text[i] == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        name.Append('"');
                        i += 2;
                        continue;
                    }

                    i++;
                    break;
                }

                name.Append(text[i++]);
            }

            part = name.ToString();
            if (part.Length == 0 || part.Contains('\0', StringComparison.Ordinal))
            {
                error = part.Length == 0 ? "a quoted name is empty (\"\")" : "a name cannot hold a NUL character";
                return false;
            }
        }
        else
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
            {
                i++;
            }

            part = text[start..i];
            if (part.Length == 0 || char.IsAsciiDigit(part[0]))
            {
                error = $"use {use}: plain names of letters, digits and '_' (not starting with a digit; read as PostgreSQL reads them unquoted, "
                    + "Orders is orders), or a name in double quotes to keep its case or hold other characters (\"Orders\")";
                return false;
            }

            part = part.ToLowerInvariant();
        }

        if (System.Text.Encoding.UTF8.GetByteCount(part) > MaxIdentifierLength)
        {
            error = $"'{part}' is longer than PostgreSQL's {MaxIdentifierLength} bytes for a name (it would cut it)";
            return false;
        }

        error = null;
        return true;
    }
}
