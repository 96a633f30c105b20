using CdcPipeline.Core.Changes;

namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// A decoded change whose transaction has not committed yet (its position needs the commit LSN).
/// Holds copies only: Npgsql reuses its message objects once the enumerator moves on.
/// </summary>
internal sealed record PendingChange(
    ChangeKind Kind,
    ChangeOperation Operation,
    RelationInfo? Relation,
    Row? Key,
    Row? Before,
    Row? After,
    ulong Lsn,
    uint? SubXid,
    LogicalMessage? Message = null,
    Row? OldKey = null);
