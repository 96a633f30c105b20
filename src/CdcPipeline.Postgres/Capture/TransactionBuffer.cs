namespace CdcPipeline.Postgres.Capture;

/// <summary>The changes of one transaction until its COMMIT (or STREAM COMMIT / STREAM ABORT) arrives.</summary>
internal sealed class TransactionBuffer(uint xid)
{
    public uint Xid { get; } = xid;

    public List<PendingChange> Changes { get; } = [];

    /// <summary>Drops what an aborted subtransaction (or, with <paramref name="subXid"/> = the top xid, the whole transaction) did.</summary>
    public int Discard(uint subXid)
    {
        if (subXid == Xid)
        {
            var all = Changes.Count;
            Changes.Clear();
            return all;
        }

        return Changes.RemoveAll(c => c.SubXid == subXid);
    }
}
