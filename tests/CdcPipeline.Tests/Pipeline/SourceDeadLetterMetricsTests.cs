using System.Diagnostics.Metrics;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Pipeline;

/// <summary>
/// A source sets records aside too (a Kafka record it cannot decode): those dead letters must count in
/// <c>cdc.events.dead_lettered</c> like the runner's own, or an alert on that counter never sees poison records.
/// </summary>
public sealed class SourceDeadLetterMetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlqmetrics-").FullName;

    [Fact]
    public async Task A_dead_letter_the_source_writes_counts_in_the_dead_lettered_counter_with_its_stage()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(path, "name: x\nsource:\n  capturing: {}\nsinks:\n  - name: a\n    file: { path: out/e.jsonl }\n", TestContext.Current.CancellationToken);
        var factory = new CapturingSourceFactory();
        await using var services = new ServiceCollection()
            .AddCdcCore()
            .AddSingleton<ISourceFactory>(factory)
            .AddSingleton<ITranslatorProvider, PassThrough>()
            .BuildServiceProvider();
        var metrics = services.GetRequiredService<PipelineMetrics>();
        var counted = new List<(long Value, object? Stage)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, metrics.EventsDeadLettered))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (ReferenceEquals(instrument, metrics.EventsDeadLettered))
            {
                var stage = tags.ToArray().FirstOrDefault(t => t.Key == "stage").Value;
                lock (counted)
                {
                    counted.Add((value, stage));
                }
            }
        });
        listener.Start();

        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);
        await factory.Context!.DeadLetters!.WriteAsync(
            new DeadLetter
            {
                Stage = "decode",
                Error = "not Avro",
                Position = SourcePosition.ForKafka("t", 0, 7),
                Payload = new byte[] { 1, 2, 3 },
                FailedAt = DateTimeOffset.UnixEpoch,
                Attempts = 1,
            },
            TestContext.Current.CancellationToken);

        lock (counted)
        {
            Assert.Equal([(1L, (object?)"decode")], counted);
        }

        Assert.True(File.Exists(Path.Combine(_dir, "out", "dead-letters.jsonl")), "the letter itself still reaches the queue");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class CapturingSourceFactory : ISourceFactory
    {
        public string Kind => "capturing";

        public PipelineComponentContext? Context { get; private set; }

        public IChangeSource Create(PipelineComponentContext context)
        {
            Context = context;
            return new InMemoryChangeSource();
        }
    }

    private sealed class PassThrough : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => new StatusTranslator();
    }
}
