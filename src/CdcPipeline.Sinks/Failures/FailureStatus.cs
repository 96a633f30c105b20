namespace CdcPipeline.Sinks.Failures;

/// <summary>The <c>status</c> column of the failure table.</summary>
public static class FailureStatus
{
    /// <summary>Recorded by the pipeline, not delivered yet.</summary>
    public const string Failed = "failed";

    /// <summary>Delivered later by <c>failures resend</c>.</summary>
    public const string Resent = "resent";

    public static readonly IReadOnlyList<string> All = [Failed, Resent];
}
