using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Failures;

/// <summary>Top-level <c>failures: { connectionString, table, createTable }</c>: where <c>onFailure: log</c> records failed deliveries.</summary>
public sealed class FailureStoreOptions
{
    public const string SectionName = "failures";

    [Required(ErrorMessage = "the failure store needs a connectionString (PostgreSQL)")]
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// <c>table</c> or <c>schema.table</c>, read as the postgres sink's <c>table</c> is (<see cref="Core.Changes.PgNames.TryParseQualified"/>):
    /// <c>Failures</c> is the table <c>failures</c>, <c>"Failures"</c> (quoted) keeps its case.
    /// </summary>
    [Required(ErrorMessage = "the failure store needs a table")]
    public string Table { get; set; } = "cdc_failures";

    public bool CreateTable { get; set; } = true;
}
