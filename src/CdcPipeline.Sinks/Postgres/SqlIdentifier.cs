using CdcPipeline.Core.Changes;

namespace CdcPipeline.Sinks.Postgres;

/// <summary>Quotes validated identifiers (<c>schema.table</c>) for SQL built at start-up.</summary>
public static class SqlIdentifier
{
    public static string Quote(string qualifiedName) =>
        string.Join('.', qualifiedName.Split('.').Select(PgNames.QuoteIdentifier));

    /// <summary><c>[schema.]table</c> of real names (<see cref="Core.Changes.PgNames.TryParseQualified"/>), quoted.</summary>
    public static string Quote(string? schema, string table) => schema is null ? PgNames.QuoteIdentifier(table) : PgNames.QuoteIdentifier(schema) + "." + PgNames.QuoteIdentifier(table);

    /// <summary>A name derived from the table (index names), quoted.</summary>
    public static string Derived(string qualifiedName, string suffix) =>
        Quote(qualifiedName.Split('.')[^1] + "_" + suffix);
}
