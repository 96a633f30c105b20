using System.Text;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// One writer per file sink: <c>dlq redrive</c> of a pipeline whose sink writes a file, run while <c>run</c> writes that file,
/// appended to it beside <c>run</c> (lines of two writers interleaved, the order <c>run</c> keeps broken). Now the second
/// writer is refused, naming the file and the holder, and the letter stays for a redrive after the pipeline stopped.
/// </summary>
public sealed class SinkFileWriterTests(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-file-writer-").FullName;
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("filewriter");

    [Fact]
    public async Task A_redrive_into_the_file_run_writes_is_refused_naming_the_file_and_run_and_goes_through_after_run_stopped()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: filewriter
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.kv]
                snapshot: never
                stateDirectory: state
            sinks:
              - name: audit
                file: {"{"} path: out/events.jsonl {"}"}
            deadLetter: {"{"} path: out/dead.jsonl {"}"}
            """, Ct);
        var events = Path.Combine(_dir, "out", "events.jsonl");
        var letters = Path.Combine(_dir, "out", "dead.jsonl");

        // A letter of sink 'audit' (its receiver failed once): the event it holds, as run wrote it.
        var output = new List<DomainEvent>(1);
        new StatusTranslator().Translate(InMemoryChangeSource.Change(42, "K42", "S"), output);
        var letter = output[0];
        Directory.CreateDirectory(Path.GetDirectoryName(letters)!);
        await File.WriteAllBytesAsync(letters, JsonLinesDeadLetterQueue.Serialize(new DeadLetter
        {
            Stage = "audit", Error = "disk full", EventId = letter.Id, EventType = letter.Type, Position = letter.Position,
            Payload = Encoding.UTF8.GetBytes(Core.Json.EventJson.Serialize(letter)), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1,
        }), Ct);

        using (var run = PipelineProcess.Start("run", "--config", config))
        {
            await WaitUntilAsync(() => run.Log.Contains("Starting replication from slot", StringComparison.Ordinal), run);
            await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 1)");
            // A reader of the file while run writes it (tail, File.ReadAllLines) is no writer: it reads on.
            await WaitUntilAsync(() => File.Exists(events) && File.ReadAllLines(events).Length == 1, run);

            using (var redrive = PipelineProcess.Start("dlq", "redrive", "--config", config))
            {
                var code = await redrive.ExitCodeAsync(TimeSpan.FromSeconds(120));
                Assert.True(code == 1, $"exit {code}; redrive:\n{redrive.Log}");
                Assert.Contains($"sink 'audit': its file {events} is held by another process (pid {run.Id} on host ", redrive.Log, StringComparison.Ordinal);
                Assert.Contains("stop that pipeline", redrive.Log, StringComparison.Ordinal);
            }

            Assert.DoesNotContain(letter.Id, await File.ReadAllTextAsync(events, Ct), StringComparison.Ordinal);
            await _db.ExecuteAsync("INSERT INTO kv VALUES (2, 2)");
            await WaitUntilAsync(() => File.ReadAllLines(events).Length == 2, run);
            Assert.True(await run.TerminateAsync(TimeSpan.FromSeconds(60)) == 0, $"run; log:\n{run.Log}");
        }

        // The pipeline stopped: the letter was left for this redrive, which delivers it after run's lines.
        using (var again = PipelineProcess.Start("dlq", "redrive", "--config", config))
        {
            var code = await again.ExitCodeAsync(TimeSpan.FromSeconds(120));
            Assert.True(code == 0, $"exit {code}; redrive:\n{again.Log}");
        }

        var lines = await File.ReadAllLinesAsync(events, Ct);
        Assert.Equal(3, lines.Length);
        Assert.Contains(letter.Id, lines[2], StringComparison.Ordinal);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, PipelineProcess pipeline)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not reached; pipeline log:\n{pipeline.Log}");
            Assert.False(pipeline.HasExited, $"the pipeline exited; log:\n{pipeline.Log}");
            await Task.Delay(200, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
