using System.Text.RegularExpressions;

namespace CdcPipeline.Consumer;

/// <summary>Table names come from configuration and end up in SQL text: only plain (schema-qualified) identifiers pass.</summary>
internal static partial class SqlIdentifiers
{
    public static string Table(string name, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!QualifiedName().IsMatch(name))
        {
            throw new ArgumentException($"{what} '{name}' is not a plain table name: use [schema.]table with letters, digits and '_'", nameof(name));
        }

        return name;
    }

    [GeneratedRegex("^([A-Za-z_][A-Za-z0-9_]*\\.)?[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex QualifiedName();
}
