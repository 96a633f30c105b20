using Microsoft.Extensions.Logging;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>Writes log lines to the test output (captured per test), so a failing Kafka test shows what the clients saw.</summary>
internal sealed class TestLogger(string name) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {name}: {formatter(state, exception)}{(exception is null ? "" : " — " + exception.Message)}");
    }
}
