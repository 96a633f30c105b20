using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>Pulls events from a change source the way the pipeline does, with deadlines instead of sleeps.</summary>
public sealed class SourceReader(IChangeSource source, CancellationToken cancellationToken = default) : IAsyncDisposable
{
    private readonly IAsyncEnumerator<ChangeEvent> _events = source.ReadAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
    private Task<bool>? _pending;
    private bool _disposed;

    public IChangeSource Source { get; } = source;

    /// <summary>The next event, or null when none arrives within <paramref name="timeout"/> (the pull stays pending for the next call).</summary>
    public async Task<ChangeEvent?> NextAsync(TimeSpan timeout)
    {
        _pending ??= _events.MoveNextAsync().AsTask();
        var finished = await Task.WhenAny(_pending, Task.Delay(timeout, cancellationToken));
        if (finished != _pending)
        {
            return null;
        }

        var has = await _pending;
        _pending = null;
        return has ? _events.Current : throw new InvalidOperationException("the source ended");
    }

    /// <summary>Events until <paramref name="count"/> matched <paramref name="filter"/> (others are returned too, in order).</summary>
    public async Task<List<ChangeEvent>> TakeAsync(int count, Func<ChangeEvent, bool>? filter = null, TimeSpan? timeout = null)
    {
        filter ??= e => e.Kind == ChangeKind.Change;
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var all = new List<ChangeEvent>();
        var matched = 0;
        while (matched < count)
        {
            var left = deadline - DateTime.UtcNow;
            var next = left > TimeSpan.Zero ? await NextAsync(left) : null;
            if (next is null)
            {
                throw new TimeoutException($"only {matched} of {count} expected events arrived: {string.Join(" | ", all.Select(e => e.ToString()))}");
            }

            all.Add(next);
            if (filter(next))
            {
                matched++;
            }
        }

        return all;
    }

    /// <summary>Events until one satisfies <paramref name="until"/> (included).</summary>
    public async Task<List<ChangeEvent>> TakeUntilAsync(Func<ChangeEvent, bool> until, TimeSpan? timeout = null) =>
        await TakeAsync(1, until, timeout);

    public async Task AcknowledgeAsync(IEnumerable<ChangeEvent> events)
    {
        foreach (var e in events)
        {
            await Source.AcknowledgeAsync(e.Position, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await Source.DisposeAsync();
        try
        {
            if (_pending is not null)
            {
                await _pending;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception)
        {
            // the source was disposed under a pending pull
        }

        try
        {
            await _events.DisposeAsync();
        }
        catch (Exception)
        {
        }
    }
}
