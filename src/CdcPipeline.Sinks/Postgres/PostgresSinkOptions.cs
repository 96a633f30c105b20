using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Postgres;

/// <summary><c>postgres: { connectionString, table, mode: append|upsert, createTable, projection: { keyColumn, dataColumn, deleteTypes } }</c></summary>
public sealed class PostgresSinkOptions
{
    /// <summary>Npgsql connection string; put the password in an environment variable. Never logged.</summary>
    [Required(ErrorMessage = "a postgres sink needs a connectionString")]
    public string ConnectionString { get; set; } = "";

    /// <summary><c>table</c> or <c>schema.table</c>.</summary>
    [Required(ErrorMessage = "a postgres sink needs a table")]
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?$", ErrorMessage = "must be table or schema.table (letters, digits, '_')")]
    public string Table { get; set; } = "";

    public PostgresSinkMode Mode { get; set; } = PostgresSinkMode.Append;

    /// <summary>CREATE TABLE IF NOT EXISTS at start (off when the schema is managed elsewhere).</summary>
    public bool CreateTable { get; set; } = true;

    public PostgresProjectionOptions Projection { get; set; } = new();
}
