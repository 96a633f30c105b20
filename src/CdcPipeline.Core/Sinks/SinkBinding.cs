namespace CdcPipeline.Core.Sinks;

/// <summary>A configured sink: the sink itself and the policy the pipeline applies to it.</summary>
public sealed record SinkBinding(ISink Sink, SinkPolicy Policy)
{
    public string Name => Sink.Name;
}
