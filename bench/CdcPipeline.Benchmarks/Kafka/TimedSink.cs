using System.Diagnostics;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// Measures how long the pipeline waits inside the sink (produce + every delivery report), so the
/// harness can say whether the pipeline is bound by the sink or by what feeds it.
/// </summary>
internal sealed class TimedSink(ISink inner) : ISink
{
    private long _ticks;
    private int _batches;

    public string Name => inner.Name;

    public TimeSpan Busy => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));

    public int Batches => Volatile.Read(ref _batches);

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await inner.DeliverAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
            Interlocked.Increment(ref _batches);
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
