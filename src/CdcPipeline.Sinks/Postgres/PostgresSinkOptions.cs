using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Postgres;

/// <summary><c>postgres: { connectionString, table, mode: append|upsert, createTable, projection: { keyColumn, dataColumn, deleteTypes } }</c></summary>
public sealed class PostgresSinkOptions
{
    /// <summary>Npgsql connection string; put the password in an environment variable. Never logged.</summary>
    [Required(ErrorMessage = "a postgres sink needs a connectionString")]
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// <c>table</c> or <c>schema.table</c>, read as PostgreSQL reads it in SQL (<see cref="Core.Changes.PgNames.TryParseQualified"/>):
    /// <c>Orders</c> is the table <c>orders</c>, <c>"Orders"</c> (quoted) keeps its case. A bare name is looked up by the
    /// connection's <c>search_path</c>, as psql looks it up.
    /// </summary>
    [Required(ErrorMessage = "a postgres sink needs a table")]
    public string Table { get; set; } = "";

    public PostgresSinkMode Mode { get; set; } = PostgresSinkMode.Append;

    /// <summary>CREATE TABLE IF NOT EXISTS at start (off when the schema is managed elsewhere).</summary>
    public bool CreateTable { get; set; } = true;

    public PostgresProjectionOptions Projection { get; set; } = new();
}
