using System.Buffers;
using System.CommandLine;
using System.Globalization;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Commands;

/// <summary>
/// The line loop shared by <c>decode</c> and <c>translate</c>: reads Debezium records (kcat <c>-J</c> or
/// bare value lines) one line at a time, decodes each, and lets the command render it. A line that
/// fails — in decoding or in the command's own step — is reported on stderr with its line number and
/// Kafka position, and the others go on.
/// </summary>
internal static class RecordLines
{
    /// <summary>Returns the exit code: 0 when every line went through, 1 when some failed.</summary>
    public static async Task<int> RunAsync(
        Stream input,
        Stream output,
        TextWriter errors,
        DebeziumDecoderOptions options,
        Action<ChangeEvent, IBufferWriter<byte>> render,
        CancellationToken cancellationToken)
    {
        var decoder = new DebeziumJsonDecoder(options);
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        var failed = 0;
        long lineNumber = 0;
        // Hand over what is rendered before waiting for more input: on a live stream (kcat -C | decode) the next
        // line may be minutes away, and its predecessors must not sit in the buffer until then.
        using var lines = new LineReader(input, async ct =>
        {
            if (buffer.WrittenCount > 0)
            {
                await output.WriteAsync(buffer.WrittenMemory, ct).ConfigureAwait(false);
                await output.FlushAsync(ct).ConfigureAwait(false);
                buffer.ResetWrittenCount();
            }
        });
        while (await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (lineNumber == 1 && line.Span.StartsWith("\uFEFF"u8))
            {
                // A file saved with a UTF-8 byte order mark (Windows editors): the mark is not part of the first record.
                line = line[3..];
            }

            if (line.Span.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            DebeziumRecord? record = null;
            var mark = buffer.WrittenCount;
            try
            {
                record = DebeziumJsonDecoder.ReadLine(line, lineNumber);
                render(decoder.Decode(record), buffer);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed++;
                var where = record?.Describe() ?? string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}");
                // A decoder or translator bug must not hide the other lines: report it like a bad line, with its type.
                var message = e is DebeziumDecodeException or Core.Translation.Rules.RuleEvaluationException
                    ? e.Message
                    : $"unexpected {e.GetType().Name}: {e.Message}";
                await errors.WriteLineAsync($"{where}: {message}").ConfigureAwait(false);
                if (buffer.WrittenCount != mark)
                {
                    // Drop the half-rendered output of the failed line.
                    var kept = buffer.WrittenSpan[..mark].ToArray();
                    buffer.ResetWrittenCount();
                    buffer.Write(kept);
                }
            }

            if (buffer.WrittenCount >= 64 * 1024)
            {
                await output.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
                buffer.ResetWrittenCount();
            }
        }

        await output.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return failed == 0 ? 0 : 1;
    }

    public static Argument<FileInfo?> FileArgument() => new("FILE")
    {
        Description = "kcat -J JSON lines or bare Debezium value JSON lines; stdin when omitted or -",
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>Runs <paramref name="run"/> on FILE or standard input and standard output; exit 2 when FILE cannot be read.</summary>
    public static Task<int> WithStreamsAsync(string command, FileInfo? path, Func<Stream, Stream, Task<int>> run) =>
        WithStreamsAsync(command, path, Console.OpenStandardInput, Console.OpenStandardOutput, Console.Error, run);

    internal static async Task<int> WithStreamsAsync(
        string command, FileInfo? path, Func<Stream> openStdin, Func<Stream> openStdout, TextWriter errors, Func<Stream, Stream, Task<int>> run)
    {
        Stream input;
        try
        {
            // "-" is standard input, as for cat and jq; a file of that name is still readable as ./-
            input = path is null || path.ToString() == "-" ? openStdin() : path.OpenRead();
        }
        catch (UnauthorizedAccessException) when (Directory.Exists(path!.FullName))
        {
            // .NET reports opening a directory as "Access to the path is denied", which sends users after permissions.
            await errors.WriteLineAsync($"{command}: cannot read '{path}': it is a directory").ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await errors.WriteLineAsync($"{command}: cannot read '{path}': {e.Message}").ConfigureAwait(false);
            return 2;
        }

        await using (input.ConfigureAwait(false))
        {
            var stdout = openStdout();
            await using (stdout.ConfigureAwait(false))
            {
                return await run(input, stdout).ConfigureAwait(false);
            }
        }
    }
}
