using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>Drives real sinks through the real <see cref="PipelineRunner"/> from an in-memory source.</summary>
public static class SinkHarness
{
    public static readonly SinkPolicy FastRetry = new() { MaxAttempts = 5, InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) };

    /// <summary>Retry until it succeeds: a dead sink holds the pipeline back and loses nothing.</summary>
    public static readonly SinkPolicy RetryForever = new() { MaxAttempts = 0, InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(500) };

    /// <summary>Changes 1..count on <paramref name="keys"/> keys (K0…), status "S&lt;i&gt;" unless <paramref name="status"/> says otherwise.</summary>
    public static InMemoryChangeSource Source(int count, int keys, Func<int, string>? status = null, bool complete = true)
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= count; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + (i % keys), status?.Invoke(i) ?? "S"));
        }

        if (complete)
        {
            source.Complete();
        }

        return source;
    }

    public static PipelineRunner Runner(InMemoryChangeSource source, IDeadLetterQueue deadLetters, IFailureStore? failureStore = null, int batch = 100, ILoggerFactory? logs = null, params SinkBinding[] sinks) =>
        new(source, new StatusTranslator(), sinks, deadLetters, new PipelineRunnerOptions { BufferCapacity = 256, MaxBatchSize = batch },
            logs?.CreateLogger<PipelineRunner>(), failureStore: failureStore);

    public static async Task RunToEndAsync(PipelineRunner runner, TimeSpan? timeout = null) =>
        await runner.RunAsync(TestContext.Current.CancellationToken).WaitAsync(timeout ?? TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

    /// <summary>The domain event the test translator makes of change <paramref name="i"/>.</summary>
    public static DomainEvent Event(long i, string key, string status = "S")
    {
        var output = new List<DomainEvent>(1);
        new StatusTranslator().Translate(InMemoryChangeSource.Change(i, key, status), output);
        return output[0];
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds} s waiting for {what}");
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Keeps the first occurrence of each id (at-least-once delivery may repeat a retried batch).</summary>
    public static List<T> FirstOccurrences<T>(IEnumerable<T> items, Func<T, string> id)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return items.Where(i => seen.Add(id(i))).ToList();
    }

    /// <summary>Asserts every key's positions appear in increasing order.</summary>
    public static void AssertOrderedPerKey(IEnumerable<(string Key, long Position)> delivered)
    {
        foreach (var group in delivered.GroupBy(d => d.Key))
        {
            var positions = group.Select(g => g.Position).ToArray();
            Assert.True(positions.SequenceEqual(positions.Order()), $"key {group.Key}: positions out of order");
        }
    }

    /// <summary>Event id → source position (major) of what <see cref="Source"/> produces with status "S".</summary>
    public static Dictionary<string, long> Positions(int count, int keys, string status = "S") =>
        Enumerable.Range(1, count).ToDictionary(i => Event(i, "K" + (i % keys), status).Id, i => (long)i, StringComparer.Ordinal);
}
