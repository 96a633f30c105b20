using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A built pipeline: the runner and what it owns (disposed with it, once: the host's worker disposes
/// it when the runner stops, and the service container disposes it again at shutdown).
/// </summary>
public sealed class PipelineInstance : IAsyncDisposable
{
    private int _disposed;

    public PipelineInstance(PipelineRunner runner, IChangeSource source, IReadOnlyList<SinkBinding> sinks, IDeadLetterQueue deadLetters)
    {
        Runner = runner;
        Source = source;
        Sinks = sinks;
        DeadLetters = deadLetters;
    }

    public PipelineRunner Runner { get; }

    public IChangeSource Source { get; }

    public IReadOnlyList<SinkBinding> Sinks { get; }

    public IDeadLetterQueue DeadLetters { get; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // The source first: it commits what every sink acknowledged (a sink's DeliverAsync returns only once its events
        // are durable, so nothing it still holds on close is needed for that). After a stop the host waits only
        // DrainTimeout + 5 s; a sink slow to close (a flush to a broker that is down) must not cost the commit, which
        // would make the next start deliver everything since the last one again.
        await Source.DisposeAsync().ConfigureAwait(false);
        foreach (var sink in Sinks)
        {
            await sink.Sink.DisposeAsync().ConfigureAwait(false);
        }
        if (DeadLetters is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
    }
}
