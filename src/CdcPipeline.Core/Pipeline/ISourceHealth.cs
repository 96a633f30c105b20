namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A source that can tell what is wrong while it reads on: something a restart does not fix and that takes no traffic
/// away, so <c>/healthz</c> and <c>/readyz</c> keep their status and say it in their body (<c>degraded: …</c>).
/// </summary>
public interface ISourceHealth
{
    /// <summary>
    /// Null while nothing is wrong; else one line saying what is (the embedded capture: captured tables not published under
    /// their configured names, each with why; its slot in wal_status unreserved). Read by the probes: kept up to date where the source checks (its heartbeat),
    /// never computed per change.
    /// </summary>
    string? Degraded { get; }
}
