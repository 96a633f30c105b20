namespace CdcPipeline.Postgres.Setup;

/// <summary>
/// A row of <c>pg_replication_slots</c> for a logical slot; LSNs as PostgreSQL prints them (<c>0/16B3748</c>).
/// <see cref="WalStatus"/> is <c>lost</c> once max_slot_wal_keep_size invalidated the slot: it can never be read again.
/// </summary>
public sealed record ReplicationSlotInfo(string Name, string? Plugin, string? Database, bool Active, string? RestartLsn, string? ConfirmedFlushLsn, long? LagBytes, string? WalStatus = null)
{
    public bool Lost => WalStatus == "lost";
}
