using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Tests.Commands;

/// <summary><c>dlq list --config F</c> of a pipeline whose dead letters are a JSON-lines file (deadLetter.path, no topic).</summary>
public sealed class DlqFileListTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlq-list-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> WriteAsync(bool torn)
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, """
            name: shop
            source:
              memory: {}
            sinks:
              - name: hook
                webhook: { url: "http://127.0.0.1:1/hook" }
            deadLetter:
              path: out/dead.jsonl
            """, TestContext.Current.CancellationToken);
        Directory.CreateDirectory(Path.Combine(_dir, "out"));
        var at = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
        DeadLetter[] letters =
        [
            new() { Stage = "hook", Error = "HTTP 500 Internal Server Error\nbody: oops", EventId = "e1", EventType = "order.created", Position = new SourcePosition("slot", 10, 0), Payload = """{"id":"e1"}"""u8.ToArray(), FailedAt = at, Attempts = 3 },
            new() { Stage = "translate", Error = "no rule for column", Position = new SourcePosition("slot", 11, 0), Payload = """{"kind":"change"}"""u8.ToArray(), FailedAt = at.AddMinutes(1), Attempts = 1 },
            new() { Stage = "hook", Error = "connection refused", EventId = "e3", EventType = "order.paid", Position = new SourcePosition("slot", 12, 0), Payload = """{"id":"e3"}"""u8.ToArray(), FailedAt = at.AddMinutes(2), Attempts = 3 },
        ];
        var bytes = letters.SelectMany(JsonLinesDeadLetterQueue.Serialize).ToList();
        if (torn)
        {
            // The pipeline was killed in the middle of its next write.
            bytes.AddRange("""{"stage":"hook","error":"tim"""u8.ToArray());
        }

        await File.WriteAllBytesAsync(Path.Combine(_dir, "out", "dead.jsonl"), [.. bytes], TestContext.Current.CancellationToken);
        return config;
    }

    private static async Task<(int Exit, string[] Lines, string Errors)> ListAsync(params string[] args)
    {
        var (output, errors) = (new StringWriter(), new StringWriter());
        var exit = await CommandLineApp.InvokeAsync(["dlq", "list", .. args], output, errors, TestContext.Current.CancellationToken);
        return (exit, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), errors.ToString());
    }

    [Fact]
    public async Task Each_letter_is_one_line_on_the_command_s_output_and_a_torn_last_line_is_reported_not_a_crash()
    {
        // Before: `dlq list --config` answered with the file's path only (exit 2), and wrote to the process's console.
        var config = await WriteAsync(torn: true);

        var (exit, lines, errors) = await ListAsync("--config", config);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(
            [
                "1\t2026-12-01T10:00:00+00:00\thook\torder.created\te1\tHTTP 500 Internal Server Error",
                "2\t2026-12-01T10:01:00+00:00\ttranslate\t-\t-\tno rule for column",
                "3\t2026-12-01T10:02:00+00:00\thook\torder.paid\te3\tconnection refused",
            ],
            lines);
        Assert.Contains("dead.jsonl:4: the last line is incomplete", errors, StringComparison.Ordinal);
        Assert.Contains("3 letter(s) in ", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void A_source_record_written_over_several_lines_stays_one_letter_line_with_its_exact_bytes()
    {
        // A Kafka source's record is kept as it came: JSON pretty-printed by its producer has line breaks between its tokens,
        // which written as they are would cut the letter's line in the JSON-lines file (and lose the letter on reading it).
        var record = "{\n  \"payload\": {\"id\": 1},\r\n  \"schema\": null\n}"u8.ToArray();
        var key = "{\n\"id\": 1}"u8.ToArray();
        var bytes = JsonLinesDeadLetterQueue.Serialize(new DeadLetter
        {
            Stage = "translate", Error = "no rule", Position = new SourcePosition("orders/0", 7), Payload = record, Key = key,
            FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1,
        });

        Assert.Equal(1, bytes.Count(b => b == (byte)'\n'));
        Assert.Equal((byte)'\n', bytes[^1]);
        var letter = DeadLetterFile.Parse(1, bytes.AsSpan(0, bytes.Length - 1));
        Assert.NotNull(letter);
        Assert.Equal(record, letter.PayloadBytes);
        Assert.Equal(key, letter.Key);
    }

    [Theory]
    [InlineData(new[] { "--stage", "hook" }, new[] { "1", "3" })]
    [InlineData(new[] { "--where-error", "REFUSED" }, new[] { "3" })]
    [InlineData(new[] { "--stage", "hook", "--max", "1" }, new[] { "1" })]
    [InlineData(new[] { "--stage", "decode" }, new string[0])]
    public async Task Stage_error_text_and_max_pick_letters_as_they_do_for_a_topic(string[] filters, string[] expectedLines)
    {
        var config = await WriteAsync(torn: false);

        var (exit, lines, errors) = await ListAsync(["--config", config, .. filters]);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(expectedLines, lines.Select(l => l.Split('\t')[0]));
        Assert.DoesNotContain("incomplete", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("list", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("redrive", "--to", "orders")]
    [InlineData("redrive", "--group", "g")]
    public async Task A_kafka_only_option_with_a_file_pipeline_is_refused_naming_it(string subcommand, string option, string value)
    {
        var config = await WriteAsync(torn: false);
        var (output, errors) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["dlq", subcommand, "--config", config, option, value], output, errors, TestContext.Current.CancellationToken);

        Assert.Equal(2, exit);
        Assert.Contains($"{option} applies to a Kafka dead-letter topic", errors.ToString(), StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_dir, "out", "dead.jsonl"), errors.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dry_run_redrive_delivers_nothing_marks_nothing_and_counts_what_cannot_be_redriven()
    {
        var config = await WriteAsync(torn: false);
        var (output, errors) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["dlq", "redrive", "--config", config, "--dry-run"], output, errors, TestContext.Current.CancellationToken);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["1\thook\te1\twould be redriven through sink 'hook'", "3\thook\te3\twould be redriven through sink 'hook'"], lines.Where(l => l.Contains("\thook\t", StringComparison.Ordinal)));
        // The translate letter would be translated again with the current rules: it is no longer counted as one that cannot be.
        Assert.Contains("2\ttranslate\t-\twould be translated again with the current rules", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("dry run: nothing delivered, nothing marked; 0 cannot be redriven", errors.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "out", "dead.jsonl.redriven")));
    }

    [Theory]
    [InlineData("list")]
    [InlineData("redrive")]
    public async Task A_file_not_written_yet_is_said_and_nothing_is_created(string subcommand)
    {
        var config = await WriteAsync(torn: false);
        Directory.Delete(Path.Combine(_dir, "out"), recursive: true);
        var (output, errors) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["dlq", subcommand, "--config", config], output, errors, TestContext.Current.CancellationToken);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains("dead.jsonl does not exist: no letter was written yet", errors.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }
}
