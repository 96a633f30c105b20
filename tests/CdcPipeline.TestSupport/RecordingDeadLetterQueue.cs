using System.Collections.Concurrent;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Tests.Support;

public sealed class RecordingDeadLetterQueue : IDeadLetterQueue
{
    public ConcurrentQueue<DeadLetter> Letters { get; } = new();

    public ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        Letters.Enqueue(letter);
        return default;
    }
}
