using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Postgres;

/// <summary>
/// Upsert mode's column mapping: the event's <c>subject</c> goes to <see cref="KeyColumn"/> (primary key),
/// its data to <see cref="DataColumn"/> (jsonb). The table also has <c>type</c>, <c>event_id</c>,
/// <c>position_stream</c>, <c>position_major</c>, <c>position_minor</c> (the event the row holds), <c>positions</c>
/// (jsonb: the last applied position of each stream), <c>deleted</c> and <c>updated_at</c>.
/// </summary>
public sealed class PostgresProjectionOptions
{
    /// <summary>
    /// Read as PostgreSQL reads a column name in SQL (<see cref="Core.Changes.PgNames.TryParseName"/>): <c>OrderId</c> is the column
    /// <c>orderid</c>, <c>"OrderId"</c> (quoted) keeps its case.
    /// </summary>
    [Required(ErrorMessage = "needs a column name")]
    public string KeyColumn { get; set; } = "subject";

    /// <summary>Read as <see cref="KeyColumn"/> is.</summary>
    [Required(ErrorMessage = "needs a column name")]
    public string DataColumn { get; set; } = "data";

    /// <summary>Event types that end the aggregate: the row is kept as a tombstone (data null, deleted true) so an older replayed event cannot resurrect it.</summary>
    public List<string> DeleteTypes { get; set; } = [];
}
