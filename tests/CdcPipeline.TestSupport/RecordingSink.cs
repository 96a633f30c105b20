using System.Collections.Concurrent;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Tests.Support;

/// <summary>A sink that records what it accepted and can be told to fail or stall.</summary>
public sealed class RecordingSink : ISink
{
    private readonly ConcurrentQueue<DomainEvent> _delivered = new();
    private int _calls;

    public RecordingSink(string name)
    {
        Name = name;
    }

    public string Name { get; }

    /// <summary>Decides per call whether to throw (given the batch and the 1-based call number).</summary>
    public Func<IReadOnlyList<DomainEvent>, int, Exception?>? Fail { get; set; }

    /// <summary>Awaited before each delivery; lets a test hold the sink.</summary>
    public Func<Task>? Gate { get; set; }

    public IReadOnlyList<DomainEvent> Delivered => _delivered.ToArray();

    public int Calls => Volatile.Read(ref _calls);

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        if (Gate is { } gate)
        {
            await gate().WaitAsync(cancellationToken);
        }

        if (Fail?.Invoke(batch, call) is { } error)
        {
            throw error;
        }

        foreach (var e in batch)
        {
            _delivered.Enqueue(e);
        }
    }

    public bool Disposed { get; private set; }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return default;
    }
}
