namespace CdcPipeline.Postgres.Setup;

/// <summary>A row of <c>pg_replication_slots</c> for a logical slot; LSNs as PostgreSQL prints them (<c>0/16B3748</c>).</summary>
public sealed record ReplicationSlotInfo(string Name, string? Plugin, string? Database, bool Active, string? RestartLsn, string? ConfirmedFlushLsn, long? LagBytes);
