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
        // Each part is closed even when one before it failed (a failed final commit must not leave a sink unflushed);
        // the failures surface afterwards, so the process does not exit 0.
        var errors = new List<Exception>();
        await CloseAsync(Source, errors).ConfigureAwait(false);
        foreach (var sink in Sinks)
        {
            await CloseAsync(sink.Sink, errors).ConfigureAwait(false);
        }
        if (DeadLetters is IAsyncDisposable disposable)
        {
            await CloseAsync(disposable, errors).ConfigureAwait(false);
        }

        switch (errors.Count)
        {
            case 0:
                return;
            case 1:
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0]);
                return;
            default:
                throw new AggregateException("closing the pipeline failed", errors);
        }
    }

    private static async ValueTask CloseAsync(IAsyncDisposable part, List<Exception> errors)
    {
        try
        {
            await part.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            errors.Add(e);
        }
    }
}
