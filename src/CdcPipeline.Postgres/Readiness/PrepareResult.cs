namespace CdcPipeline.Postgres.Readiness;

/// <summary>What <c>db prepare --apply</c> changed (titles of the steps it ran) and what was already in place.</summary>
public sealed record PrepareResult(IReadOnlyList<string> Changed, IReadOnlyList<string> Unchanged);
