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
}
