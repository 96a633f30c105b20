using System.Diagnostics.Metrics;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Pipeline;

/// <summary>
/// <c>cdc.sink.batch.duration</c>: how long each sink took with each batch handed to it, so a slow sink shows
/// before the lag it causes does. One measurement per hand-over, tagged with the sink and the outcome.
/// </summary>
public sealed class SinkBatchDurationMetricsTests
{
    private sealed record Measured(double Seconds, string? Sink, string? Outcome);

    private static async Task<List<Measured>> RunAsync(PipelineMetrics metrics, TimeProvider? time, params SinkBinding[] sinks)
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 20; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + (i % 3), "S" + i));
        }

        source.Complete();
        var measured = new List<Measured>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this test's own meter: other tests run in parallel with meters of the same name.
            if (ReferenceEquals(instrument, metrics.SinkBatchDuration))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            string? sink = null, outcome = null;
            foreach (var tag in tags)
            {
                (sink, outcome) = tag.Key switch
                {
                    "sink" => ((string?)tag.Value, outcome),
                    "outcome" => (sink, (string?)tag.Value),
                    _ => (sink, outcome),
                };
            }

            lock (measured)
            {
                measured.Add(new Measured(value, sink, outcome));
            }
        });
        listener.Start();

        var runner = new PipelineRunner(source, new StatusTranslator(), sinks, new RecordingDeadLetterQueue(),
            new PipelineRunnerOptions { BufferCapacity = 4, MaxBatchSize = 3 }, timeProvider: time, metrics: metrics);
        await runner.RunAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        lock (measured)
        {
            return [.. measured];
        }
    }

    [Fact]
    public async Task Every_batch_a_sink_is_handed_is_measured_once_with_the_sink_name_and_its_outcome()
    {
        using var metrics = new PipelineMetrics();
        var fine = new RecordingSink("fine");
        var broken = new RecordingSink("broken") { Fail = (_, _) => new IOException("refused") };

        var measured = await RunAsync(metrics, null,
            new SinkBinding(fine, SinkPolicy.Default), new SinkBinding(broken, new SinkPolicy { OnFailure = FailurePolicy.Ignore }));

        // The broken sink's batches fail, then each of their events alone: every hand-over is one measurement.
        Assert.Equal(fine.Calls, measured.Count(m => m.Sink == "fine"));
        Assert.Equal(broken.Calls, measured.Count(m => m.Sink == "broken"));
        Assert.All(measured.Where(m => m.Sink == "fine"), m => Assert.Equal("delivered", m.Outcome));
        Assert.All(measured.Where(m => m.Sink == "broken"), m => Assert.Equal("failed", m.Outcome));
        Assert.All(measured, m => Assert.True(m.Seconds >= 0, $"negative duration {m.Seconds}"));
        Assert.Equal(2, measured.Select(m => m.Sink).Distinct().Count());
    }

    [Fact]
    public async Task The_duration_is_in_seconds_and_spans_the_sinks_work()
    {
        var clock = new ManualClock();
        using var metrics = new PipelineMetrics();

        // The sink "takes" 2.5 s per batch on a clock the test moves: the measurement must say exactly that.
        var slow = new RecordingSink("slow")
        {
            Gate = () =>
            {
                clock.Advance(TimeSpan.FromSeconds(2.5));
                return Task.CompletedTask;
            },
        };

        var measured = await RunAsync(metrics, clock, new SinkBinding(slow, SinkPolicy.Default));

        Assert.Equal(slow.Calls, measured.Count);
        Assert.All(measured, m => Assert.Equal(new Measured(2.5, "slow", "delivered"), m));
    }

    /// <summary>A clock that moves only when told (timestamps for elapsed time; Polly needs no timers here).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);
    }
}
