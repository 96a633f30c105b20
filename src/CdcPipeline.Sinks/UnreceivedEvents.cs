using CdcPipeline.Core.Pipeline;

namespace CdcPipeline.Sinks;

/// <summary>
/// Events a sink delivered that no receiver got: published to a Redis channel nobody subscribes to, or routed by a RabbitMQ
/// exchange to no queue. Each is counted in <c>cdc.events.unreceived</c>; the sink's warning about it repeats at most once
/// per <see cref="WarningInterval"/> per channel or routing key, so a busy subject does not flood the log.
/// </summary>
internal sealed class UnreceivedEvents(string sink, PipelineMetrics? metrics, TimeProvider? timeProvider)
{
    /// <summary>How often, at most, the warning repeats for one channel or routing key.</summary>
    public static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);

    /// <summary>Keys remembered for <see cref="WarningInterval"/>; beyond this many (a key per subject), forgotten at once.</summary>
    private const int MaxWarnedKeys = 10_000;

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly KeyValuePair<string, object?> _sinkTag = new("sink", sink);

    /// <summary>Per key, the timestamp (<see cref="TimeProvider.GetTimestamp"/>) after which it may be warned about again.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _warnAfter = new(StringComparer.Ordinal);

    /// <summary>Counts one event that went to <paramref name="key"/> unreceived; true when the sink should warn about it now.</summary>
    public bool Count(string key)
    {
        metrics?.EventsUnreceived.Add(1, _sinkTag);
        var now = _time.GetTimestamp();
        if (_warnAfter.TryGetValue(key, out var after) && now < after)
        {
            return false;
        }

        if (_warnAfter.Count >= MaxWarnedKeys)
        {
            _warnAfter.Clear();
        }

        _warnAfter[key] = now + (long)(WarningInterval.TotalSeconds * _time.TimestampFrequency);
        return true;
    }
}
