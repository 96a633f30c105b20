using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Tests.Pipeline;

/// <summary>
/// When a part built after the sinks fails (the source, the dead-letter queue), the sinks already built are closed
/// before the builder returns: a sink's close is asynchronous (a RabbitMQ connection, a Kafka flush, a spool lock), and
/// a start that fails must not leave it holding its resource while the process exits or the next start tries again.
/// </summary>
public sealed class PipelineBuilderCleanupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-buildclean-").FullName;

    [Fact]
    public async Task A_failed_build_returns_only_after_the_built_sinks_closed_and_throws_its_own_error()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(
            path,
            "name: x\nsource:\n  failing: {}\nsinks:\n  - name: slow\n    slowclose: {}\n  - name: broken\n    brokenclose: {}\n  - name: late\n    slowclose: {}\n",
            TestContext.Current.CancellationToken);
        var slow = new SlowCloseSinkFactory();
        var logs = new RecordingLoggerProvider();
        await using var services = new ServiceCollection()
            .AddCdcCore()
            .AddLogging(b => b.AddProvider(logs))
            .AddSingleton<ISourceFactory>(new FailingSourceFactory())
            .AddSingleton<ISinkFactory>(slow)
            .AddSingleton<ISinkFactory>(new BrokenCloseSinkFactory())
            .AddSingleton<ITranslatorProvider, PassThrough>()
            .BuildServiceProvider();
        var returned = new TaskCompletionSource();

        // Each slow sink finishes closing once the builder returned; a builder that waits for it is let go after a while.
        _ = Task.Run(async () =>
        {
            await Task.WhenAny(returned.Task, Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken));
            slow.Release();
        }, TestContext.Current.CancellationToken);
        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));
        var closedWhenReturned = slow.Sinks.Select(s => s.Closed).ToList();
        returned.SetResult();

        Assert.Contains("no broker for this source", error.Message, StringComparison.Ordinal);
        Assert.Equal(["slow", "late"], slow.Sinks.Select(s => s.Name));
        Assert.Equal([true, true], closedWhenReturned);
        var logged = Assert.Single(logs.Entries, e => e.Exception is InvalidOperationException { Message: "spool lock could not be released" });
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.Contains("broken", logged.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class FailingSourceFactory : ISourceFactory
    {
        public string Kind => "failing";

        public IChangeSource Create(PipelineComponentContext context) =>
            throw new ConfigurationException("source:failing", "no broker for this source", context.Locations);
    }

    private sealed class SlowCloseSinkFactory : ISinkFactory
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Kind => "slowclose";

        public List<SlowCloseSink> Sinks { get; } = [];

        public void Release() => _release.TrySetResult();

        public ISink Create(PipelineComponentContext context)
        {
            var sink = new SlowCloseSink(context.Name, _release.Task);
            Sinks.Add(sink);
            return sink;
        }
    }

    private sealed class SlowCloseSink(string name, Task release) : ISink
    {
        private volatile bool _closed;

        public string Name => name;

        public bool Closed => _closed;

        public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public async ValueTask DisposeAsync()
        {
            await release;
            _closed = true;
        }
    }

    private sealed class BrokenCloseSinkFactory : ISinkFactory
    {
        public string Kind => "brokenclose";

        public ISink Create(PipelineComponentContext context) => new BrokenCloseSink(context.Name);
    }

    private sealed class BrokenCloseSink(string name) : ISink
    {
        public string Name => name;

        public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public async ValueTask DisposeAsync()
        {
            await Task.Yield();
            throw new InvalidOperationException("spool lock could not be released");
        }
    }

    private sealed class PassThrough : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => new StatusTranslator();
    }

    private sealed class RecordingLoggerProvider : ILoggerProvider
    {
        private readonly List<(LogLevel Level, string Message, Exception? Exception)> _entries = [];

        public IReadOnlyList<(LogLevel Level, string Message, Exception? Exception)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return _entries.ToList();
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => new Recorder(this);

        public void Dispose()
        {
        }

        private sealed class Recorder(RecordingLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (provider._entries)
                {
                    provider._entries.Add((logLevel, formatter(state, exception), exception));
                }
            }
        }
    }
}
