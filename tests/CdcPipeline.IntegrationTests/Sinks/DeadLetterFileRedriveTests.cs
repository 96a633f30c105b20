using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Hosting;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks;
using CdcPipeline.Sinks.Failures;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>
/// <c>dlq redrive --config F</c> of an embedded pipeline (deadLetter.path, no topic): the letters the runner wrote to the
/// JSON-lines file go again through the configured sink (a real HTTP receiver), with the sink's retry settings, and a
/// second redrive does not deliver them twice.
/// </summary>
public sealed class DeadLetterFileRedriveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlq-file-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_sink_s_dead_letters_in_the_file_are_redriven_through_that_sink_once_and_a_failure_stays_for_the_next_redrive()
    {
        var ct = TestContext.Current.CancellationToken;
        var rejecting = true;
        await using var receiver = new WebhookReceiver { Respond = (r, _) => (rejecting && r.Json.GetProperty("subject").GetString() == "K2" ? 500 : 200, TimeSpan.Zero) };
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: dlq-file
            source:
              memory: {"{}"}
            sinks:
              - name: hook
                webhook: {"{"} url: "{receiver.Url}", timeout: "00:00:05" {"}"}
                retry: {"{"} maxAttempts: 2, initialDelay: "00:00:00.010", maxDelay: "00:00:00.050" {"}"}
            deadLetter:
              path: out/dead.jsonl
            """, ct);
        var file = Path.Combine(_dir, "out", "dead.jsonl");

        // The pipeline's own runner and dead-letter file: K0's and K1's events go through, K2's are dead-lettered after 2 attempts.
        var configuration = PipelineConfiguration.Load(config);
        await using (var services = new ServiceCollection().AddCdcCore().AddCdcSinks().BuildServiceProvider())
        {
            var hook = ConfiguredSinks.Create(configuration, services, "hook");
            var letters = new JsonLinesDeadLetterQueue(file);
            await using (letters)
            {
                await SinkHarness.RunToEndAsync(SinkHarness.Runner(SinkHarness.Source(6, 3), letters, batch: 1, sinks: hook));
            }

            await hook.Sink.DisposeAsync();
        }

        var dead = new[] { 2, 5 }.Select(i => SinkHarness.Event(i, "K2").Id).ToList();
        // A letter of the decode stage (no event): counted, never delivered.
        await File.AppendAllTextAsync(file, """{"stage":"decode","error":"not JSON","failedAt":"2026-01-01T00:00:00+00:00","attempts":1,"payloadBase64":"AAE="}""" + "\n", ct);

        // The receiver still refuses K2: each letter is tried twice (retry.maxAttempts), none is marked, exit 1.
        var before = receiver.Requests.Count;
        var (exit, output, errors) = await InvokeAsync(["dlq", "redrive", "--config", config], ct);
        Assert.True(exit == 1, $"exit {exit}: {errors}");
        Assert.Equal(4, receiver.Requests.Count - before);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        Assert.Equal([.. dead.Select(id => ("hook", id, true))], lines.Where(f => f[1] == "hook").Select(f => (f[1], f[2], f[3].StartsWith("failed again: ", StringComparison.Ordinal))));
        Assert.Contains("0 redriven, 2 failed again, 1 cannot be redriven, 0 already redriven", errors, StringComparison.Ordinal);
        Assert.Contains("\tdecode\t-\tnot redriven: a decode letter", output, StringComparison.Ordinal);

        // The receiver recovers: both are delivered, as the runner would have sent them, and recorded.
        rejecting = false;
        before = receiver.Requests.Count;
        (exit, output, errors) = await InvokeAsync(["dlq", "redrive", "--config", config, "--stage", "hook"], ct);
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(dead, receiver.Requests.Skip(before).Select(r => r.Json.GetProperty("id").GetString()));
        Assert.Contains("2 redriven, 0 failed again, 0 cannot be redriven, 0 already redriven", errors, StringComparison.Ordinal);
        Assert.Equal(2, (await File.ReadAllLinesAsync(file + ".redriven", ct)).Length);

        // A second redrive delivers nothing twice; --again does, on purpose.
        before = receiver.Requests.Count;
        (exit, _, errors) = await InvokeAsync(["dlq", "redrive", "--config", config], ct);
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(before, receiver.Requests.Count);
        Assert.Contains("0 redriven, 0 failed again, 1 cannot be redriven, 2 already redriven", errors, StringComparison.Ordinal);
        (exit, _, errors) = await InvokeAsync(["dlq", "redrive", "--config", config, "--again", "--dry-run"], ct);
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(before, receiver.Requests.Count);
        (exit, _, errors) = await InvokeAsync(["dlq", "redrive", "--config", config, "--again", "--stage", "hook"], ct);
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(dead, receiver.Requests.Skip(before).Select(r => r.Json.GetProperty("id").GetString()));

        // The file itself was only read: the runner's two letters and the decode one, as written.
        Assert.Equal(3, (await File.ReadAllLinesAsync(file, ct)).Length);
    }

    [Fact]
    public async Task A_translate_letter_is_translated_again_with_the_fixed_rules_and_its_events_reach_every_sink()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var receiver = new WebhookReceiver();
        var rules = Path.Combine(_dir, "rules");
        Directory.CreateDirectory(rules);
        var ruleFile = Path.Combine(rules, "orders.yaml");
        // ord_amt is not a column of the rows: every change of the table fails in the rule's data template.
        const string Broken = """
            table: public.tb_ord_mst
            aggregate: Order
            key: ord_no
            events:
              - type: OrderStatusChanged
                when: op == "u"
                data:
                  orderId: after.ord_no
                  status: after.ord_sts_cd
                  amount: after.ord_amt
            """;
        await File.WriteAllTextAsync(ruleFile, Broken, ct);
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: dlq-translate
            source:
              memory: {"{}"}
            rules: rules
            sinks:
              - name: hook
                webhook: {"{"} url: "{receiver.Url}", timeout: "00:00:05" {"}"}
                retry: {"{"} maxAttempts: 2, initialDelay: "00:00:00.010", maxDelay: "00:00:00.050" {"}"}
              - name: copy
                file: {"{"} path: out/events.jsonl {"}"}
            deadLetter:
              path: out/dead.jsonl
            """, ct);
        var file = Path.Combine(_dir, "out", "dead.jsonl");

        // The runner with the pipeline's own translator (as run builds it): both changes become translate letters.
        var configuration = PipelineConfiguration.Load(config);
        await using (var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider())
        {
            var hook = ConfiguredSinks.Create(configuration, services, "hook");
            var copy = ConfiguredSinks.Create(configuration, services, "copy");
            var letters = new JsonLinesDeadLetterQueue(file);
            await using (letters)
            {
                var source = SinkHarness.Source(2, 2);
                var runner = new PipelineRunner(source, PipelineBuilder.Translator(configuration, services), [hook, copy], letters, new PipelineRunnerOptions { MaxBatchSize = 1 });
                await SinkHarness.RunToEndAsync(runner);
            }

            await hook.Sink.DisposeAsync();
            await copy.Sink.DisposeAsync();
        }

        Assert.Empty(receiver.Requests);
        Assert.All(await File.ReadAllLinesAsync(file, ct), l => Assert.Contains("\"stage\":\"translate\"", l, StringComparison.Ordinal));

        // The rule still fails: nothing is delivered or marked, the error is said, exit 1.
        var (exit, output, errors) = await InvokeAsync(["dlq", "redrive", "--config", config], ct);
        Assert.True(exit == 1, $"exit {exit}: {output} {errors}");
        Assert.Empty(receiver.Requests);
        Assert.Contains("failed again: ", output, StringComparison.Ordinal);
        Assert.Contains("ord_amt", output, StringComparison.Ordinal);
        Assert.Contains("0 redriven, 2 failed again", errors, StringComparison.Ordinal);
        Assert.False(File.Exists(file + ".redriven"));

        // The rule is fixed: each change is translated with the current rules and its event reaches both sinks, with the
        // id the runner would have given it (the same change gives the same id, so a downstream de-dup holds).
        await File.WriteAllTextAsync(ruleFile, Broken.Replace("after.ord_amt", "after.ord_no", StringComparison.Ordinal), ct);
        (exit, output, errors) = await InvokeAsync(["dlq", "redrive", "--config", config], ct);
        Assert.True(exit == 0, $"exit {exit}: {output} {errors}");
        Assert.Contains("2 redriven, 0 failed again, 0 cannot be redriven", errors, StringComparison.Ordinal);
        var expected = new List<Core.Translation.DomainEvent>();
        await using (var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider())
        {
            var fixedRules = PipelineBuilder.Translator(PipelineConfiguration.Load(config), services);
            fixedRules.Translate(InMemoryChangeSource.Change(1, "K1", "S"), expected);
            fixedRules.Translate(InMemoryChangeSource.Change(2, "K0", "S"), expected);
        }

        var delivered = receiver.Requests.Select(r => r.Json).ToList();
        Assert.Equal(["OrderStatusChanged", "OrderStatusChanged"], delivered.Select(j => j.GetProperty("type").GetString()));
        Assert.Equal(["K1", "K0"], delivered.Select(j => j.GetProperty("data").GetProperty("orderId").GetString()));
        Assert.Equal(["S", "S"], delivered.Select(j => j.GetProperty("data").GetProperty("status").GetString()));
        var ids = delivered.Select(j => j.GetProperty("id").GetString()).ToList();
        Assert.Equal(expected.Select(e => e.Id), ids);
        Assert.Equal(2, ids.Distinct().Count());
        var copied = await File.ReadAllLinesAsync(Path.Combine(_dir, "out", "events.jsonl"), ct);
        Assert.Equal(ids, copied.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()));
        Assert.Equal(2, (await File.ReadAllLinesAsync(file + ".redriven", ct)).Length);

        // --again translates the same changes to the same ids.
        (exit, _, errors) = await InvokeAsync(["dlq", "redrive", "--config", config, "--again"], ct);
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal([.. ids, .. ids], receiver.Requests.Select(r => r.Json.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task A_second_redrive_while_one_runs_says_who_holds_the_file_and_delivers_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var receiver = new WebhookReceiver();
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: dlq-lock
            source:
              memory: {"{}"}
            sinks:
              - name: hook
                webhook: {"{"} url: "{receiver.Url}", timeout: "00:00:05" {"}"}
            deadLetter:
              path: out/dead.jsonl
            """, ct);
        var file = Path.Combine(_dir, "out", "dead.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var letter = new JsonLinesDeadLetterQueue(file);
        await using (letter)
        {
            var e = SinkHarness.Event(1, "K1");
            await letter.WriteAsync(new DeadLetter { Stage = "hook", Error = "HTTP 500", EventId = e.Id, EventType = e.Type, Position = e.Position, Payload = System.Text.Encoding.UTF8.GetBytes(Core.Json.EventJson.Serialize(e)), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, ct);
        }

        // Another redrive holds the sidecar's lock (taken as dlq redrive takes it).
        using (var held = ExclusiveLockFile.TryAcquire(file + ".redriven.lock", file + ".redriven.lock.owner", [new("command", "dlq redrive")], out _))
        {
            Assert.NotNull(held);
            var (exit, output, errors) = await InvokeAsync(["dlq", "redrive", "--config", config], ct);
            Assert.True(exit == 1, $"exit {exit}: {output} {errors}");
            Assert.Empty(receiver.Requests);
            Assert.Contains($"pid {Environment.ProcessId} on host {Environment.MachineName}", errors, StringComparison.Ordinal);
            Assert.False(File.Exists(file + ".redriven"));
        }

        // Once it is let go, the redrive delivers.
        var (again, _, errs) = await InvokeAsync(["dlq", "redrive", "--config", config], ct);
        Assert.True(again == 0, $"exit {again}: {errs}");
        Assert.Single(receiver.Requests);
    }

    private static async Task<(int Exit, string Output, string Errors)> InvokeAsync(string[] args, CancellationToken ct)
    {
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(args, output, errors, ct);
        return (exit, output.ToString(), errors.ToString());
    }
}
