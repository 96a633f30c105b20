namespace CdcPipeline.Core.Sinks;

/// <summary>What a sink's failures lead to (configuration key <c>onFailure</c>).</summary>
public enum FailurePolicy
{
    /// <summary>Retry with backoff and jitter; after the last attempt, dead-letter the event and go on.</summary>
    Retry,
    /// <summary>Count and log the failure, drop the event for this sink, go on.</summary>
    Ignore,
    /// <summary>Record the failure in the failure store (to be resent later), go on.</summary>
    Log,
}
