namespace CdcPipeline.Postgres.Readiness;

/// <summary>The result of <c>db check</c>: ready when no finding failed.</summary>
public sealed record ReadinessReport(
    ConnectionTarget Target,
    string ServerVersion,
    string CurrentUser,
    IReadOnlyList<ReadinessFinding> Findings,
    IReadOnlyList<TableReadiness> Tables,
    IReadOnlyList<ReplicationSlotStatus> Slots)
{
    public bool Ready => Findings.All(f => f.Status != ReadinessStatus.Fail);
}
