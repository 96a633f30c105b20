namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// One idempotent piece of <c>db prepare</c>: <see cref="Sql"/> is both what is printed (safe to run any number of times)
/// and what <c>--apply</c> executes when <see cref="Needed"/> (the catalog says it is not in place yet). A role's password
/// is in it only as its SCRAM-SHA-256 verifier, never in plain text. <see cref="MayRunIt"/> says who PostgreSQL lets run it,
/// for the message when it refuses (null: a superuser or the owner of what it changes).
/// </summary>
public sealed record PrepareStep(string Title, string Sql, bool Needed, string? Comment = null, string? NotNeededBecause = null, string? MayRunIt = null);
