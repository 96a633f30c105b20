namespace CdcPipeline.Core.Sinks;

/// <summary>When a JSON-lines file sink starts a new file besides <c>maxBytes</c> (configuration key <c>rotate</c>).</summary>
public enum FileRotation
{
    None,

    /// <summary>At the first write after each full UTC hour.</summary>
    Hourly,

    /// <summary>At the first write after each UTC midnight.</summary>
    Daily,
}
