namespace CdcPipeline.Sinks.Failures;

/// <summary>What happened to one failure on resend: <see cref="Error"/> is null when it was delivered.</summary>
public sealed record ResendOutcome(FailureRecord Failure, Exception? Error)
{
    public bool Delivered => Error is null;
}
