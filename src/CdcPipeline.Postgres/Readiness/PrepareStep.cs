namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// One idempotent piece of <c>db prepare</c>. <see cref="Sql"/> is what is printed (safe to run any number of times,
/// psql syntax where needed); <see cref="ApplySql"/> is what <c>--apply</c> executes when <see cref="Needed"/>
/// (the catalog says it is not in place yet). <see cref="ApplySql"/> may hold a password verifier: never print it.
/// </summary>
public sealed record PrepareStep(string Title, string Sql, bool Needed, string? ApplySql = null, string? Comment = null, string? NotNeededBecause = null)
{
    public string SqlToApply => ApplySql ?? Sql;
}
