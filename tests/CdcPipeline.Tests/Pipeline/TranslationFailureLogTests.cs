using System.Collections.Concurrent;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Outbox;
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
    private const string RowId = "6f0e8f4e-3c1a-4f53-9c39-5b1e0f4f9a01";

    private static async Task<(RecordedLogs Logs, RecordingDeadLetterQueue Dlq)> RunAsync(IChangeTranslator translator, LogLevel minimum = LogLevel.Information, ChangeEvent? change = null)
    {
        var source = new InMemoryChangeSource();
        source.Add(change ?? InMemoryChangeSource.Change(1, "K1", "S"));
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
    // a method of a null value (a nullable column, here the absent before image): before, "Object reference not set to an
    // instance of an object." logged as a bug in our code, with its stack trace, and "Cannot perform runtime binding on a null reference"
    [InlineData("before.ord_sts_cd.ToString()", "a method or member of a null value (a column that is NULL in this change): test it first")]
    [InlineData("before.ord_sts_cd.StartsWith(\"S\")", "a method or member of a null value (a column that is NULL in this change): test it first")]
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

    /// <summary>
    /// A .NET method a rule calls on a value that is there (not NULL) and that refuses its arguments: the rule meeting the data
    /// (a code shorter than the rule expects, a NULL argument), not a bug of ours. It was logged as one, with its stack trace.
    /// </summary>
    [Theory]
    [InlineData("after.ord_sts_cd.Contains(before.ord_sts_cd)", "Contains()", "ArgumentNullException")] // late bound
    [InlineData("text(after.ord_no).Contains(text(before.ord_no))", "Contains()", "ArgumentNullException")] // bound at load
    [InlineData("after.ord_sts_cd.CompareTo(5)", "CompareTo()", "ArgumentException")]
    public async Task A_dotnet_method_a_rule_calls_that_throws_is_logged_in_one_line_naming_the_method(string expression, string method, string exception)
    {
        var (logs, dlq) = await RunAsync(Rule(expression));

        Assert.Single(dlq.Letters);
        var record = Assert.Single(logs.Records, r => r.EventId == 1010);
        Assert.Null(record.Exception);
        Assert.Equal(typeof(RuleEvaluationException).FullName, record.Fields["ExceptionType"]);
        Assert.Equal("orders#Probe", record.Fields["Rule"]);
        Assert.Contains($"`{expression}`", record.Message, StringComparison.Ordinal);
        Assert.Contains($"{method} threw {exception}: ", record.Message, StringComparison.Ordinal);
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

    /// <summary>
    /// The outbox translator's refusals of a row are the data's fault, not ours: they were logged with a stack trace, as a bug
    /// is. Each names table, row, column, what is wrong and what to do, in one line.
    /// </summary>
    [Theory]
    [InlineData("null-type", "column 'type' is null in row id '" + RowId + "'", "fix the service writing the outbox")]
    [InlineData("payload-not-json", "column 'payload' of row id '" + RowId + "' at slot@1:0 is not JSON", "outbox.expandJsonPayload: false")]
    [InlineData("empty-id", "column 'id' is empty in a row without id", "must not be empty")]
    [InlineData("update", "row id '" + RowId + "' was updated at slot@1", "outbox.invalidOperation: warn")]
    [InlineData("missing-column", "has no column 'event_type' (row id '" + RowId + "' at slot@1", "fix outbox.fields")]
    public async Task An_outbox_row_the_outbox_cannot_make_an_event_of_is_logged_in_one_line_without_a_stack_trace(string @case, string what, string todo)
    {
        var options = new OutboxOptions { InvalidOperation = "error" };
        if (@case == "missing-column")
        {
            options.Fields.Type = "event_type";
        }

        var (id, type, payload, operation) = @case switch
        {
            "null-type" => ((object?)RowId, (object?)null, (object?)"{}", ChangeOperation.Create),
            "payload-not-json" => (RowId, "OrderPlaced", "order 1001 placed", ChangeOperation.Create),
            "empty-id" => ("", "OrderPlaced", "{}", ChangeOperation.Create),
            "update" => (RowId, "OrderPlaced", "{}", ChangeOperation.Update),
            _ => (RowId, "OrderPlaced", "{}", ChangeOperation.Create),
        };
        var row = Row.From(("id", id), ("aggregatetype", "Order"), ("aggregateid", "1001"), ("type", type), ("payload", payload));
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = operation,
            Source = new SourceInfo { Schema = "public", Table = "outbox", Lsn = 1 },
            Position = new SourcePosition("slot", 1),
            Key = Row.From(("id", id)),
            After = row,
        };

        var (logs, dlq) = await RunAsync(new OutboxRoutingTranslator(new OutboxTranslator("orders", options), new PassthroughTranslator("orders")), change: change);

        Assert.Equal("translate", Assert.Single(dlq.Letters).Stage);
        var record = Assert.Single(logs.Records, r => r.EventId == 1010);
        Assert.Null(record.Exception);
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Equal(typeof(RuleEvaluationException).FullName, record.Fields["ExceptionType"]);
        Assert.Equal(OutboxTranslator.RuleId, record.Fields["Rule"]);
        Assert.Contains("outbox table public.outbox", record.Message, StringComparison.Ordinal);
        Assert.Contains(what, record.Message, StringComparison.Ordinal);
        Assert.Contains(todo, record.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', record.Message);
    }

    [Fact]
    public async Task An_event_with_an_extension_name_cloudevents_cannot_carry_is_logged_in_one_line_without_a_stack_trace()
    {
        var (logs, dlq) = await RunAsync(new UpperCaseExtension());

        Assert.Single(dlq.Letters);
        var record = Assert.Single(logs.Records, r => r.EventId == 1010);
        Assert.Null(record.Exception);
        Assert.Equal(typeof(RuleEvaluationException).FullName, record.Fields["ExceptionType"]);
        Assert.Equal("orders#Probe", record.Fields["Rule"]);
        Assert.Contains("event Probe (e-1) of rule orders#Probe", record.Message, StringComparison.Ordinal);
        Assert.Contains("'Tenant'", record.Message, StringComparison.Ordinal);
        Assert.Contains("the translator that made it must name", record.Message, StringComparison.Ordinal);
    }

    /// <summary>A C# translator naming an extension attribute the way CloudEvents forbids (upper case).</summary>
    private sealed class UpperCaseExtension : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) => output.Add(new DomainEvent
        {
            Id = "e-1",
            Type = "Probe",
            Source = "/test",
            Position = change.Position,
            Change = change,
            RuleId = "orders#Probe",
            Extensions = new Dictionary<string, string> { ["Tenant"] = "acme" },
        });
    }

    private sealed class Throwing(Exception error) : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) => throw error;
    }

    internal sealed class RecordedLogs(LogLevel minimum) : ILoggerFactory, ILogger
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
