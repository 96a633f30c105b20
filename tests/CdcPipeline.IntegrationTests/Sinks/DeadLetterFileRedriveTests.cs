using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
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

    private static async Task<(int Exit, string Output, string Errors)> InvokeAsync(string[] args, CancellationToken ct)
    {
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(args, output, errors, ct);
        return (exit, output.ToString(), errors.ToString());
    }
}
