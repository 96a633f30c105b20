namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A sink whose latest delivery failed and that delivered nothing since (<see cref="PipelineRunner.FailingSinks"/>): for how
/// long, and its last error in one line (the text the failure logs give, without a stack trace). <see cref="Ignored"/>: its
/// <c>onFailure</c> is <c>ignore</c>, so its failures were configured not to matter (the probes name it without calling the
/// pipeline degraded).
/// </summary>
public sealed record FailingSink(string Sink, TimeSpan For, string LastError, bool Ignored);
