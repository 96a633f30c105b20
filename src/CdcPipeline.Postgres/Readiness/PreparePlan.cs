namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// The steps of <c>db prepare</c> for one database, in order, and the notes that explain what it will not do.
/// <paramref name="SetsPassword"/>: the steps carry the role's password as a SCRAM-SHA-256 verifier.
/// </summary>
public sealed record PreparePlan(ConnectionTarget Target, string Database, string Role, IReadOnlyList<PrepareStep> Steps, IReadOnlyList<string> Notes, bool SetsPassword)
{
    public IEnumerable<PrepareStep> NeededSteps => Steps.Where(s => s.Needed);
}
