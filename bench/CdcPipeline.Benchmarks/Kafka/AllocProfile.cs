using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// KAFKA_BENCH_ALLOC=1: what the pipeline allocates, by type. The runtime raises a GCAllocationTick
/// event about every 100 KB allocated, naming the type of the allocation that crossed the mark: over a
/// whole run that is a fair sample of where the bytes go (not of which code allocated them).
/// </summary>
internal sealed class AllocProfile : EventListener
{
    private const long BytesPerTick = 100_000;
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);
    private volatile bool _on;

    public bool On
    {
        get => _on;
        set => _on = value;
    }

    public IEnumerable<KeyValuePair<string, long>> Top(int count) => _bytes.OrderByDescending(kv => kv.Value).Take(count);

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_on || eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || eventData.Payload is null)
        {
            return;
        }

        var index = eventData.PayloadNames?.IndexOf("TypeName") ?? -1;
        var type = index >= 0 ? eventData.Payload[index] as string ?? "?" : "?";
        _bytes.AddOrUpdate(type, BytesPerTick, (_, total) => total + BytesPerTick);
    }
}
