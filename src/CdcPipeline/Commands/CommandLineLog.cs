using Microsoft.Extensions.Logging;

namespace CdcPipeline.Commands;

/// <summary>
/// The warnings of what an operator command uses (a store's, a sink's: "both spellings of the table exist") as the
/// command's other lines on standard error, <c>{command}: {message}</c>; its own output stays on standard output.
/// Warnings and errors only: what a command did it says itself, and the operator reads each line once.
/// </summary>
internal sealed class CommandLineLog(string command, TextWriter error) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Writer(command, error);

    public void Dispose()
    {
    }

    private sealed class Writer(string command, TextWriter error) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel is >= LogLevel.Warning and < LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = $"{command}: {formatter(state, exception).ReplaceLineEndings(" ")}";
            // A sink may log from another thread while the command writes; a TextWriter is not safe for that.
            lock (error)
            {
                error.WriteLine(line);
            }
        }
    }
}
