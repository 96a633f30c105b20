using System.Diagnostics.Metrics;

namespace CdcPipeline.Core.Pipeline;

/// <summary>The pipeline's counters (meter <c>CdcPipeline</c>): every drop is a counted decision.</summary>
public sealed class PipelineMetrics : IDisposable
{
    public const string MeterName = "CdcPipeline";

    private readonly Meter _meter;

    public PipelineMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        ChangesRead = _meter.CreateCounter<long>("cdc.changes.read", description: "change records read from the source");
        EventsProduced = _meter.CreateCounter<long>("cdc.events.produced", description: "domain events produced by translation");
        EventsDelivered = _meter.CreateCounter<long>("cdc.events.delivered", description: "events accepted by a sink");
        EventsDeadLettered = _meter.CreateCounter<long>("cdc.events.dead_lettered", description: "records sent to the dead-letter destination");
        EventsIgnored = _meter.CreateCounter<long>("cdc.events.ignored", description: "failed deliveries dropped by an 'ignore' policy");
        EventsLogged = _meter.CreateCounter<long>("cdc.events.failure_logged", description: "failed deliveries recorded by a 'log' policy");
        PositionsAcknowledged = _meter.CreateCounter<long>("cdc.positions.acknowledged", description: "source positions acknowledged");
        EventsUnreceived = _meter.CreateCounter<long>("cdc.events.unreceived", description: "events a sink delivered that no receiver got (Redis pub/sub: no client subscribed to the channel; RabbitMQ: routed to no queue)");
        SinkBatchDuration = _meter.CreateHistogram(
            "cdc.sink.batch.duration",
            unit: "s",
            description: "time from handing a batch to a sink until it acknowledged it or the runner gave up on it (retries included)",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SinkBatchDurationBuckets });
    }

    /// <summary>
    /// Seconds: from a millisecond (a local file) to a minute (a sink retrying with backoff). Without this advice the
    /// exporters' default buckets, made for milliseconds, would put nearly every batch in the first one.
    /// </summary>
    private static readonly double[] SinkBatchDurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    public Counter<long> ChangesRead { get; }
    public Counter<long> EventsProduced { get; }
    public Counter<long> EventsDelivered { get; }
    public Counter<long> EventsDeadLettered { get; }
    public Counter<long> EventsIgnored { get; }
    public Counter<long> EventsLogged { get; }
    public Counter<long> PositionsAcknowledged { get; }

    /// <summary><c>cdc.events.unreceived</c>, tag <c>sink</c>: delivered, but nobody got it (a Redis PUBLISH that reached no subscriber).</summary>
    public Counter<long> EventsUnreceived { get; }

    /// <summary><c>cdc.sink.batch.duration</c> (seconds), tags <c>sink</c> and <c>outcome</c> (<c>delivered</c> or <c>failed</c>).</summary>
    public Histogram<double> SinkBatchDuration { get; }

    /// <summary>Publishes <paramref name="source"/>'s lag as the gauge <c>cdc.source.lag</c> (tag <c>unit</c>).</summary>
    public void ObserveSourceLag(ISourceLag source) =>
        _meter.CreateObservableGauge(
            "cdc.source.lag",
            () => source.Lag is { } lag ? [new Measurement<long>(lag.Value, new KeyValuePair<string, object?>("unit", lag.Unit))] : Array.Empty<Measurement<long>>(),
            description: "how far the source's acknowledged position is behind what its source holds");

    public void Dispose() => _meter.Dispose();
}
