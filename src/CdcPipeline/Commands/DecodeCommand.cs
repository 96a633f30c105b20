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
        var file = RecordLines.FileArgument();
        var decoderOptions = new DecoderCliOptions();
        var command = new Command("decode", "Decode Debezium records into canonical change events (one JSON line each).") { file };
        decoderOptions.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
            RecordLines.WithStreamsAsync(parse, parse.GetValue(file), (input, output) =>
                RunAsync(input, output, Console.Error, decoderOptions.Read(parse), cancellationToken)));
        return command;
    }

    /// <summary>Decodes every line of <paramref name="input"/>; returns the exit code (0 all decoded, 1 some failed).</summary>
    public static Task<int> RunAsync(Stream input, Stream output, TextWriter errors, DebeziumDecoderOptions options, CancellationToken cancellationToken)
    {
        var writer = new Utf8JsonWriter(Stream.Null, CanonicalJson.WriterOptions);
        return RecordLines.RunAsync(
            input,
            output,
            errors,
            options,
            (change, buffer) =>
            {
                writer.Reset(buffer);
                CanonicalJson.Write(writer, change);
                writer.Flush();
                buffer.Write("\n"u8);
            },
            cancellationToken);
    }
}
