using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>decode [FILE]</c>: Debezium records (kcat <c>-J</c> lines or bare value lines, JSON converter
/// with or without schemas) → one canonical change-event JSON line each. A line that fails is
/// reported on stderr with its line number and Kafka position; the others go on; exit code 1.
/// </summary>
internal static class DecodeCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo?>("FILE")
        {
            Description = "kcat -J JSON lines or bare Debezium value JSON lines; stdin when omitted",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var binary = new Option<BinaryHandlingMode>("--binary-handling-mode")
        {
            Description = "the connector's binary.handling.mode, for BYTEA columns sent as strings with propagated source types",
            DefaultValueFactory = _ => BinaryHandlingMode.Bytes,
        };
        var placeholder = new Option<string>("--unavailable-placeholder")
        {
            Description = "the connector's unavailable.value.placeholder",
            DefaultValueFactory = _ => Core.Changes.Unavailable.DebeziumPlaceholder,
        };
        var command = new Command("decode", "Decode Debezium records into canonical change events (one JSON line each).")
        {
            file,
            binary,
            placeholder,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new DebeziumDecoderOptions
            {
                BinaryHandlingMode = parse.GetValue(binary),
                UnavailablePlaceholder = parse.GetValue(placeholder) ?? Core.Changes.Unavailable.DebeziumPlaceholder,
            };
            var path = parse.GetValue(file);
            Stream input;
            try
            {
                input = path is null ? Console.OpenStandardInput() : path.OpenRead();
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync($"decode: cannot read '{path}': {e.Message}").ConfigureAwait(false);
                return 2;
            }
            catch (UnauthorizedAccessException e)
            {
                await Console.Error.WriteLineAsync($"decode: cannot read '{path}': {e.Message}").ConfigureAwait(false);
                return 2;
            }

            await using (input.ConfigureAwait(false))
            {
                var stdout = Console.OpenStandardOutput();
                await using (stdout.ConfigureAwait(false))
                {
                    return await RunAsync(input, stdout, Console.Error, options, cancellationToken).ConfigureAwait(false);
                }
            }
        });
        return command;
    }

    /// <summary>Decodes every line of <paramref name="input"/>; returns the exit code (0 all decoded, 1 some failed).</summary>
    public static async Task<int> RunAsync(Stream input, Stream output, TextWriter errors, DebeziumDecoderOptions options, CancellationToken cancellationToken)
    {
        var decoder = new DebeziumJsonDecoder(options);
        var buffer = new ArrayBufferWriter<byte>(4096);
        var failed = 0;
        long lineNumber = 0;
        using var lines = new LineReader(input);
        using var writer = new Utf8JsonWriter(buffer, CanonicalJson.WriterOptions);
        while (await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (IsBlank(line.Span))
            {
                continue;
            }

            DebeziumRecord? record = null;
            try
            {
                record = DebeziumJsonDecoder.ReadLine(line, lineNumber);
                var change = decoder.Decode(record);
                writer.Reset();
                CanonicalJson.Write(writer, change);
                writer.Flush();
                buffer.Write("\n"u8);
            }
            catch (DebeziumDecodeException e)
            {
                failed++;
                var where = record?.Describe() ?? string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}");
                await errors.WriteLineAsync($"{where}: {e.Message}").ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A decoder bug must not hide the other lines: report it like a bad line, with its type.
                failed++;
                var where = record?.Describe() ?? string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}");
                await errors.WriteLineAsync($"{where}: unexpected {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
                writer.Reset();
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

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t\r"u8).IsEmpty;
}
