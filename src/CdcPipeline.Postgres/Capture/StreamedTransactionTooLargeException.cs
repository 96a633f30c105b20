namespace CdcPipeline.Postgres.Capture;

/// <summary>A transaction streamed while in progress outgrew what the capture may hold in memory until its commit.</summary>
internal sealed class StreamedTransactionTooLargeException(uint xid, int changes)
    : Exception($"streamed transaction {xid} holds {changes} changes")
{
    public uint Xid { get; } = xid;

    public int Changes { get; } = changes;
}
