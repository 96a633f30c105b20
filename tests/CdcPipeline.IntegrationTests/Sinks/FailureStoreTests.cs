using System.CommandLine;
using System.Text.Json;
using CdcPipeline.Consumer;
using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks;
using CdcPipeline.Sinks.Batch;
using CdcPipeline.Sinks.Failures;
using CdcPipeline.Sinks.Webhook;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>
/// <c>onFailure: log</c>: failed deliveries land in the PostgreSQL failure table while the rest flow;
/// <c>failures list</c> shows them and <c>failures resend</c> delivers them through the configured sink.
/// </summary>
public sealed class FailureStoreTests(PostgresFixture fixture) : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-failures-").FullName;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("failures");

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string WriteConfig(string webhookUrl)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, $"""
            name: failures-test
            source:
              memory: {"{}"}
            failures:
              connectionString: "{_db.ConnectionString}"
              table: ops.delivery_failures
            sinks:
              - name: hook
                webhook: {"{"} url: "{webhookUrl}", secret: "${"{"}HOOK_SECRET:-abc{"}"}", timeout: "00:00:05" {"}"}
                onFailure: log
            """);
        return path;
    }

    [Fact]
    public async Task Failed_deliveries_are_recorded_listed_and_resent_through_the_configured_sink()
    {
        await _db.ExecuteAsync("CREATE SCHEMA ops");
        var rejecting = true;
        await using var receiver = new WebhookReceiver { Respond = (r, _) => (rejecting && r.Json.GetProperty("subject").GetString() == "K2" ? 500 : 200, TimeSpan.Zero) };
        var configuration = PipelineConfiguration.Load(WriteConfig(receiver.Url));
        var store = SinksServiceCollectionExtensions.TryCreateFailureStore(configuration)!;
        await using var _s = store;
        await using var services = new ServiceCollection().AddCdcCore().AddCdcSinks().BuildServiceProvider();
        var hook = ConfiguredSinks.Create(configuration, services, "hook");
        Assert.Equal(FailurePolicy.Log, hook.Policy.OnFailure);

        // K2's events fail (500) and are logged; everything else is delivered, the pipeline goes on
        var source = SinkHarness.Source(12, 4);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, store, batch: 5, sinks: hook));
        await hook.Sink.DisposeAsync();

        Assert.Empty(dlq.Letters);
        Assert.Equal(12L, source.Acknowledged.Last().Major);
        var failed = await store.ListAsync(FailureStatus.Failed, null, null, 100, TestContext.Current.CancellationToken);
        var expected = new[] { 2, 6, 10 }.Select(i => SinkHarness.Event(i, "K2")).ToList();
        Assert.Equal(expected.Select(e => e.Id), failed.Select(f => f.EventId));
        Assert.All(failed, f =>
        {
            Assert.Equal("hook", f.Sink);
            Assert.Equal("failures-test", f.Pipeline);
            Assert.Equal(FailureStatus.Failed, f.Status);
            Assert.Equal(1, f.Attempts);
            Assert.Contains("500", f.LastError, StringComparison.Ordinal);
        });
        Assert.Equal(EventJson.Serialize(expected[0]), failed[0].Payload);
        Assert.Equal(9, SinkHarness.FirstOccurrences(receiver.Accepted, r => r.Json.GetProperty("id").GetString()!).Count);

        // the failure table has the documented columns
        var columns = await _db.QueryAsync("SELECT column_name FROM information_schema.columns WHERE table_schema = 'ops' AND table_name = 'delivery_failures'");
        Assert.Superset(new HashSet<string> { "id", "sink", "event_id", "type", "payload", "created_at", "status", "attempts", "last_error" }, columns.Select(c => (string)c[0]!).ToHashSet());

        // resend one by id while the receiver still fails: attempts go up, status stays failed
        var config = configuration.FilePath;
        Assert.Equal(1, await InvokeAsync("failures", "resend", "--config", config, "--id", failed[0].Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var afterFirst = await store.ListAsync(null, null, [failed[0].Id], 10, TestContext.Current.CancellationToken);
        Assert.Equal((FailureStatus.Failed, 2), (afterFirst[0].Status, afterFirst[0].Attempts));

        // the receiver recovers: resend --all delivers all three, in the order they were recorded
        rejecting = false;
        var before = receiver.Requests.Count;
        Assert.Equal(0, await InvokeAsync("failures", "resend", "--config", config, "--all"));
        var resent = receiver.Requests.Skip(before).ToList();
        Assert.Equal(expected.Select(e => e.Id), resent.Select(r => r.Json.GetProperty("id").GetString()));
        Assert.Equal(expected.Select(EventJson.Serialize), resent.Select(r => r.Text));
        Assert.All(resent, r => Assert.True(WebhookSignature.Verify("abc", r.Header(WebhookSignature.TimestampHeader)!, r.Header(WebhookSignature.SignatureHeader)!, r.Body)));
        var final = await store.ListAsync(null, null, null, 100, TestContext.Current.CancellationToken);
        Assert.All(final, f => Assert.Equal(FailureStatus.Resent, f.Status));
        Assert.Equal([3, 2, 2], final.Select(f => f.Attempts));
        Assert.Empty(await store.ListAsync(FailureStatus.Failed, null, null, 100, TestContext.Current.CancellationToken));

        // nothing left to resend; list runs
        Assert.Equal(0, await InvokeAsync("failures", "resend", "--config", config, "--all"));
        Assert.Equal(0, await InvokeAsync("failures", "list", "--config", config, "--status", "resent", "--json"));
    }

    [Fact]
    public async Task Resend_to_a_batch_sink_whose_spool_the_running_pipeline_holds_is_refused_and_the_failure_kept()
    {
        var path = Path.Combine(_dir, "batch.yaml");
        await File.WriteAllTextAsync(path, $"""
            name: failures-batch
            source:
              memory: {"{}"}
            failures:
              connectionString: "{_db.ConnectionString}"
            sinks:
              - name: export
                batch: {"{"} spool: b/spool, target: {"{"} directory: b/outgoing {"}"} {"}"}
                onFailure: log
            """, TestContext.Current.CancellationToken);
        var configuration = PipelineConfiguration.Load(path);
        var store = SinksServiceCollectionExtensions.TryCreateFailureStore(configuration)!;
        await using var _s = store;
        await store.RecordAsync("export", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, TestContext.Current.CancellationToken);
        var spool = Path.Combine(_dir, "b", "spool");

        // The running pipeline's batch sink: resending through a second one would append to its spool files from another process.
        await using var services = new ServiceCollection().AddCdcCore().AddCdcSinks().AddCdcBatch().BuildServiceProvider();
        var running = ConfiguredSinks.Create(configuration, services, "export");
        try
        {
            Assert.Equal(1, await InvokeAsync("failures", "resend", "--config", path, "--all"));
            var kept = Assert.Single(await store.ListAsync(null, null, null, 10, TestContext.Current.CancellationToken));
            Assert.Equal((FailureStatus.Failed, 1), (kept.Status, kept.Attempts));
            Assert.Empty(Directory.GetFiles(spool, "*.spool"));
        }
        finally
        {
            await running.Sink.DisposeAsync();
        }

        // Stopped: the resend goes into the spool, and the next run closes it as the sink's batch.
        Assert.Equal(0, await InvokeAsync("failures", "resend", "--config", path, "--all"));
        Assert.Single(Directory.GetFiles(spool, "*.spool"));
    }

    [Fact]
    public async Task Resend_to_a_file_sink_whose_file_the_running_pipeline_writes_is_refused_and_the_failure_kept()
    {
        // It appended to the file beside the running pipeline, interleaving their lines.
        var path = Path.Combine(_dir, "file.yaml");
        await File.WriteAllTextAsync(path, $"""
            name: failures-file
            source:
              memory: {"{}"}
            failures:
              connectionString: "{_db.ConnectionString}"
            sinks:
              - name: audit
                file: {"{"} path: out/events.jsonl {"}"}
                onFailure: log
            """, TestContext.Current.CancellationToken);
        var configuration = PipelineConfiguration.Load(path);
        var store = SinksServiceCollectionExtensions.TryCreateFailureStore(configuration)!;
        await using var _s = store;
        await store.RecordAsync("audit", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, TestContext.Current.CancellationToken);
        var events = Path.Combine(_dir, "out", "events.jsonl");

        // The running pipeline's file sink.
        await using var services = new ServiceCollection().AddCdcCore().AddCdcSinks().BuildServiceProvider();
        var running = ConfiguredSinks.Create(configuration, services, "audit");
        try
        {
            Assert.Equal(1, await InvokeAsync("failures", "resend", "--config", path, "--all"));
            var kept = Assert.Single(await store.ListAsync(null, null, null, 10, TestContext.Current.CancellationToken));
            Assert.Equal((FailureStatus.Failed, 1), (kept.Status, kept.Attempts));
            Assert.False(File.Exists(events) && new FileInfo(events).Length > 0, "the resend wrote to the file the pipeline holds");
        }
        finally
        {
            await running.Sink.DisposeAsync();
        }

        // Stopped: the resend writes the file.
        Assert.Equal(0, await InvokeAsync("failures", "resend", "--config", path, "--all"));
        Assert.Single(await File.ReadAllLinesAsync(events, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_database_error_while_resend_marks_a_row_is_one_line_and_exit_1_not_a_stack_trace()
    {
        // The failure table became read-only after the rows were listed (a failover to a standby): the UPDATE that marks a
        // row resent failed and the command died with PostgresException's unhandled stack trace.
        var path = Path.Combine(_dir, "readonly.yaml");
        await File.WriteAllTextAsync(path, $"""
            name: failures-readonly
            source:
              memory: {"{}"}
            failures:
              connectionString: "{_db.ConnectionString}"
              table: cdc_failures
            sinks:
              - name: out
                file: {"{"} path: out/events.jsonl {"}"}
                onFailure: log
            """, TestContext.Current.CancellationToken);
        var configuration = PipelineConfiguration.Load(path);
        var store = SinksServiceCollectionExtensions.TryCreateFailureStore(configuration)!;
        await using var _s = store;
        await store.RecordAsync("out", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, TestContext.Current.CancellationToken);
        await _db.ExecuteAsync("""
            CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'cannot execute UPDATE in a read-only transaction' USING ERRCODE = 'read_only_sql_transaction'; END $$;
            CREATE TRIGGER refuse_update BEFORE UPDATE ON cdc_failures FOR EACH ROW EXECUTE FUNCTION refuse_update();
            """);
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["failures", "resend", "--config", path, "--all"], output, error, TestContext.Current.CancellationToken);

        Assert.True(exit == 1, $"exit {exit}: {error}");
        var said = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("failures resend: cannot use the failure table cdc_failures", said, StringComparison.Ordinal);
        Assert.Contains("read-only transaction", said, StringComparison.Ordinal);
        Assert.Contains($"failures.connectionString ({path}:5)", said, StringComparison.Ordinal);
        var kept = Assert.Single(await store.ListAsync(null, null, null, 10, TestContext.Current.CancellationToken));
        Assert.Equal(FailureStatus.Failed, kept.Status);
    }

    [Fact]
    public async Task The_same_event_failing_again_bumps_attempts_instead_of_adding_a_row()
    {
        var store = new PostgresFailureStore(new FailureStoreOptions { ConnectionString = _db.ConnectionString }, "p");
        await using var _s = store;
        var e = SinkHarness.Event(1, "K1");
        await store.RecordAsync("s", e, new IOException("first"), 3, TestContext.Current.CancellationToken);
        await store.RecordAsync("s", e, new IOException("second"), 2, TestContext.Current.CancellationToken);

        var row = Assert.Single(await store.ListAsync(null, null, null, 10, TestContext.Current.CancellationToken));
        Assert.Equal(5, row.Attempts);
        Assert.Equal("IOException: second", row.LastError);
    }

    private PostgresFailureStore Store(string table, string? configured = null)
    {
        // Through the configuration, as the pipeline and the failures command build it.
        var path = Path.Combine(_dir, "store.yaml");
        File.WriteAllText(path, $"""
            name: p
            source:
              memory: {"{}"}
            failures:
              connectionString: "{_db.ConnectionString}"
              table: {configured ?? table}
            sinks:
              - name: out
                file: {"{"} path: out/events.jsonl {"}"}
                onFailure: log
            """);
        return SinksServiceCollectionExtensions.TryCreateFailureStore(PipelineConfiguration.Load(path))!;
    }

    [Fact]
    public async Task The_failure_table_is_named_as_the_postgres_sinks_table_plain_folds_and_quoted_keeps_its_case()
    {
        // table: Ops.Delivery_Failures was quoted as written ("Ops"."Delivery_Failures") while the sink's table: Orders is orders.
        await _db.ExecuteAsync("CREATE SCHEMA ops; CREATE SCHEMA \"Sales Dept\"");
        var ct = TestContext.Current.CancellationToken;
        await using (var store = Store("Ops.Delivery_Failures"))
        {
            await store.RecordAsync("out", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, ct);
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM ops.delivery_failures"));

        await using (var store = Store("", "'\"Sales Dept\".\"Failures\"'"))
        {
            await store.RecordAsync("out", SinkHarness.Event(2, "K2"), new IOException("disk full"), 1, ct);
            Assert.Single(await store.ListAsync(null, null, null, 10, ct));
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Sales Dept\".\"Failures\""));
    }

    [Fact]
    public async Task A_failure_table_an_earlier_version_created_with_the_name_quoted_as_written_is_not_silently_replaced()
    {
        // Earlier versions made table: Failures the table "Failures". Folded, it means failures: recording into (and listing from)
        // a new, empty failures would hide what was recorded. Refused, by the pipeline and by the failures command, saying how to go on.
        var ct = TestContext.Current.CancellationToken;
        await using (var seed = Store("seed"))
        {
            await seed.RecordAsync("out", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, ct);
        }

        await _db.ExecuteAsync("ALTER TABLE seed RENAME TO \"Failures\"");
        await using (var store = Store("Failures"))
        {
            var error = await Assert.ThrowsAnyAsync<Npgsql.NpgsqlException>(async () => await store.RecordAsync("out", SinkHarness.Event(2, "K2"), new IOException("disk full"), 1, ct));
            Assert.Contains("ALTER TABLE \"Failures\" RENAME TO \"failures\"", error.Message, StringComparison.Ordinal);
            Assert.Contains("table: '\"Failures\"'", error.Message, StringComparison.Ordinal);
            Assert.Contains($"failures.table: Failures ({Path.Combine(_dir, "store.yaml")}:6)", error.Message, StringComparison.Ordinal);
        }

        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(["failures", "list", "--config", Path.Combine(_dir, "store.yaml")], output, errors, ct);
        Assert.True(exit == 1, $"exit {exit}: {errors}");
        Assert.Contains("ALTER TABLE \"Failures\" RENAME TO \"failures\"", errors.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
        Assert.False(await _db.ScalarAsync<bool>("SELECT to_regclass('failures') IS NOT NULL"));

        // Kept by writing the name quoted, what was recorded is there.
        await using (var store = Store("", "'\"Failures\"'"))
        {
            Assert.Equal(SinkHarness.Event(1, "K1").Id, Assert.Single(await store.ListAsync(null, null, null, 10, ct)).EventId);
        }

        // Renamed as the error says, the plain name goes on with the same rows.
        await _db.ExecuteAsync("ALTER TABLE \"Failures\" RENAME TO failures");
        await using (var store = Store("Failures"))
        {
            await store.RecordAsync("out", SinkHarness.Event(2, "K2"), new IOException("disk full"), 1, ct);
            Assert.Equal(2, (await store.ListAsync(null, null, null, 10, ct)).Count);
        }
    }

    [Fact]
    public async Task A_failure_table_of_an_earlier_version_beside_the_one_written_now_is_warned_about_once()
    {
        // "Failures" (an earlier version's table: Failures) and failures both there: the store records into failures and what the
        // earlier version recorded stays in "Failures", unlisted. Warned once, by the store the pipeline's container hands out.
        var ct = TestContext.Current.CancellationToken;
        await using (var seed = Store("seed"))
        {
            await seed.RecordAsync("out", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, ct);
        }

        await _db.ExecuteAsync("ALTER TABLE seed RENAME TO \"Failures\"");
        await using (var plain = Store("failures"))
        {
            await plain.RecordAsync("out", SinkHarness.Event(2, "K2"), new IOException("disk full"), 1, ct);
        }

        await Store("Failures").DisposeAsync();
        var recorder = new WarningRecorder<PostgresFailureStore>();
        await using (var services = new ServiceCollection()
            .AddSingleton<Microsoft.Extensions.Logging.ILogger<PostgresFailureStore>>(recorder)
            .AddCdcFailureStore(PipelineConfiguration.Load(Path.Combine(_dir, "store.yaml")))
            .BuildServiceProvider())
        {
            var store = services.GetRequiredService<PostgresFailureStore>();
            await store.RecordAsync("out", SinkHarness.Event(3, "K3"), new IOException("disk full"), 1, ct);
            await store.RecordAsync("out", SinkHarness.Event(4, "K4"), new IOException("disk full"), 1, ct);
        }

        var warning = Assert.Single(recorder.Warnings);
        Assert.Contains($"failures.table: Failures ({Path.Combine(_dir, "store.yaml")}:6)", warning, StringComparison.Ordinal);
        Assert.Contains("the table \"failures\"", warning, StringComparison.Ordinal);
        Assert.Contains("table: '\"Failures\"'", warning, StringComparison.Ordinal);
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM failures"));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM \"Failures\""));
    }

    [Fact]
    public async Task The_failures_commands_print_the_warning_about_both_table_spellings_once()
    {
        // list and resend built their store without a logger: the warning the pipeline logs (event 4300) never reached
        // the operator running them, who then reads a listing that leaves out what the earlier version recorded.
        var ct = TestContext.Current.CancellationToken;
        await using (var seed = Store("seed"))
        {
            await seed.RecordAsync("out", SinkHarness.Event(1, "K1"), new IOException("disk full"), 1, ct);
        }

        await _db.ExecuteAsync("ALTER TABLE seed RENAME TO \"Failures\"");
        await using (var plain = Store("failures"))
        {
            await plain.RecordAsync("out", SinkHarness.Event(2, "K2"), new IOException("disk full"), 1, ct);
        }

        await Store("Failures").DisposeAsync();
        var config = Path.Combine(_dir, "store.yaml");
        string[][] commands = [["failures", "list", "--config", config], ["failures", "resend", "--config", config, "--id", "999999"]];
        foreach (var command in commands)
        {
            var (output, errors) = (new StringWriter(), new StringWriter());
            var exit = await CommandLineApp.InvokeAsync(command, output, errors, ct);

            var warnings = errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("earlier versions created", StringComparison.Ordinal)).ToList();
            var warning = Assert.Single(warnings);
            // As the commands' other lines on standard error (connector render's warning about a literal secret): "command: what".
            Assert.StartsWith($"{string.Join(' ', command[..2])}: the failure store: ", warning, StringComparison.Ordinal);
            Assert.Contains($"failures.table: Failures ({config}:6)", warning, StringComparison.Ordinal);
            Assert.Contains("table: '\"Failures\"'", warning, StringComparison.Ordinal);
            Assert.DoesNotContain("earlier versions created", output.ToString(), StringComparison.Ordinal);
            Assert.True(command[1] == "list" ? exit == 0 : exit == 1, $"exit {exit}: {errors}");
        }
    }

    [Fact]
    public async Task Resend_without_a_failures_section_or_selection_is_an_error()
    {
        var path = Path.Combine(_dir, "nofailures.yaml");
        await File.WriteAllTextAsync(path, "name: x\nsource:\n  memory: {}\nsinks:\n  - name: c\n    console: {}\n", TestContext.Current.CancellationToken);
        Assert.Equal(2, await InvokeAsync("failures", "resend", "--config", path, "--all"));
        Assert.NotEqual(0, await InvokeAsync("failures", "resend", "--config", path));
    }

    [Fact]
    public async Task A_limit_below_one_is_refused_before_the_database_is_asked()
    {
        // PostgreSQL refuses a negative LIMIT: the command died with its stack trace instead of naming the option.
        var config = WriteConfig("http://127.0.0.1:9/hook");
        var root = new RootCommand();
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        var parsed = root.Parse(["failures", "list", "--config", config, "--limit", "-1"]);
        Assert.Contains(parsed.Errors, e => e.Message.Contains("--limit", StringComparison.Ordinal));
        Assert.NotEqual(0, await parsed.InvokeAsync(cancellationToken: TestContext.Current.CancellationToken));
    }

    private static async Task<int> InvokeAsync(params string[] args)
    {
        var root = new RootCommand();
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return await root.Parse(args).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
    }
}
