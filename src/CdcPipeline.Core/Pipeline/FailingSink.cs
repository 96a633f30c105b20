namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A sink whose latest delivery failed and that delivered nothing since (<see cref="PipelineRunner.FailingSinks"/>): for how
/// long, and its last error in one line (the text the failure logs give, without a stack trace).
/// </summary>
public sealed record FailingSink(string Sink, TimeSpan For, string LastError);
