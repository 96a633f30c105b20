using Microsoft.Extensions.Logging;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>Routes the source's logs into the test's output, so a failing test shows what the source did.</summary>
public sealed class TestOutputLoggerFactory(LogLevel minimum = LogLevel.Information) : ILoggerFactory
{
    private readonly ITestOutputHelper? _output = TestContext.Current.TestOutputHelper;

    public List<string> Lines { get; } = [];

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(TestOutputLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner.Minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {formatter(state, exception)}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}";
            lock (owner.Lines)
            {
                owner.Lines.Add(line);
            }

            try
            {
                owner._output?.WriteLine(line);
            }
            catch (InvalidOperationException)
            {
                // the test already finished
            }
        }
    }

    private LogLevel Minimum { get; } = minimum;
}
