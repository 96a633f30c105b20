namespace CdcPipeline.Postgres.Readiness;

/// <summary>The steps of <c>db prepare</c> for one database, in order, and the notes that explain what it will not do.</summary>
public sealed record PreparePlan(ConnectionTarget Target, string Database, IReadOnlyList<PrepareStep> Steps, IReadOnlyList<string> Notes, IReadOnlyList<string> PsqlPreamble)
{
    public IEnumerable<PrepareStep> NeededSteps => Steps.Where(s => s.Needed);
}
