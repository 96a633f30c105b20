namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// A row of <c>pg_replication_slots</c> joined with its walsender in <c>pg_stat_replication</c>.
/// <see cref="LagBytes"/> is <c>pg_current_wal_lsn() - confirmed_flush_lsn</c> (what the consumer has not confirmed yet);
/// <see cref="RetainedBytes"/> is <c>pg_current_wal_lsn() - restart_lsn</c> (the WAL this slot keeps on disk).
/// </summary>
public sealed record ReplicationSlotStatus(
    string Name,
    string? Plugin,
    string SlotType,
    string? Database,
    bool Temporary,
    bool Active,
    int? ActivePid,
    string? ClientAddress,
    string? ApplicationName,
    string? RestartLsn,
    string? ConfirmedFlushLsn,
    long? LagBytes,
    long? RetainedBytes,
    string? WalStatus);
