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

        foreach (var sink in Sinks)
        {
            await sink.Sink.DisposeAsync().ConfigureAwait(false);
        }

        await Source.DisposeAsync().ConfigureAwait(false);
        if (DeadLetters is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
    }
}
