using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Hosting;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Sinks.Failures;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>dlq list|redrive --config F</c> for a pipeline without <c>deadLetter.topic</c>: its letters are JSON lines in
/// <c>deadLetter.path</c> (<see cref="JsonLinesDeadLetterQueue"/>), which a running pipeline may be appending to. The file
/// is only ever read (shared, never rewritten); what a redrive delivered is appended to <c>&lt;file&gt;.redriven</c>, one
/// line number and event id (or position) a line, and a later redrive skips those letters unless <c>--again</c>.
/// A letter of a sink's stage goes again through that sink, built from the configuration as <c>run</c> builds it, with
/// its retry settings (<see cref="SinkRedelivery"/>, what <c>failures resend</c> uses). A <c>translate</c> letter (a rule
/// failed on a change) is translated again with the current rules, as <c>run</c> builds its translator
/// (<see cref="PipelineBuilder.Translator"/>): the embedded path's change read back with its values' types, a Kafka source's
/// record decoded again with the source's decoder; each resulting event goes to every sink <c>run</c> would hand it to; its
/// event ids are made from the change's position as before, so a partial redrive repeated delivers the same ids. A
/// <c>decode</c> letter holds bytes that never became a change: nothing can deliver it, it is counted. A redrive holds an
/// exclusive lock on the sidecar (<see cref="ExclusiveLockFile"/>): two at once would both deliver a letter.
/// </summary>
internal static class DeadLetterFile
{
    /// <summary>The options of the file variant, as the command line gave them.</summary>
    internal sealed record Selection(string? Stage, string? WhereError, int Max = int.MaxValue)
    {
        public bool Selects(Letter letter) =>
            (Stage is null || string.Equals(letter.Stage, Stage, StringComparison.Ordinal))
            // The Kafka variant matches cdc.error ignoring case; so does this one.
            && (WhereError is null || letter.Error.Contains(WhereError, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>One line of the file that reads as a dead letter.</summary>
    /// <param name="Payload">The payload when it is JSON (its text), else null.</param>
    /// <param name="PayloadBytes">The payload's bytes, JSON or not (<c>payloadBase64</c>: an Avro record).</param>
    /// <param name="ValueTypes">The types of a canonical change's values (<c>valueTypes</c>), when the letter has them.</param>
    /// <param name="Key">A source record's key bytes, when the letter has them.</param>
    /// <param name="Headers">A source record's headers, when the letter has them.</param>
    /// <param name="Origin">A canonical change's name (<c>origin</c>: an embedded snapshot row's), when the letter has one.</param>
    internal sealed record Letter(
        int Line, string Stage, string Error, string? EventId, string? EventType, string? Position, string? FailedAt, string? Payload,
        byte[]? PayloadBytes = null, string? ValueTypes = null, byte[]? Key = null, IReadOnlyList<KeyValuePair<string, byte[]?>>? Headers = null,
        string? Origin = null)
    {
        /// <summary>What the sidecar records for it: its line and its event id (a letter without one: its position).</summary>
        public string Mark => string.Create(CultureInfo.InvariantCulture, $"{Line}\t{EventId ?? Position ?? "-"}");

        public string ErrorFirstLine => Error.ReplaceLineEndings("\n").Split('\n', 2)[0];
    }

    public static string PathOf(PipelineConfiguration pipeline) =>
        Path.GetFullPath(Path.Combine(pipeline.BaseDirectory, pipeline.Options.DeadLetter.Path));

    public static string SidecarOf(string path) => path + ".redriven";

    /// <summary>
    /// For a file sink's file that the pipeline writes (<paramref name="e"/>), the other way than stopping it: deliver into
    /// another file with a copy of the configuration (<paramref name="verb"/>: redrive, resend); empty for a spool.
    /// </summary>
    public static string OrElse(StateDirectoryInUseException e, string verb) =>
        e.What == "file" ? $"; or, to {verb} while it runs, give the command a copy of the configuration whose sink '{e.Sink}' has another file.path" : "";

    /// <summary>
    /// The file's letters in order; a line that is not a letter is said on <paramref name="errors"/> and passed over
    /// (the last one, a write cut off when the process was killed, as such). A missing file has no letters.
    /// </summary>
    public static async IAsyncEnumerable<Letter> ReadAsync(string path, string command, TextWriter errors, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            await errors.WriteLineAsync($"{command}: {path} does not exist: no letter was written yet").ConfigureAwait(false);
            yield break;
        }

        // Shared with a running pipeline, which keeps appending (FileShare.Read on its side allows our read only).
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        await using (stream.ConfigureAwait(false))
        {
            using var lines = new LineReader(stream);
            var number = 0;
            (int Number, string Why)? bad = null;
            while (await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (bad is var (badNumber, why))
                {
                    // Not the last line after all: a line in the middle that is not a letter.
                    await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{command}: {path}:{badNumber}: not a dead letter ({why}); passed over")).ConfigureAwait(false);
                    bad = null;
                }

                number++;
                if (line.IsEmpty)
                {
                    continue;
                }

                Letter? letter;
                try
                {
                    letter = Parse(number, line.Span);
                }
                catch (JsonException e)
                {
                    bad = (number, e.Message);
                    continue;
                }

                if (letter is null)
                {
                    bad = (number, "no stage or error");
                    continue;
                }

                yield return letter;
            }

            if (bad is var (lastNumber, _))
            {
                await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{command}: {path}:{lastNumber}: the last line is incomplete (a write cut off, e.g. the pipeline was killed while writing it, or is writing it now); passed over")).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The letter a line holds; null when it has no stage or error. Also for <c>translate</c>, which reads letter lines.</summary>
    /// <exception cref="JsonException">The line is not JSON.</exception>
    internal static Letter? Parse(int number, ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || String(root, "stage") is not { } stage || String(root, "error") is not { } error)
        {
            return null;
        }

        var payload = root.TryGetProperty("payload", out var p) ? p.GetRawText() : null;
        return new Letter(
            number, stage, error, String(root, "eventId"), String(root, "eventType"), String(root, "position"), String(root, "failedAt"), payload,
            Bytes(root, "payload"),
            root.TryGetProperty("valueTypes", out var types) && types.ValueKind == JsonValueKind.Object ? types.GetRawText() : null,
            Bytes(root, "key"),
            Headers(root),
            String(root, "origin"));
    }

    /// <summary>A value <see cref="JsonLinesDeadLetterQueue"/> wrote as JSON (<c>name</c>) or base64 (<c>nameBase64</c>); null when absent.</summary>
    private static byte[]? Bytes(JsonElement root, string name) =>
        root.TryGetProperty(name, out var json) ? Encoding.UTF8.GetBytes(json.GetRawText())
        : root.TryGetProperty(name + "Base64", out var base64) && base64.ValueKind == JsonValueKind.String ? base64.GetBytesFromBase64()
        : null;

    private static List<KeyValuePair<string, byte[]?>>? Headers(JsonElement root)
    {
        if (!root.TryGetProperty("headers", out var headers) || headers.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        return headers.EnumerateArray()
            .Where(h => h.ValueKind == JsonValueKind.Object && String(h, "name") is not null)
            .Select(h => new KeyValuePair<string, byte[]?>(
                String(h, "name")!,
                String(h, "value") is { } text ? Encoding.UTF8.GetBytes(text)
                : h.TryGetProperty("valueBase64", out var b) && b.ValueKind == JsonValueKind.String ? b.GetBytesFromBase64()
                : null))
            .ToList();
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary><c>dlq list</c>: one tab-separated line a letter on <paramref name="output"/>; exit 0.</summary>
    public static async Task<int> ListAsync(PipelineConfiguration pipeline, Selection selection, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        var path = PathOf(pipeline);
        var listed = 0;
        await foreach (var letter in ReadAsync(path, "dlq list", errors, cancellationToken).ConfigureAwait(false))
        {
            if (!selection.Selects(letter))
            {
                continue;
            }

            if (listed >= selection.Max)
            {
                break;
            }

            listed++;
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{letter.Line}\t{letter.FailedAt ?? "-"}\t{letter.Stage}\t{letter.EventType ?? "-"}\t{letter.EventId ?? "-"}\t{letter.ErrorFirstLine}")).ConfigureAwait(false);
        }

        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{listed} letter(s) in {path}")).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// <c>dlq redrive</c>: exit 0 when every selected letter that can be delivered was (or already had been), 1 when one
    /// failed again (it stays unmarked, for the next redrive), 2 for a configuration error.
    /// </summary>
    /// <param name="configureServices">Tests: services the redrive's own provider gets besides <c>run</c>'s (a Schema Registry client).</param>
    public static async Task<int> RedriveAsync(
        PipelineConfiguration pipeline, Selection selection, bool again, bool dryRun, TextWriter output, TextWriter errors, CancellationToken cancellationToken,
        Action<IServiceCollection>? configureServices = null)
    {
        const string Command = "dlq redrive";
        var path = PathOf(pipeline);
        var sidecar = SidecarOf(path);

        // Taken before the sidecar is read, held until the last mark is written: a second redrive at the same time would
        // read the same sidecar and deliver the same letters. A dry run delivers and marks nothing. Without the directory
        // there is nothing to lock and no letter, and that is decided here, once: the file is not read afterwards. A redrive
        // that went on unlocked and opened the file later read the letters the pipeline wrote meanwhile, beside a second
        // redrive that found the directory and took the lock. So a missing directory still creates nothing.
        var unwritten = !Directory.Exists(Path.GetDirectoryName(path));
        ExclusiveLockFile? held = null;
        if (!dryRun && !unwritten)
        {
            try
            {
                held = ExclusiveLockFile.TryAcquire(sidecar + ".lock", sidecar + ".lock.owner", [new("pipeline", pipeline.Options.Name), new("command", Command)], out var holder);
                if (held is null)
                {
                    await errors.WriteLineAsync(
                        $"{Command}: {sidecar} is held by another redrive ({holder}); nothing was delivered: wait for it to end (or stop it), then run '{Command}' again").ConfigureAwait(false);
                    return 1;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await errors.WriteLineAsync($"{Command}: cannot lock {sidecar}.lock ({e.Message}); nothing was delivered: make its directory writable, then run '{Command}' again").ConfigureAwait(false);
                return 1;
            }
        }

        using (held)
        {
            var letters = unwritten ? NoLetterYet(path, Command, errors) : ReadAsync(path, Command, errors, cancellationToken);
            return await RedriveLockedAsync(pipeline, selection, again, dryRun, letters, sidecar, output, errors, configureServices, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What <see cref="ReadAsync"/> says of a missing file, for a directory found missing before: no letter, nothing read.</summary>
    private static async IAsyncEnumerable<Letter> NoLetterYet(string path, string command, TextWriter errors)
    {
        await errors.WriteLineAsync($"{command}: {path} does not exist: no letter was written yet").ConfigureAwait(false);
        yield break;
    }

    private static async Task<int> RedriveLockedAsync(
        PipelineConfiguration pipeline, Selection selection, bool again, bool dryRun, IAsyncEnumerable<Letter> letters, string sidecar, TextWriter output, TextWriter errors,
        Action<IServiceCollection>? configureServices, CancellationToken cancellationToken)
    {
        const string Command = "dlq redrive";
        var done = File.Exists(sidecar)
            ? (await File.ReadAllLinesAsync(sidecar, cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal)
            : [];

        // In the configuration's order, as the runner's fan-out has them.
        var sinkNames = ConfiguredSinks.Names(pipeline);
        var (redriven, failed, skipped, undeliverable, taken, remaining) = (0, 0, 0, 0, 0, 0);

        var collection = new ServiceCollection()
            .AddLogging(logging => logging.AddProvider(new CommandLineLog(Command, errors)))
            .AddCdcPipeline();
        configureServices?.Invoke(collection);
        var services = collection.BuildServiceProvider();
        await using (services.ConfigureAwait(false))
        {
            var sinks = new SinkRedelivery(name => ConfiguredSinks.Create(pipeline, services, name));
            await using (sinks.ConfigureAwait(false))
            {
                // Built at the first translate letter, from the rules as they are now (the usual reason to redrive one is a rules fix).
                IChangeTranslator? translator = null;
                // Built at the first translate letter that holds a Kafka source's record, as run builds the source's decoder.
                IKafkaRecordDecoder? decoder = null;
                // Opened at the first delivery: a redrive that delivers nothing leaves no sidecar behind.
                StreamWriter? marks = null;
                try
                {
                    await foreach (var letter in letters.WithCancellation(cancellationToken).ConfigureAwait(false))
                    {
                        if (!selection.Selects(letter))
                        {
                            continue;
                        }

                        var id = letter.EventId ?? "-";
                        var line = string.Create(CultureInfo.InvariantCulture, $"{letter.Line}\t{letter.Stage}\t{id}");
                        if (!again && done.Contains(letter.Mark))
                        {
                            skipped++;
                            continue;
                        }

                        var translate = letter.Stage == "translate" && DeadLetter.HoldsSourceRecordFor(letter.Stage, letter.EventId);
                        if (!translate && (letter.Stage is "decode" or "translate" || !sinkNames.Contains(letter.Stage)))
                        {
                            undeliverable++;
                            await output.WriteLineAsync($"{line}\tnot redriven: {Undeliverable(letter, pipeline)}").ConfigureAwait(false);
                            continue;
                        }

                        // --max counts the letters a redrive takes on (oldest first: the file is in the order they failed); the
                        // others stay for the next one, and are counted so the operator knows how many.
                        if (taken >= selection.Max)
                        {
                            remaining++;
                            continue;
                        }

                        taken++;
                        if (dryRun)
                        {
                            await output.WriteLineAsync(translate
                                ? $"{line}\twould be translated again with the current rules and its events delivered to the sinks that take them"
                                : $"{line}\twould be redriven through sink '{letter.Stage}'").ConfigureAwait(false);
                            continue;
                        }

                        Exception? error;
                        var outcome = "redriven";
                        try
                        {
                            if (translate)
                            {
                                var rules = translator ??= PipelineBuilder.Translator(pipeline, services);
                                var change = await ChangeOfAsync(letter, () => decoder ??= KafkaDecoder(pipeline, services, rules), cancellationToken).ConfigureAwait(false);
                                (error, outcome) = await RetranslateAsync(change, rules, sinks, sinkNames, cancellationToken).ConfigureAwait(false);
                            }
                            else
                            {
                                var domainEvent = StoredEvent.Read(letter.Payload ?? throw new FormatException("the letter has no JSON payload"), letter.EventId ?? "", letter.EventType ?? "", ParsePosition(letter.Position));
                                error = await sinks.DeliverAsync(letter.Stage, domainEvent, cancellationToken).ConfigureAwait(false);
                            }
                        }
                        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException)
                        {
                            error = e;
                        }

                        if (error is null)
                        {
                            redriven++;
                            marks ??= new StreamWriter(sidecar, append: true, new UTF8Encoding(false));
                            await marks.WriteLineAsync(letter.Mark).ConfigureAwait(false);
                            await marks.FlushAsync(cancellationToken).ConfigureAwait(false);
                            await output.WriteLineAsync($"{line}\t{outcome}").ConfigureAwait(false);
                        }
                        else
                        {
                            failed++;
                            await output.WriteLineAsync($"{line}\tfailed again: {error.Message.ReplaceLineEndings(" ")}").ConfigureAwait(false);
                        }
                    }
                }
                catch (ConfigurationException e)
                {
                    await errors.WriteLineAsync($"{Command}: {e.Message}").ConfigureAwait(false);
                    return 2;
                }
                catch (StateDirectoryInUseException e)
                {
                    await errors.WriteLineAsync(
                        $"{Command}: sink '{e.Sink}': its {e.What} {e.Directory} is held by another process ({e.Holder}); "
                            + "this letter and the ones after it were left as they were: stop that pipeline, run 'dlq redrive' again, then start the pipeline"
                            + OrElse(e, "redrive")).ConfigureAwait(false);
                    return 1;
                }
                finally
                {
                    if (marks is not null)
                    {
                        await marks.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }

        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        var summary = dryRun
            ? string.Create(CultureInfo.InvariantCulture, $"dry run: nothing delivered, nothing marked; {undeliverable} cannot be redriven, {skipped} already redriven")
            : string.Create(CultureInfo.InvariantCulture, $"{redriven} redriven, {failed} failed again, {undeliverable} cannot be redriven, {skipped} already redriven");
        if (remaining > 0)
        {
            summary += string.Create(CultureInfo.InvariantCulture, $"; {remaining} more remain (--max {selection.Max}): run 'dlq redrive' again for them");
        }

        await errors.WriteLineAsync(skipped > 0 ? $"{summary} (--again redrives those too; {sidecar} lists them)" : summary).ConfigureAwait(false);
        return failed > 0 ? 1 : 0;
    }

    /// <summary>
    /// A <c>translate</c> letter's change, translated with the current rules; each event goes to every sink that takes it,
    /// in the configuration's order, as <c>run</c> fans out. The error that stopped it (a rule that still fails, a command
    /// for a sink that is not configured, a sink that refused after its retries), or null and what was delivered. The
    /// events of a change keep the ids <c>run</c> gives them (made from the change's position), so what reached a sink
    /// before a failure arrives there again with the same id at the next redrive.
    /// </summary>
    private static async Task<(Exception? Error, string Outcome)> RetranslateAsync(ChangeEvent change, IChangeTranslator translator, SinkRedelivery sinks, List<string> sinkNames, CancellationToken cancellationToken)
    {
        var events = new List<DomainEvent>(2);
        try
        {
            translator.Translate(change, events);
            foreach (var e in events)
            {
                CloudEventJson.CheckExtensions(e);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // What the runner dead-letters the change for (any error of a rule), said the same way.
            return (new InvalidOperationException($"the current rules still fail on it: {e.Message}", e), "");
        }

        var deliveries = 0;
        var reached = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.Kind == DomainEventKind.Command && (e.Target is null || !sinkNames.Contains(e.Target)))
            {
                return (new InvalidOperationException($"event {e.Id} ({e.Type}) is a command for sink '{e.Target}', which is not configured"), "");
            }

            foreach (var sink in sinkNames)
            {
                if (!sinks.Wants(sink, e))
                {
                    continue;
                }

                if (await sinks.DeliverAsync(sink, e, cancellationToken).ConfigureAwait(false) is { } error)
                {
                    return (new InvalidOperationException($"sink '{sink}' refused event {e.Id} ({e.Type}): {error.Message}", error), "");
                }

                deliveries++;
                reached.Add(sink);
            }
        }

        return (null, events.Count == 0
            ? "redriven: the current rules make no event of it"
            : string.Create(CultureInfo.InvariantCulture, $"redriven: {events.Count} event(s), {deliveries} delivery(ies) to {(reached.Count == 0 ? "no sink (none takes its types)" : string.Join(", ", reached))}"));
    }

    /// <summary>
    /// The change a <c>translate</c> letter holds: the embedded path's canonical change JSON, read back with the types its
    /// values had (<c>valueTypes</c>; a letter without them as its JSON reads); or a Kafka source's Debezium record (JSON or
    /// Avro, with its key and headers), decoded as the source decoded it in <c>run</c>, so the change, and the ids of its
    /// events, are the same.
    /// </summary>
    internal static async Task<ChangeEvent> ChangeOfAsync(Letter letter, Func<IKafkaRecordDecoder> decoder, CancellationToken cancellationToken)
    {
        var position = ParsePosition(letter.Position);
        if (letter.Payload is { } json && IsCanonicalChange(json))
        {
            return StoredEvent.ReadChange(json, position, letter.ValueTypes, letter.Origin);
        }

        if (letter.PayloadBytes is not { } value || !position.TryGetKafkaPartition(out var topic, out var partition))
        {
            throw new FormatException($"its payload is not a canonical change, nor a Kafka record (its position '{letter.Position}' is not topic/partition@offset)");
        }

        var record = new DebeziumRecord
        {
            Topic = topic,
            Partition = partition,
            Offset = position.Major,
            // A missing key stays null: a null byte[] would become an empty, non-null ReadOnlyMemory.
            Key = letter.Key is { } key ? key : null,
            Value = value,
            Headers = letter.Headers,
        };
        var decode = decoder();
        try
        {
            return await decode.DecodeAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A Schema Registry that does not answer, a schema id it no longer has: the letter stays for the next redrive.
            throw new InvalidOperationException($"its record ({record.Describe()}) cannot be decoded again: {e.Message}", e);
        }
    }

    internal static bool IsCanonicalChange(string json)
    {
        using var document = JsonDocument.Parse(json);
        return StoredEvent.IsCanonicalChange(document.RootElement);
    }

    /// <summary>The decoder <c>run</c> gives the pipeline's Kafka source (format, debezium: settings, Schema Registry).</summary>
    /// <exception cref="InvalidOperationException">The source is not Kafka: nothing here decodes a source record.</exception>
    internal static IKafkaRecordDecoder KafkaDecoder(PipelineConfiguration pipeline, IServiceProvider services, IChangeTranslator translator)
    {
        var (factory, context) = PipelineBuilder.Source(pipeline, services, translator);
        return factory is KafkaSourceFactory kafka
            ? kafka.CreateDecoder(context)
            : throw new InvalidOperationException($"its payload is a source record, not a canonical change, and the pipeline's source is '{factory.Kind}', not kafka: nothing decodes it here");
    }

    private static string Undeliverable(Letter letter, PipelineConfiguration pipeline) => letter.Stage switch
    {
        "decode" => "a decode letter holds bytes that never became a change; fix the decoder or the source and replay it from the source",
        "translate" => "a translate letter with an event id holds a command for a sink that was not configured (see its error); configure that sink or fix the rule, then replay the change from the source",
        _ => $"no sink named '{letter.Stage}' in {pipeline.FilePath}",
    };

    /// <summary>The position as <see cref="SourcePosition.ToString"/> wrote it: <c>stream@major:minor</c>.</summary>
    private static SourcePosition ParsePosition(string? text) =>
        SourcePosition.TryParse(text, out var position) ? position : throw new FormatException($"the letter's position '{text}' is not stream@major:minor");
}
