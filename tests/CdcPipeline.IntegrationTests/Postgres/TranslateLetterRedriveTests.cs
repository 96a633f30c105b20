using System.Text.Json.Nodes;
using CdcPipeline.Commands;
using CdcPipeline.Postgres;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Hosting;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks.Failures;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// A change the embedded capture read from a real PostgreSQL and a rule failed on becomes a <c>translate</c> letter; once the
/// rule is fixed, <c>dlq redrive</c> delivers exactly the events <c>run</c> would have made of it with the fixed rule: the rules
/// see the timestamps, dates and NUMERICs the capture typed, not their JSON text.
/// </summary>
public sealed class TranslateLetterRedriveTests(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlq-typed-").FullName;
    private PostgresTestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("dlqtyped");

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_captured_change_a_rule_failed_on_is_redriven_into_the_events_run_would_have_made()
    {
        // Before: `after.shipped_at > after.ordered_at` compared two strings (an error) and `after.amount + 1` made "150.001".
        var ct = TestContext.Current.CancellationToken;
        await _db.ExecuteAsync($"""
            CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2) NOT NULL, ordered_at timestamp NOT NULL, shipped_at timestamp,
                                 ship_on date, paid_at timestamptz, qty smallint, rate float8, tags int[]);
            CREATE PUBLICATION {_db.Publication} FOR TABLE orders;
            """);
        const string Broken = """
            table: public.orders
            aggregate: Order
            key: id
            events:
              - type: OrderShipped
                when: after.shipped_at > after.ordered_at
                data:
                  total: after.amount + 1
                  shipOn: after.ship_on
                  paidAt: after.paid_at
                  qty: after.qty
                  rate: after.rate
                  tags: after.tags
                  missing: after.no_such_column
            """;
        var rules = Path.Combine(_dir, "rules");
        Directory.CreateDirectory(rules);
        await File.WriteAllTextAsync(Path.Combine(rules, "orders.yaml"), Broken, ct);
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: dlq-typed
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.orders]
                snapshot: never
                stateDirectory: state
            rules: rules
            sinks:
              - name: copy
                file: {"{"} path: out/events.jsonl {"}"}
            deadLetter:
              path: out/dead.jsonl
            """, ct);
        var letters = Path.Combine(_dir, "out", "dead.jsonl");

        // run's source and translator; the translator also keeps the change the capture handed it, to know what run would
        // have made of it with the fixed rule.
        var captured = new List<ChangeEvent>();
        var configuration = PipelineConfiguration.Load(config, _ => null);
        await using (var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider())
        {
            var plan = PipelineBuilder.Validate(configuration, services);
            var source = plan.SourceFactory.Create(plan.SourceContext);
            var copy = ConfiguredSinks.Create(configuration, services, "copy");
            var deadLetters = new JsonLinesDeadLetterQueue(letters);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var runner = new PipelineRunner(source, new Keeping(plan.Translator, captured), [copy], deadLetters, new PipelineRunnerOptions { MaxBatchSize = 1 });
            var run = runner.RunAsync(stop.Token);
            // Streaming, not just a slot row: the row exists while CREATE_REPLICATION_SLOT still waits for running transactions
            // (other tests' on this server), and a change committed before the slot's consistent point is not in it.
            await WaitAsync(() => Task.FromResult(((PgOutputChangeSource)source).IsConnected), "the source to stream");
            await _db.ExecuteAsync("""
                INSERT INTO orders VALUES (1, 150.00, '2024-03-01 10:00:00', '2024-03-02 09:30:00.25', '2024-03-05',
                                           '2024-03-01 10:00:00.5+02', 3, 1.0, '{1,NULL,3}')
                """);
            await WaitAsync(() => Task.FromResult(File.Exists(letters) && File.ReadAllText(letters).Contains('\n', StringComparison.Ordinal)), "the translate letter");
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(60), ct);
            await source.DisposeAsync();
            await copy.Sink.DisposeAsync();
            await deadLetters.DisposeAsync();
        }

        var letter = JsonNode.Parse(File.ReadAllLines(letters).Single())!;
        Assert.Equal("translate", letter["stage"]!.GetValue<string>());
        Assert.Equal("timestamp", letter["valueTypes"]!["after"]!["ordered_at"]!.GetValue<string>());
        var change = Assert.Single(captured);

        await File.WriteAllTextAsync(Path.Combine(rules, "orders.yaml"), Broken.Replace("\n      missing: after.no_such_column", "", StringComparison.Ordinal), ct);
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(["dlq", "redrive", "--config", config], output, errors, ct);
        Assert.True(exit == 0, $"exit {exit}: {output} {errors}");
        Assert.Contains("1 redriven, 0 failed again", errors.ToString(), StringComparison.Ordinal);

        var expected = new List<DomainEvent>();
        await using (var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider())
        {
            PipelineBuilder.Translator(PipelineConfiguration.Load(config, _ => null), services).Translate(change, expected);
        }

        var want = JsonNode.Parse(Core.Json.EventJson.Serialize(Assert.Single(expected)))!;
        var delivered = JsonNode.Parse(File.ReadAllLines(Path.Combine(_dir, "out", "events.jsonl")).Single())!;
        Assert.Equal(want["id"]!.GetValue<string>(), delivered["id"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(want["data"], delivered["data"]), $"data: run {want["data"]?.ToJsonString()}, redrive {delivered["data"]?.ToJsonString()}");
        Assert.Equal("151.00", delivered["data"]!["total"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_snapshot_row_a_rule_failed_on_is_redriven_and_translated_with_the_ids_run_gave_it()
    {
        // A snapshot row is named by its request, table, key and row, not by its position: its letter must carry that name,
        // or the redrive (and translate of the letter) would name it by the position and give other ids than run.
        var ct = TestContext.Current.CancellationToken;
        await _db.ExecuteAsync($"""
            CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2) NOT NULL);
            INSERT INTO orders VALUES (1, 150.00);
            CREATE PUBLICATION {_db.Publication} FOR TABLE orders;
            """);
        const string Broken = """
            table: public.orders
            aggregate: Order
            key: id
            events:
              - type: OrderRead
                when: op == "r"
                data:
                  total: after.amount
                  missing: after.no_such_column
            """;
        var rules = Path.Combine(_dir, "rules");
        Directory.CreateDirectory(rules);
        await File.WriteAllTextAsync(Path.Combine(rules, "orders.yaml"), Broken, ct);
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: dlq-snapshot
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.orders]
                snapshot: initial
                stateDirectory: state
            rules: rules
            sinks:
              - name: copy
                file: {"{"} path: out/events.jsonl {"}"}
            deadLetter:
              path: out/dead.jsonl
            """, ct);
        var letters = Path.Combine(_dir, "out", "dead.jsonl");
        var captured = new List<ChangeEvent>();
        var configuration = PipelineConfiguration.Load(config, _ => null);
        await using (var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider())
        {
            var plan = PipelineBuilder.Validate(configuration, services);
            var source = plan.SourceFactory.Create(plan.SourceContext);
            var copy = ConfiguredSinks.Create(configuration, services, "copy");
            var deadLetters = new JsonLinesDeadLetterQueue(letters);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var runner = new PipelineRunner(source, new Keeping(plan.Translator, captured), [copy], deadLetters, new PipelineRunnerOptions { MaxBatchSize = 1 });
            var run = runner.RunAsync(stop.Token);
            await WaitAsync(() => Task.FromResult(File.Exists(letters) && File.ReadAllText(letters).Contains('\n', StringComparison.Ordinal)), "the translate letter");
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(60), ct);
            await source.DisposeAsync();
            await copy.Sink.DisposeAsync();
            await deadLetters.DisposeAsync();
        }

        var change = Assert.Single(captured);
        Assert.Equal(ChangeOperation.Read, change.Operation);
        var letter = JsonNode.Parse(File.ReadAllLines(letters).Single())!;
        Assert.Equal(change.Origin, letter["origin"]?.GetValue<string>());

        var fixedRules = Broken.Replace("\n      missing: after.no_such_column", "", StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(rules, "orders.yaml"), fixedRules, ct);
        var expected = new List<DomainEvent>();
        await using (var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider())
        {
            PipelineBuilder.Translator(PipelineConfiguration.Load(config, _ => null), services).Translate(change, expected);
        }

        var want = Assert.Single(expected).Id;
        Assert.NotEqual(EventIds.For(change.Position, Assert.Single(expected).RuleId!), want); // named by its origin, not its position

        // translate of the letter file (the rule author's dry run) names it as run did too
        using (var input = File.OpenRead(letters))
        using (var translated = new MemoryStream())
        {
            var translateErrors = new StringWriter();
            var translateExit = await TranslateCommand.RunAsync(
                input, translated, translateErrors, Core.Debezium.DebeziumDecoderOptions.Default, Translators.Create(rules, "dlq-snapshot"), ct);
            Assert.True(translateExit == 0, $"exit {translateExit}: {translateErrors}");
            Assert.Equal(want, JsonNode.Parse(System.Text.Encoding.UTF8.GetString(translated.ToArray()).Trim())!["id"]!.GetValue<string>());
        }

        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(["dlq", "redrive", "--config", config], output, errors, ct);
        Assert.True(exit == 0, $"exit {exit}: {output} {errors}");
        Assert.Contains("1 redriven, 0 failed again", errors.ToString(), StringComparison.Ordinal);
        var delivered = JsonNode.Parse(File.ReadAllLines(Path.Combine(_dir, "out", "events.jsonl")).Single())!;
        Assert.Equal(want, delivered["id"]!.GetValue<string>());
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>The pipeline's translator, keeping each change it is handed.</summary>
    private sealed class Keeping(IChangeTranslator inner, List<ChangeEvent> kept) : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
        {
            lock (kept)
            {
                kept.Add(change);
            }

            inner.Translate(change, output);
        }
    }
}
