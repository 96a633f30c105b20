using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Sinks.Failures;

namespace CdcPipeline.Commands;

/// <summary>
/// The line loop shared by <c>decode</c> and <c>translate</c>: reads Debezium records (kcat <c>-J</c> or
/// bare value lines) one line at a time, decodes each, and lets the command render it. A line that
/// fails — in decoding or in the command's own step — is reported on stderr with its line number and
/// Kafka position, and the others go on. For rules (<c>translate</c>) a line may also be a canonical change, as
/// <c>decode</c> prints it and the embedded capture makes it, or a dead-letter file's <c>translate</c> letter holding one.
/// </summary>
internal static partial class RecordLines
{
    /// <summary>Returns the exit code: 0 when every line went through, 1 when some failed.</summary>
    /// <param name="forRules">
    /// The changes go to rules (<c>translate</c>): a canonical change line is read as the change it is, and a change
    /// that names no table is refused, as no rule can be chosen for it (it would make no event without a word).
    /// </param>
    /// <param name="sourceDecoder">
    /// The decoder of a pipeline's Kafka source (<c>translate --config</c>): a <c>translate</c> letter that holds the source's
    /// record is decoded with it, as <c>dlq redrive</c> decodes it; without it such a letter is refused.
    /// </param>
    /// <param name="ruleCheck">
    /// The rules checked against the column types of each Debezium record's value schema, the first time a record brings
    /// it, as the Kafka source checks them (<c>translate</c>); null for none.
    /// </param>
    public static async Task<int> RunAsync(
        Stream input,
        Stream output,
        TextWriter errors,
        DebeziumDecoderOptions options,
        Action<ChangeEvent, IBufferWriter<byte>> render,
        CancellationToken cancellationToken,
        bool forRules = false,
        Func<IKafkaRecordDecoder>? sourceDecoder = null,
        ConnectSchemaRuleCheck? ruleCheck = null)
    {
        var decoder = new DebeziumJsonDecoder(options) { RuleCheck = ruleCheck };
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
            ChangeEvent? untyped = null;
            var mark = buffer.WrittenCount;
            try
            {
                ChangeEvent change;
                DeadLetterFile.Letter? sourceLetter = null;
                var plainLine = false;
                if (forRules && ReadChangeLine(line, lineNumber, sourceDecoder is not null, ref sourceLetter, ref plainLine) is { } canonical)
                {
                    change = canonical;
                    untyped = plainLine ? change : null;
                    CheckPlaced(change, "a canonical change");
                }
                else if (sourceLetter is not null)
                {
                    change = await SourceRecordOfAsync(sourceLetter, sourceDecoder!, cancellationToken).ConfigureAwait(false);
                    CheckPlaced(change, null);
                }
                else
                {
                    record = DebeziumJsonDecoder.ReadLine(line, lineNumber);
                    change = decoder.Decode(record);
                    if (forRules)
                    {
                        CheckPlaced(change, null);
                    }
                }

                render(change, buffer);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed++;
                var where = record?.Describe() ?? string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}");
                // A decoder or translator bug must not hide the other lines: report it like a bad line, with its type.
                var message = e is DebeziumDecodeException or Core.Translation.Rules.RuleEvaluationException or UnplacedLineException
                    ? e.Message + (untyped is null ? "" : UntypedHint(e, untyped))
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

    /// <summary>
    /// The change a canonical change line holds — a JSON object with a string <c>"kind"</c>, which no Debezium value
    /// or kcat record has — read as <c>dlq redrive</c> reads a <c>translate</c> letter; null for any other line.
    /// Its position is its optional <c>"position"</c> (<c>stream@major:minor</c>, as <c>dlq list</c> shows it: the
    /// events then get the ids <c>run</c> gave them), else <c>line@N</c>, as for a bare Debezium value; with its optional
    /// <c>"origin"</c> (a dead letter's, an embedded snapshot row's name), named by that as <c>run</c> named it.
    /// </summary>
    /// <param name="plain">Set when the line is a canonical change itself, whose values have no types (not a letter's, with its <c>valueTypes</c>).</param>
    private static ChangeEvent? ReadChangeLine(ReadOnlyMemory<byte> line, long lineNumber, bool decodesSourceRecords, ref DeadLetterFile.Letter? sourceLetter, ref bool plain)
    {
        var reader = new Utf8JsonReader(line.Span);
        var canonical = false;
        var letter = false;
        string? position = null;
        string? origin = null;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isKind = reader.ValueTextEquals("kind"u8);
                var isStage = !isKind && reader.ValueTextEquals("stage"u8);
                var isPosition = !isKind && !isStage && reader.ValueTextEquals("position"u8);
                var isOrigin = !isKind && !isStage && !isPosition && reader.ValueTextEquals("origin"u8);
                if (!reader.Read())
                {
                    return null;
                }

                canonical |= isKind && reader.TokenType == JsonTokenType.String;
                letter |= isStage && reader.TokenType == JsonTokenType.String;
                if (isPosition && reader.TokenType == JsonTokenType.String)
                {
                    position = reader.GetString();
                }

                if (isOrigin && reader.TokenType == JsonTokenType.String)
                {
                    origin = reader.GetString();
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Malformed: the Debezium reader reports it as it always has.
            return null;
        }

        if (letter && !canonical)
        {
            return ReadLetterLine(line, lineNumber, decodesSourceRecords, ref sourceLetter);
        }

        if (!canonical)
        {
            return null;
        }

        plain = true;
        return ReadChange("a canonical change", Encoding.UTF8.GetString(line.Span), position, valueTypes: null, origin, lineNumber,
            " (as dlq list shows it, e.g. legacy_orders@24023512:3)", "a canonical change that cannot be read", "; write it as decode prints it");
    }

    /// <summary>
    /// What to do when a rule failed on a canonical change line because an operator met text: the line carries no types, so a
    /// NUMERIC, a date or a timestamp is text in it (<c>"258.70"</c>), where <c>run</c> — and <c>translate</c> of the Debezium
    /// record or of a dead letter — gives the rules a number, a date, a timestamp. Names the columns of the failed expression
    /// whose text reads as a number (<c>number(after.ord_amt)</c> gives a number in both); empty for any other failure.
    /// </summary>
    private static string UntypedHint(Exception e, ChangeEvent change)
    {
        if (e is not Core.Translation.Rules.RuleEvaluationException { Expression: { } expression, InnerException: { } cause }
            || !cause.Message.Contains("cannot be applied to operands of type", StringComparison.Ordinal)
            || !cause.Message.Contains("'string'", StringComparison.Ordinal))
        {
            return "";
        }

        var numbers = new List<string>();
        foreach (System.Text.RegularExpressions.Match m in ColumnRead().Matches(expression))
        {
            var image = m.Groups[1].Value switch
            {
                "before" => change.Before,
                "row" => change.After ?? change.Before,
                _ => change.After,
            };
            var read = $"number({m.Value})";
            if (image is not null && image.TryGetValue(m.Groups[2].Value, out var value) && value is string text
                && ExactDecimal.TryParse(text, out _) && !numbers.Contains(read))
            {
                numbers.Add(read);
            }
        }

        var convert = numbers.Count == 0 ? "" : $" {string.Join(", ", numbers)} in the rule {(numbers.Count == 1 ? "gives" : "give")} a number in both;";
        return $" (this canonical change line carries no types: its decimals, dates and timestamps reach the rules as text, where run gives them "
            + $"their column's type;{convert} or try the rules on the Debezium records themselves (translate FILE rather than decode FILE | translate) "
            + "or on a dead-letter file, whose letters keep the types)";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<![\w.])(after|before|row)\.(\w+)")]
    private static partial System.Text.RegularExpressions.Regex ColumnRead();

    /// <summary>
    /// <paramref name="what"/>'s change read as <c>dlq redrive</c> reads a letter's (<see cref="StoredEvent.ReadChange"/>), at its
    /// <paramref name="position"/> (<c>stream@major:minor</c>: the ids <c>run</c> gave) or else at <c>line@N</c>; what is wrong
    /// with either is refused naming it.
    /// </summary>
    private static ChangeEvent ReadChange(
        string what, string payload, string? position, string? valueTypes, string? origin, long lineNumber, string positionExample, string unreadable, string readHint)
    {
        var at = new SourcePosition("line", lineNumber);
        if (position is not null && !SourcePosition.TryParse(position, out at))
        {
            throw new UnplacedLineException(
                $"{what} whose \"position\" '{position}' is not stream@major:minor{positionExample}; fix it or leave it out");
        }

        try
        {
            return StoredEvent.ReadChange(payload, at, valueTypes, origin);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or JsonException)
        {
            throw new UnplacedLineException($"{unreadable}: {e.Message}{readHint}", e);
        }
    }

    /// <summary>
    /// The change a dead-letter line holds as the file has it (<see cref="Core.Sinks.JsonLinesDeadLetterQueue"/>): a
    /// <c>translate</c> letter of the embedded path, its canonical change read as <c>dlq redrive</c> reads it, with the letter's
    /// <c>position</c> (the ids <c>run</c> gave) and <c>valueTypes</c> (values typed as <c>run</c> typed them). Any other letter
    /// is refused saying why; a line with a <c>stage</c> but no <c>error</c> is no letter (null). A Kafka source's letter, when
    /// <paramref name="decodesSourceRecords"/>, is handed back in <paramref name="sourceLetter"/> (null returned) to be decoded.
    /// </summary>
    private static ChangeEvent? ReadLetterLine(ReadOnlyMemory<byte> line, long lineNumber, bool decodesSourceRecords, ref DeadLetterFile.Letter? sourceLetter)
    {
        var letter = DeadLetterFile.Parse((int)Math.Min(lineNumber, int.MaxValue), line.Span);
        if (letter is null)
        {
            return null;
        }

        if (letter.Stage != "translate")
        {
            throw new UnplacedLineException(letter.Stage == "decode"
                ? "a dead letter of stage 'decode': its payload never became a change (the decoder refused it), so no rule can be tried on it; only translate letters are translated"
                : $"a dead letter of stage '{letter.Stage}': sink '{letter.Stage}' failed to take an event, so its payload is that event, not a change for rules; "
                  + "only translate letters are translated (dlq redrive delivers this one again)");
        }

        if (letter.Payload is not { } payload || !DeadLetterFile.IsCanonicalChange(payload))
        {
            if (decodesSourceRecords && DeadLetter.HoldsSourceRecordFor(letter.Stage, letter.EventId))
            {
                sourceLetter = letter;
                return null;
            }

            throw new UnplacedLineException(decodesSourceRecords
                ? "a translate letter that holds the event of a command for a sink that is not configured (see its error), not a change for rules"
                : "a translate letter whose payload is not the embedded path's canonical change (a Kafka source's record, or the event of a command "
                  + "for a sink not configured); give translate --config with the pipeline's configuration to decode a Kafka source's record as its source does, "
                  + "or a Kafka record as Kafka holds it (kcat -J)");
        }

        return ReadChange("a translate letter", payload, letter.Position, letter.ValueTypes, letter.Origin, lineNumber, " (as dlq list shows it)",
            "a translate letter whose change cannot be read", "");
    }

    /// <summary>The change of a Kafka source's translate letter, decoded as the source decodes it (and as <c>dlq redrive</c> does).</summary>
    private static async Task<ChangeEvent> SourceRecordOfAsync(DeadLetterFile.Letter letter, Func<IKafkaRecordDecoder> decoder, CancellationToken cancellationToken)
    {
        try
        {
            return await DeadLetterFile.ChangeOfAsync(letter, decoder, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or Core.Configuration.ConfigurationException)
        {
            // Its position names no Kafka record, the --config source is not Kafka or cannot be built, the Schema Registry
            // does not answer: this letter is reported, the others are translated.
            throw new UnplacedLineException($"a translate letter whose record cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Refuses a row change that names no table (or, written by hand, no operation): no rule can be chosen for it, and it would make no event without a word.</summary>
    private static void CheckPlaced(ChangeEvent change, string? canonical)
    {
        var placed = change.Source.Schema is not null && change.Source.Table is not null;
        if (change.Kind != ChangeKind.Change || (placed && (canonical is null || change.Operation is not null)))
        {
            return;
        }

        var op = change.Operation?.ToCode() ?? "none";
        if (canonical is not null && change.Operation is null)
        {
            // Rules test op; a change without one (or with one that is not c, u, d, r, t) would meet none of them.
            throw new UnplacedLineException($"{canonical} without a known \"op\" (c, u, d, r or t), so no rule can match it; write it as decode prints it");
        }

        if (canonical is not null)
        {
            var missing = change.Source.Schema is null && change.Source.Table is null ? "\"schema\" and \"table\""
                : change.Source.Table is null ? "\"table\"" : "\"schema\"";
            throw new UnplacedLineException(
                $"{canonical} (op {op}) without {missing}, so no rule can be chosen for it; write it as decode prints it: "
                + "{\"kind\":\"change\",\"op\":…,\"schema\":\"public\",\"table\":…,\"key\":{…},\"before\":…,\"after\":…}");
        }

        throw new UnplacedLineException(
            $"a Debezium change (op {op}) that names no table: the value has no \"source\" block with its schema and table, and no kcat "
            + "topic says it, so no rule can be chosen for it; give translate the records as Kafka holds them (kcat -J), "
            + "or the canonical change lines decode prints (\"kind\":\"change\",\"schema\":…,\"table\":…)");
    }

    /// <summary>A line that reads but cannot be given to rules: its message says what it lacks.</summary>
    private sealed class UnplacedLineException : FormatException
    {
        public UnplacedLineException(string message, Exception? inner = null)
            : base(message, inner)
        {
        }
    }

    public static Argument<FileInfo?> FileArgument(string description = "kcat -J JSON lines or bare Debezium value JSON lines; stdin when omitted or -") => new("FILE")
    {
        Description = description,
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>
    /// Runs <paramref name="run"/> on FILE or standard input and standard output; a FILE that cannot be read is a usage
    /// error (exit 2, and where to read more).
    /// </summary>
    public static Task<int> WithStreamsAsync(ParseResult parse, FileInfo? path, Func<Stream, Stream, Task<int>> run) =>
        WithStreamsAsync(CommandLineApp.CommandPath(parse), path, Console.OpenStandardInput, Console.OpenStandardOutput, message => ExpectedFailure.UsageAsync(parse, message), run);

    /// <param name="refuse">Says why FILE cannot be read and returns the exit code.</param>
    internal static async Task<int> WithStreamsAsync(
        string command, FileInfo? path, Func<Stream> openStdin, Func<Stream> openStdout, Func<string, Task<int>> refuse, Func<Stream, Stream, Task<int>> run)
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
            return await refuse($"{command}: cannot read '{path}': it is a directory").ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return await refuse($"{command}: cannot read '{path}': {e.Message}").ConfigureAwait(false);
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
