using System.Collections.Concurrent;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.IntegrationTests.Kafka;

internal sealed class RecordingDeadLetters : IDeadLetterQueue
{
    public ConcurrentQueue<DeadLetter> Letters { get; } = new();

    public ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        Letters.Enqueue(letter);
        return default;
    }
}
