using System.Collections.Concurrent;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.Tests.Support;
using CdcPipeline.Tests.Translation;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Tests.Pipeline;

/// <summary>
/// How the runner logs a change it cannot translate (event 1010): the rules' own verdict on the data in one line, a bug with
/// its stack trace.
/// </summary>
public sealed class TranslationFailureLogTests
{
    private static async Task<(RecordedLogs Logs, RecordingDeadLetterQueue Dlq)> RunAsync(IChangeTranslator translator, LogLevel minimum = LogLevel.Information)
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K1", "S"));
        source.Complete();
        var logs = new RecordedLogs(minimum);
        var dlq = new RecordingDeadLetterQueue();
        var runner = new PipelineRunner(source, translator, [new SinkBinding(new RecordingSink("a"), SinkPolicy.Default)], dlq,
            new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7 }, new Logger<PipelineRunner>(logs));
        await runner.RunAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        return (logs, dlq);
    }

    private static RuleTranslator Rule(string data) => RuleFiles.Translator($"""
        table: public.tb_ord_mst
        events:
          - type: Probe
            data:
              f: '{data}'
        """);

    [Theory]
    [InlineData("integer(after.ord_sts_cd)", "integer(): cannot convert")] // a conversion the data does not allow
    [InlineData("after.no_such_column", "no_such_column")] // a template naming a column the row does not have
    [InlineData("after.ord_sts_cd * 2", "`after.ord_sts_cd * 2`")] // a type error of the expression on this row
    public async Task A_rule_failing_on_the_data_is_logged_in_one_line_without_a_stack_trace(string expression, string cause)
    {
        var (logs, dlq) = await RunAsync(Rule(expression));

        Assert.Single(dlq.Letters);
        var record = Assert.Single(logs.Records, r => r.EventId == 1010);
        Assert.Null(record.Exception);
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Equal(typeof(RuleEvaluationException).FullName, record.Fields["ExceptionType"]);
        Assert.Equal("orders#Probe", record.Fields["Rule"]);
        Assert.Contains("public.tb_ord_mst", record.Message, StringComparison.Ordinal);
        Assert.Contains("slot@1", record.Message, StringComparison.Ordinal);
        Assert.Contains("orders#Probe", record.Message, StringComparison.Ordinal);
        Assert.Contains(cause, record.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', record.Message);
    }

    [Fact]
    public async Task With_debug_logs_a_rule_failure_keeps_its_stack_trace()
    {
        var (logs, _) = await RunAsync(Rule("integer(after.ord_sts_cd)"), LogLevel.Debug);

        Assert.IsType<RuleEvaluationException>(Assert.Single(logs.Records, r => r.EventId == 1010).Exception);
    }

    [Fact]
    public async Task A_bug_in_a_translator_is_logged_with_its_stack_trace()
    {
        var (logs, dlq) = await RunAsync(new Throwing(new NullReferenceException()));
        Assert.Single(dlq.Letters);
        Assert.IsType<NullReferenceException>(Assert.Single(logs.Records, r => r.EventId == 1010).Exception);

        // The rule engine wraps whatever an expression throws; a bug under that wrapper is still a bug.
        (logs, _) = await RunAsync(new Throwing(new RuleEvaluationException("orders.yaml:5: rule orders#Probe, data failed", new NullReferenceException()) { RuleId = "orders#Probe" }));
        Assert.IsType<RuleEvaluationException>(Assert.Single(logs.Records, r => r.EventId == 1010).Exception);
    }

    private sealed class Throwing(Exception error) : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) => throw error;
    }

    private sealed class RecordedLogs(LogLevel minimum) : ILoggerFactory, ILogger
    {
        private readonly ConcurrentQueue<(LogLevel Level, int EventId, string Message, Dictionary<string, object?> Fields, Exception? Exception)> _records = new();

        public IReadOnlyList<(LogLevel Level, int EventId, string Message, Dictionary<string, object?> Fields, Exception? Exception)> Records => _records.ToArray();

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var fields = state is IEnumerable<KeyValuePair<string, object?>> values ? values.ToDictionary(v => v.Key, v => v.Value) : [];
                _records.Enqueue((logLevel, eventId.Id, formatter(state, exception), fields, exception));
            }
        }

        public void Dispose()
        {
        }
    }
}
