namespace CdcPipeline.Sinks.Postgres;

/// <summary>Quotes validated identifiers (<c>schema.table</c>) for SQL built at start-up.</summary>
public static class SqlIdentifier
{
    public static string Quote(string qualifiedName) =>
        string.Join('.', qualifiedName.Split('.').Select(part => "\"" + part.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));

    /// <summary>A name derived from the table (index names), quoted.</summary>
    public static string Derived(string qualifiedName, string suffix) =>
        Quote(qualifiedName.Split('.')[^1] + "_" + suffix);
}
