namespace CdcPipeline.Postgres.Readiness;

/// <summary>What <c>db check</c> checks the database for: the source configuration's publication, slot and tables.</summary>
public sealed record ReadinessCheckOptions
{
    public string Publication { get; init; } = "cdc_pub";

    public string Slot { get; init; } = "cdc_slot";

    /// <summary><c>schema.table</c>; empty: the publication's tables (if it exists).</summary>
    public IReadOnlyList<string> Tables { get; init; } = [];

    /// <summary>Whether the pipeline may create a missing publication itself (<c>createPublicationIfMissing</c>).</summary>
    public bool CreatePublicationIfMissing { get; init; } = true;

    /// <summary>
    /// The <c>application_name</c> of the pipeline's replication connection (<see cref="PgOutputChangeSource.ReplicationApplicationName"/>):
    /// an active slot held under it is the pipeline streaming, not another consumer. Null: the default for <see cref="Slot"/>.
    /// </summary>
    public string? ApplicationName { get; init; }
}
