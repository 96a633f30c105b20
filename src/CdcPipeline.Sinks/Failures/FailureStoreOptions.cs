using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Failures;

/// <summary>Top-level <c>failures: { connectionString, table, createTable }</c>: where <c>onFailure: log</c> records failed deliveries.</summary>
public sealed class FailureStoreOptions
{
    public const string SectionName = "failures";

    [Required(ErrorMessage = "the failure store needs a connectionString (PostgreSQL)")]
    public string ConnectionString { get; set; } = "";

    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?$", ErrorMessage = "must be table or schema.table (letters, digits, '_')")]
    public string Table { get; set; } = "cdc_failures";

    public bool CreateTable { get; set; } = true;
}
