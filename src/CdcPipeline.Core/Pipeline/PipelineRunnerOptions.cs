using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Pipeline;

public sealed record PipelineRunnerOptions
{
    /// <summary>Changes buffered between the source reader and delivery; when full, reading pauses (backpressure).</summary>
    public int BufferCapacity { get; init; } = 1024;

    /// <summary>At most this many events go to a sink in one <c>DeliverAsync</c> call.</summary>
    public int MaxBatchSize { get; init; } = 1000;

    /// <summary>On stop: how long buffered changes may take to reach the sinks before delivery is cancelled.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The sink client libraries' expected failures (a remote refusal, a lost connection), logged without a stack trace below
    /// debug level; the .NET types every sink throws are known without an entry here.
    /// </summary>
    public IReadOnlyList<IExpectedDeliveryFailures> ExpectedFailures { get; init; } = [];
}
