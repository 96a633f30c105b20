namespace CdcPipeline.Postgres;

/// <summary>ARCHITECTURE's <c>source.postgres.snapshot</c>.</summary>
public enum SnapshotMode
{
    /// <summary>Snapshot the tables when the slot is created (or a snapshot was interrupted), then stream.</summary>
    Initial,
    /// <summary>Stream only: the slot's changes, no table reads.</summary>
    Never,
    /// <summary>Snapshot, then stop: <see cref="PgOutputChangeSource.ReadAsync"/> ends after the last row.</summary>
    InitialOnly,
    /// <summary>As <see cref="Initial"/>, and also when the slot this pipeline read is gone: re-snapshot instead of refusing to start.</summary>
    WhenNeeded,
}
