using CdcPipeline.Core.Changes;

namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// One committed transaction being handed out: its commit LSN (every event's position major), commit time,
/// the next position minor, and the ordinal of the next decoded change, which is what a redelivery after a
/// reconnect is matched by (PostgreSQL re-sends a transaction from its start, in the same order).
/// </summary>
internal sealed class TransactionEmission(ulong commitLsn, uint xid, UtcTimestamp commitTime)
{
    public ulong CommitLsn { get; } = commitLsn;

    public uint Xid { get; } = xid;

    public UtcTimestamp CommitTime { get; } = commitTime;

    public int NextMinor { get; set; }

    public long NextOrdinal { get; set; }
}
