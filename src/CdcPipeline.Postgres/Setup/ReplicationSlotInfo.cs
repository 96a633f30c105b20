namespace CdcPipeline.Postgres.Setup;

/// <summary>
/// A row of <c>pg_replication_slots</c> for a logical slot; LSNs as PostgreSQL prints them (<c>0/16B3748</c>).
/// <see cref="WalStatus"/> is <c>lost</c> once max_slot_wal_keep_size invalidated the slot: it can never be read again;
/// <c>unreserved</c> while it keeps more WAL than that limit allows (the next checkpoint makes it lost).
/// <see cref="RetainedBytes"/>: WAL it keeps (<c>pg_current_wal_lsn() - restart_lsn</c>); <see cref="SafeWalSize"/>: WAL
/// that can still be written before it is lost (<c>safe_wal_size</c>, negative once unreserved; null without a limit);
/// <see cref="MaxSlotWalKeepSizeBytes"/>: the server's max_slot_wal_keep_size (null: -1, no limit).
/// </summary>
public sealed record ReplicationSlotInfo(string Name, string? Plugin, string? Database, bool Active, string? RestartLsn, string? ConfirmedFlushLsn, long? LagBytes, string? WalStatus = null,
    long? RetainedBytes = null, long? SafeWalSize = null, long? MaxSlotWalKeepSizeBytes = null)
{
    public bool Unreserved => WalStatus == "unreserved";

    public bool Lost => WalStatus == "lost";
}
