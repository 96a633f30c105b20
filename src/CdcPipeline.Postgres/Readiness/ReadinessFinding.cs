namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// One line of <c>db check</c>: what was checked (<paramref name="Check"/>, e.g. <c>wal_level</c> or <c>table</c>),
/// on what (<paramref name="Subject"/>, e.g. a table name), what was found, and — unless it is fine — what to
/// do about it (<paramref name="Action"/>, exact SQL where SQL fixes it).
/// </summary>
public sealed record ReadinessFinding(ReadinessStatus Status, string Check, string Subject, string What, string? Action = null);
