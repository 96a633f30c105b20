namespace CdcPipeline.Core.Pipeline;

/// <summary>A source that knows whether it is connected to what it reads: the readiness signal (<c>/readyz</c>).</summary>
public interface ISourceConnection
{
    /// <summary>
    /// True while the source reads from its server: the embedded capture streams from its slot, the Kafka source
    /// has joined its consumer group. False before that, while it reconnects, and after it stopped.
    /// </summary>
    bool IsConnected { get; }
}
