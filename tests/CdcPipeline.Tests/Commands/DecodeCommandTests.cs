using System.IO.Pipes;
using System.Text;
using System.Text.Json.Nodes;
using CdcPipeline.Commands;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Tests.Commands;

public class DecodeCommandTests
{
    private static string SampleDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CdcPipeline.sln")))
            {
                dir = dir.Parent;
            }

            Assert.NotNull(dir);
            return Path.Combine(dir.FullName, "samples", "legacy-orders", "debezium");
        }
    }

    private static async Task<(int Exit, string Out, string Err)> Run(Stream input)
    {
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var exit = await DecodeCommand.RunAsync(input, output, errors, DebeziumDecoderOptions.Default, TestContext.Current.CancellationToken);
        return (exit, Encoding.UTF8.GetString(output.ToArray()), errors.ToString());
    }

    [Fact]
    public async Task The_sample_recording_decodes_to_the_golden_file()
    {
        await using var input = File.OpenRead(Path.Combine(SampleDir, "changes.jsonl"));
        var (exit, output, errors) = await Run(input);
        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        var expected = await File.ReadAllTextAsync(Path.Combine(SampleDir, "expected-decode.jsonl"), TestContext.Current.CancellationToken);
        Assert.Equal(expected.ReplaceLineEndings("\n"), output);
    }

    [Fact]
    public async Task A_bad_line_is_reported_and_the_others_still_decode()
    {
        var lines = (await File.ReadAllLinesAsync(Path.Combine(SampleDir, "changes.jsonl"), TestContext.Current.CancellationToken)).ToList();
        var expected = (await File.ReadAllLinesAsync(Path.Combine(SampleDir, "expected-decode.jsonl"), TestContext.Current.CancellationToken)).ToList();

        // Line 3 of the input (order 1000001's snapshot read) loses the scale of ord_amt; a blank line follows it.
        var record = JsonNode.Parse(lines[2])!;
        Assert.Equal("legacy.public.tb_ord_mst", (string?)record["topic"]);
        var payload = (string)record["payload"]!;
        var broken = payload.Replace("{\"scale\":\"2\",\"connect.decimal.precision\":\"12\"},\"field\":\"ord_amt\"", "{\"connect.decimal.precision\":\"12\"},\"field\":\"ord_amt\"", StringComparison.Ordinal);
        Assert.NotEqual(payload, broken);
        record["payload"] = broken;
        record["offset"] = 42;
        lines[2] = record.ToJsonString();
        lines.Insert(3, "   ");

        using var input = new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
        var (exit, output, errors) = await Run(input);

        Assert.Equal(1, exit);
        Assert.Equal("line 3 (legacy.public.tb_ord_mst/0@42): field 'after.ord_amt': Decimal schema without 'scale' parameter" + Environment.NewLine, errors);
        expected.RemoveAt(2);
        Assert.Equal(string.Join("\n", expected) + "\n", output);
    }

    [Fact]
    public async Task Truncated_json_and_crlf_lines()
    {
        const string good = """{"before":null,"after":{"id":1},"source":{"schema":"public","table":"t","lsn":5},"op":"c"}""";
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(good + "\r\n{\"before\":null,\"aft\r\n" + good));
        var (exit, output, errors) = await Run(input);
        Assert.Equal(1, exit);
        Assert.StartsWith("line 2: malformed JSON in the value:", errors, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Malformed_json_is_placed_by_its_byte_in_the_value_not_by_the_json_readers_own_line_count()
    {
        // It said "line 2: malformed JSON in the value: … LineNumber: 0 | BytePositionInLine: 19.": two line numbers that
        // disagree (the JSON reader counts lines inside the value, from 0). The input line is the one to look at.
        const string good = """{"before":null,"after":{"id":1},"source":{"schema":"public","table":"t","lsn":5},"op":"c"}""";
        const string kcat = """{"topic":"legacy.public.t","partition":0,"offset":7,"key":null,"payload":"{not json"}""";
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(good + "\n{\"before\":null,\"aft\n" + kcat + "\n{\"topic\":\n"));
        var (exit, output, errors) = await Run(input);

        Assert.Equal(1, exit);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var reported = errors.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, reported.Length);
        Assert.StartsWith("line 2: malformed JSON in the value: ", reported[0], StringComparison.Ordinal);
        Assert.EndsWith(" (at byte 19 of the value)", reported[0], StringComparison.Ordinal);
        Assert.StartsWith("line 3 (legacy.public.t/0@7): malformed JSON in the value: ", reported[1], StringComparison.Ordinal);
        Assert.EndsWith(" (at byte 1 of the value)", reported[1], StringComparison.Ordinal);
        Assert.StartsWith("line 4: malformed kcat JSON: ", reported[2], StringComparison.Ordinal);
        Assert.EndsWith(" of the line)", reported[2], StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_saved_with_a_utf8_byte_order_mark_decodes_from_its_first_line()
    {
        // Editors on Windows save UTF-8 with a BOM; it is not part of the first record.
        const string good = """{"before":null,"after":{"id":1},"source":{"schema":"public","table":"t","lsn":5},"op":"c"}""";
        using var input = new MemoryStream([.. Encoding.UTF8.Preamble, .. Encoding.UTF8.GetBytes(good + "\n" + good + "\n")]);
        var (exit, output, errors) = await Run(input);
        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Long_lines_span_read_buffers()
    {
        var memo = new string('m', 300_000);
        var line = $$"""{"before":null,"after":{"memo":"{{memo}}"},"source":{"schema":"public","table":"t"},"op":"c"}""";
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(line + "\n" + line));
        var (exit, output, _) = await Run(input);
        Assert.Equal(0, exit);
        var outLines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, outLines.Length);
        Assert.Contains(memo, outLines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_live_stream_on_stdin_gets_each_record_out_before_the_next_one_arrives()
    {
        // kcat -C (without -e) | cdcpipeline decode: the input never ends; a record must not wait for 64 KiB of others.
        const string good = """{"before":null,"after":{"id":1},"source":{"schema":"public","table":"t","lsn":5},"op":"c"}""";
        using var feed = new AnonymousPipeServerStream(PipeDirection.Out);
        using var input = new AnonymousPipeClientStream(PipeDirection.In, feed.ClientSafePipeHandle);
        using var output = new WatchedStream();
        using var errors = new StringWriter();
        var run = DecodeCommand.RunAsync(input, output, errors, DebeziumDecoderOptions.Default, TestContext.Current.CancellationToken);

        await feed.WriteAsync(Encoding.UTF8.GetBytes(good + "\n"), TestContext.Current.CancellationToken);
        await feed.FlushAsync(TestContext.Current.CancellationToken);
        // A guard against hanging, not a timing: the line is out long before this, or never while the input is open.
        var written = await output.FirstWrite.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Contains("\"id\":1", written, StringComparison.Ordinal);

        feed.Dispose();
        Assert.Equal(0, await run);
        Assert.Equal("", errors.ToString());
    }

    private sealed class WatchedStream : MemoryStream
    {
        public TaskCompletionSource<string> FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await base.WriteAsync(buffer, cancellationToken);
            if (buffer.Length > 0)
            {
                FirstWrite.TrySetResult(Encoding.UTF8.GetString(buffer.Span));
            }
        }
    }

    [Theory]
    [InlineData("decode", new[] { "-" })]
    [InlineData("translate", new[] { "--rules", ".", "-" })]
    public void A_dash_for_FILE_parses_as_a_file_argument(string name, string[] args)
    {
        var parse = CommandCatalog.All().Single(c => c.Name == name).Parse(args);

        Assert.Empty(parse.Errors);
        Assert.Equal("-", parse.GetValue<FileInfo?>("FILE")?.ToString());
    }

    [Fact]
    public async Task A_dash_for_FILE_reads_standard_input()
    {
        // Unix convention (cat -, jq . -): kcat ... | cdcpipeline decode -
        using var stdin = new MemoryStream(Encoding.UTF8.GetBytes("line\n"));
        using var errors = new StringWriter();
        Stream? read = null;

        var exit = await RecordLines.WithStreamsAsync("decode", new FileInfo("-"), () => stdin, () => new MemoryStream(), message => Refuse(errors, message), (input, _) =>
        {
            read = input;
            return Task.FromResult(0);
        });

        Assert.Equal("", errors.ToString());
        Assert.Equal(0, exit);
        Assert.Same(stdin, read);
    }

    [Fact]
    public async Task A_directory_for_FILE_is_reported_as_a_directory()
    {
        var dir = Directory.CreateTempSubdirectory("cdc-decode-");
        try
        {
            using var errors = new StringWriter();
            var ran = false;

            var exit = await RecordLines.WithStreamsAsync("decode", new FileInfo(dir.FullName), () => Stream.Null, () => new MemoryStream(), message => Refuse(errors, message), (_, _) =>
            {
                ran = true;
                return Task.FromResult(0);
            });

            Assert.Equal(2, exit);
            Assert.False(ran);
            Assert.Equal($"decode: cannot read '{dir.FullName}': it is a directory", errors.ToString().TrimEnd());
        }
        finally
        {
            dir.Delete();
        }
    }

    [Fact]
    public void The_command_is_registered() =>
        Assert.Contains(CommandCatalog.All(), c => c.Name == "decode");

    /// <summary>What the command does with the refusal (ExpectedFailure.UsageAsync, which adds where to read more): the message and exit 2.</summary>
    private static async Task<int> Refuse(StringWriter errors, string message)
    {
        await errors.WriteLineAsync(message);
        return ExpectedFailure.Usage;
    }
}
