using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.DeadLetters;
using Confluent.Kafka;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>dlq list</c>: one JSON line per dead letter (position, key and headers as text when they are UTF-8,
/// else base64; payload as JSON when it is JSON, else base64). <c>dlq redrive</c>: re-produces dead
/// letters with their original key, optionally only those of a <c>--stage</c>, whose error contains
/// <c>--where-error</c>, or within an offset range. A letter that holds the source record (stage decode or
/// translate) goes back to the topic and partition it was read from (headers <c>cdc.original.*</c>); any other
/// (a domain event a sink could not take) only to <c>--to TOPIC</c> — without it, it is reported and skipped, as is
/// a letter whose original topic or partition no longer exists. A redrive never creates a topic.
/// Repeating a redrive is safe: progress is committed in a consumer group after the brokers acknowledged the
/// re-produced records, so a second run continues where the first stopped (a crash in between may re-send the
/// last letter; the pipeline then treats it as a new record — give the downstream its de-duplication by
/// <c>cdc.redriven.from</c> header or event content). See <see cref="ProgressGroup"/> for which group. Two redrives of
/// one group never both send: the one that finds the group in use stops first (<see cref="GroupHold"/>).
/// </summary>
internal static class DlqCommand
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public static Command Create()
    {
        var command = new Command("dlq", "Inspect and redrive dead letters: of a Kafka topic (deadLetter.topic), or of a pipeline's deadLetter.path file (--config).");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Redrive());
        return command;
    }

    private static Option<string?> Topic() => new("--topic") { Description = "the dead-letter topic (default: deadLetter.topic of --config)" };

    /// <summary>The cluster and the topic from the options; nulls (after saying why on standard error) when they name none, or a topic Kafka cannot have.</summary>
    private static (KafkaTarget.Resolved? Cluster, string? Topic) Resolve(KafkaTarget cluster, Option<string?> topic, ParseResult parse, string command)
    {
        var error = parse.InvocationConfiguration.Error;
        if (cluster.Resolve(parse, error, pipeline => FileDeadLetters(pipeline, command)) is not { } resolved)
        {
            return (null, null);
        }

        var name = parse.GetValue(topic) ?? resolved.Pipeline?.Options.DeadLetter.Topic;
        if (string.IsNullOrWhiteSpace(name))
        {
            error.WriteLine(resolved.Pipeline is { } pipeline && FileDeadLetters(pipeline, command) is { } file
                ? file
                : $"{command}: which dead-letter topic? give --topic, or --config with deadLetter.topic");
            return (null, null);
        }

        // As run's start checks refuse it (KafkaDeadLetterQueueFactory): asked for, an illegal name came back as "does not exist".
        if (KafkaTopics.NameProblem(name) is { } problem)
        {
            error.WriteLine(parse.GetValue(topic) is not null || resolved.Pipeline is not { } named
                ? $"{topic.Name}: {problem}"
                : new ConfigurationException("deadLetter:topic", problem, named.Locations).Message);
            return (null, null);
        }

        return (resolved, name);
    }

    /// <summary>
    /// A pipeline without <c>deadLetter.topic</c> writes its dead letters to <c>deadLetter.path</c> (the embedded
    /// capture's webhook, PostgreSQL, RabbitMQ… sinks): there is no topic for dlq to read, and "give
    /// --bootstrap-servers" would send the operator looking for a broker. Say where the letters are and what re-delivers
    /// a sink's failures instead; null when the pipeline has a dead-letter topic.
    /// </summary>
    private static string? FileDeadLetters(PipelineConfiguration pipeline, string command)
    {
        var options = pipeline.Options.DeadLetter;
        if (!string.IsNullOrWhiteSpace(options.Topic))
        {
            return null;
        }

        var path = Path.GetFullPath(Path.Combine(pipeline.BaseDirectory, options.Path));
        var where = pipeline.Locations.Describe("deadLetter:path") ?? "its default";
        return $"{command}: {pipeline.FilePath} has no deadLetter.topic: its dead letters are in the file {path} (deadLetter.path, {where}), "
            + $"and --topic names a Kafka topic: run '{command} --config {pipeline.FilePath}' without --topic and --bootstrap-servers to read the file "
            + "(README, Dead letters of the embedded path)";
    }

    private static Command List()
    {
        var cluster = new KafkaTarget();
        var topic = Topic();
        var max = new Option<int>("--max") { Description = "stop after this many", DefaultValueFactory = _ => int.MaxValue };
        NotNegative(max);
        var stage = new Option<string?>("--stage") { Description = "a deadLetter.path file only: only letters of this stage (decode, translate, or a sink's name)" };
        var whereError = new Option<string?>("--where-error") { Description = "a deadLetter.path file only: only letters whose error contains this text (ignoring case)" };
        var command = new Command(
            "list",
            "Print the dead letters: of a Kafka topic one JSON line each; of a pipeline with deadLetter.path (--config without deadLetter.topic) "
                + "one tab-separated line each: line number, failedAt, stage, eventType, eventId, first line of the error.")
        { topic, max, stage, whereError };
        cluster.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, errors) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            if (await FromFileAsync(parse, cluster, topic, "dlq list", [], pipeline =>
                    DeadLetterFile.ListAsync(pipeline, new DeadLetterFile.Selection(parse.GetValue(stage), parse.GetValue(whereError), parse.GetValue(max)), output, errors, cancellationToken)).ConfigureAwait(false) is { } exit)
            {
                return exit;
            }

            if (OnlyForFile(parse, errors, "dlq list", stage, whereError) is { } refused)
            {
                return refused;
            }

            if (Resolve(cluster, topic, parse, "dlq list") is not ({ } resolved, { } name))
            {
                return KafkaTarget.Unusable;
            }

            return await ListAsync(resolved.Cluster, name, parse.GetValue(max), output, errors, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// The file variant, when <c>--config</c> names a pipeline without <c>deadLetter.topic</c> and no <c>--topic</c> is
    /// given: <paramref name="file"/>'s exit code (or 2 after saying why the configuration or a Kafka-only option is
    /// unusable); null for the Kafka variant.
    /// </summary>
    private static async Task<int?> FromFileAsync(ParseResult parse, KafkaTarget cluster, Option<string?> topic, string command, IReadOnlyList<Option> kafkaOnly, Func<PipelineConfiguration, Task<int>> file)
    {
        if (parse.GetValue(topic) is not null || parse.GetValue(cluster.Config) is not { } config)
        {
            return null;
        }

        var errors = parse.InvocationConfiguration.Error;
        if (ConfigFile.TryLoad(config, errors) is not { } pipeline)
        {
            return KafkaTarget.Unusable;
        }

        if (!string.IsNullOrWhiteSpace(pipeline.Options.DeadLetter.Topic))
        {
            return null;
        }

        foreach (var option in kafkaOnly.Append(cluster.Servers))
        {
            if (parse.GetResult(option) is { Implicit: false })
            {
                await errors.WriteLineAsync(
                    $"{command}: {option.Name} applies to a Kafka dead-letter topic, and {pipeline.FilePath} has none: its letters are in the file {DeadLetterFile.PathOf(pipeline)} (deadLetter.path); leave {option.Name} out").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }
        }

        return await file(pipeline).ConfigureAwait(false);
    }

    /// <summary>2 after saying so when an option of the file variant is given for a Kafka topic; else null.</summary>
    private static int? OnlyForFile(ParseResult parse, TextWriter errors, string command, params Option[] options)
    {
        foreach (var option in options)
        {
            if (parse.GetResult(option) is { Implicit: false })
            {
                errors.WriteLine($"{command}: {option.Name} applies to a pipeline's deadLetter.path file only (--config without deadLetter.topic), not to a Kafka topic");
                return KafkaTarget.Unusable;
            }
        }

        return null;
    }

    /// <summary>As <see cref="ListAsync(ClientConfig, string, int, Stream, TextWriter, CancellationToken, TimeSpan?)"/>, onto a text writer (the command's output).</summary>
    public static async Task<int> ListAsync(ClientConfig cluster, string topic, int max, TextWriter output, TextWriter errors, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        return await ListCoreAsync(cluster, topic, max, (line, ct) => new ValueTask(output.WriteAsync(Encoding.UTF8.GetString(line.Span).AsMemory(), ct)), ct => output.FlushAsync(ct), errors, cancellationToken, timeout).ConfigureAwait(false);
    }

    /// <param name="timeout">How long the cluster may take to answer, and the longest a read may go without progress (default 15 s).</param>
    public static Task<int> ListAsync(ClientConfig cluster, string topic, int max, Stream output, TextWriter errors, CancellationToken cancellationToken, TimeSpan? timeout = null) =>
        ListCoreAsync(cluster, topic, max, output.WriteAsync, output.FlushAsync, errors, cancellationToken, timeout);

    private static async Task<int> ListCoreAsync(ClientConfig cluster, string topic, int max, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> write, Func<CancellationToken, Task> flush, TextWriter errors, CancellationToken cancellationToken, TimeSpan? timeout)
    {
        var wait = timeout ?? DefaultTimeout;
        return await GuardedAsync("dlq list", cluster, errors, async log =>
        {
            IReadOnlyList<int> partitions;
            using (var admin = Admin(cluster, log))
            {
                partitions = ExistingPartitions(admin, cluster, topic, wait);
            }

            using var consumer = Consumer(cluster, groupId: null, log);
            var count = 0;
            foreach (var record in ReadToEnd(consumer, topic, partitions, group: null, wait, cancellationToken))
            {
                if (count++ >= max)
                {
                    break;
                }

                using var buffer = new MemoryStream();
                using (var writer = new Utf8JsonWriter(buffer, CanonicalJson.WriterOptions))
                {
                    Write(writer, record);
                }

                buffer.WriteByte((byte)'\n');
                await write(buffer.ToArray(), cancellationToken).ConfigureAwait(false);
            }

            await flush(cancellationToken).ConfigureAwait(false);
            // As the file form says: an empty topic is otherwise no output at all, which reads as "did it run?".
            await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{Math.Min(count, max)} letter(s) in topic '{topic}'")).ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>Runs a command's work; what stops it becomes one line on <paramref name="errors"/> and exit code 1.</summary>
    private static async Task<int> GuardedAsync(string command, ClientConfig cluster, TextWriter errors, Func<ClientLogTail, Task<int>> work)
    {
        var log = new ClientLogTail();
        string message;
        try
        {
            return await work(log).ConfigureAwait(false);
        }
        catch (DeadLetterTopicException e)
        {
            message = e.Message;
        }
        catch (KafkaException e)
        {
            message = KafkaCommandErrors.Describe(e, cluster.BootstrapServers, log);
        }

        await errors.WriteLineAsync($"{command}: {message}").ConfigureAwait(false);
        return 1;
    }

    private static void Write(Utf8JsonWriter writer, ConsumeResult<byte[]?, byte[]?> record)
    {
        writer.WriteStartObject();
        writer.WriteString("topic", record.Topic);
        writer.WriteNumber("partition", record.Partition.Value);
        writer.WriteNumber("offset", record.Offset.Value);
        writer.WriteString("timestamp", record.Message.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        // Text as text, anything else (an Avro key, a binary header) as base64: a listing never loses a byte.
        if (record.Message.Key is { } key)
        {
            if (Utf8.IsValid(key))
            {
                writer.WriteString("key", key);
            }
            else
            {
                writer.WriteBase64String("keyBase64", key);
            }
        }

        // Kafka allows a header name more than once (tracing tools append): such a name is listed as an array of its
        // values in order, since a JSON object with the name twice keeps only one of them in most readers.
        var headers = (record.Message.Headers ?? []).Select(h => (h.Key, Value: h.GetValueBytes() ?? [])).ToList();
        WriteHeaders(writer, "headers", headers.Where(h => Utf8.IsValid(h.Value)), static (w, v) => w.WriteStringValue(v));
        if (headers.Any(h => !Utf8.IsValid(h.Value)))
        {
            WriteHeaders(writer, "headersBase64", headers.Where(h => !Utf8.IsValid(h.Value)), static (w, v) => w.WriteBase64StringValue(v));
        }

        var payload = record.Message.Value;
        if (payload is null or [])
        {
            // A tombstone (key, no value): shown as one, not as an empty base64 string.
            writer.WriteNull("payload");
        }
        else if (IsJson(payload))
        {
            writer.WritePropertyName("payload");
            writer.WriteRawValue(payload, skipInputValidation: true);
        }
        else
        {
            writer.WriteBase64String("payloadBase64", payload);
        }

        writer.WriteEndObject();
    }

    private static void WriteHeaders(Utf8JsonWriter writer, string name, IEnumerable<(string Key, byte[] Value)> headers, Action<Utf8JsonWriter, byte[]> value)
    {
        writer.WriteStartObject(name);
        foreach (var group in headers.GroupBy(h => h.Key, StringComparer.Ordinal))
        {
            writer.WritePropertyName(group.Key);
            if (group.Skip(1).Any())
            {
                writer.WriteStartArray();
                foreach (var header in group)
                {
                    value(writer, header.Value);
                }

                writer.WriteEndArray();
            }
            else
            {
                value(writer, group.First().Value);
            }
        }

        writer.WriteEndObject();
    }

    private static Command Redrive()
    {
        var cluster = new KafkaTarget();
        var topic = Topic();
        var to = new Option<string?>("--to") { Description = "produce here instead of each letter's original topic (needed for a letter that holds a domain event)" };
        var stage = new Option<string?>("--stage") { Description = "only letters of this stage (cdc.stage, or a file letter's stage: decode, translate, or a sink's name)" };
        var whereError = new Option<string?>("--where-error") { Description = "only letters whose error (cdc.error) contains this text (ignoring case)" };
        var partition = new Option<int?>("--partition") { Description = "only letters of this partition of the DLQ topic (needed with --from-offset/--to-offset when it has several)" };
        var fromOffset = new Option<long>("--from-offset") { Description = "only letters at or after this DLQ offset", DefaultValueFactory = _ => 0 };
        var toOffset = new Option<long>("--to-offset") { Description = "only letters at or before this DLQ offset", DefaultValueFactory = _ => long.MaxValue };
        NotNegative(partition);
        NotNegative(fromOffset);
        NotNegative(toOffset);
        var group = new Option<string?>("--group") { Description = "progress group (default {topic}.redrive, or with --to or a filter {topic}.redrive.{hash of them}); a new name rescans everything" };
        var dryRun = new Option<bool>("--dry-run") { Description = "print what would be redriven" };
        var again = new Option<bool>("--again") { Description = "a deadLetter.path file only: also redrive letters an earlier redrive delivered (listed in <file>.redriven)" };
        var max = new Option<int>("--max") { Description = "a deadLetter.path file only: redrive at most this many letters (oldest first); the rest stay for the next redrive, and how many is said", DefaultValueFactory = _ => int.MaxValue };
        NotNegative(max);
        var command = new Command(
            "redrive",
            "Re-produce dead letters of a Kafka topic to their original topic (or --to). For a pipeline with deadLetter.path (--config without "
                + "deadLetter.topic): deliver each sink's letter again through that sink as run builds it (its retry settings), record it in "
                + "<file>.redriven so a later redrive skips it, and print each letter's outcome; translate each translate letter's change again with "
                + "the current rules (a Kafka source's record decoded again as the source decodes it) and deliver its events to every sink that takes them "
                + "(marked only when all arrived); decode letters are counted, not redriven; --max N takes the oldest N and says how many remain. "
                + "One redrive at a time: a second one says who holds <file>.redriven.lock and exits 1; of a Kafka topic, a second redrive with the "
                + "same progress group says the group is in use and exits 1 before it sends anything.")
        { topic, to, stage, whereError, partition, fromOffset, toOffset, group, dryRun, again, max };
        command.Validators.Add(result =>
        {
            // A negative offset is refused by its own option, with its own message.
            if (ParsedValue.TryGet(result, toOffset, out var last) && ParsedValue.TryGet(result, fromOffset, out var first) && last >= 0 && last < first)
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"--to-offset {last} is before --from-offset {first}: no letter is between them"));
            }
        });
        cluster.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, errors) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            if (await FromFileAsync(parse, cluster, topic, "dlq redrive", [to, partition, fromOffset, toOffset, group], pipeline =>
                    DeadLetterFile.RedriveAsync(pipeline, new DeadLetterFile.Selection(parse.GetValue(stage), parse.GetValue(whereError), parse.GetValue(max)), parse.GetValue(again), parse.GetValue(dryRun), output, errors, cancellationToken)).ConfigureAwait(false) is { } exit)
            {
                return exit;
            }

            if (OnlyForFile(parse, errors, "dlq redrive", again, max) is { } refused)
            {
                return refused;
            }

            // As an illegal --topic is refused (Resolve): asked for, such a name came back as "--to topic '…' does not exist".
            if (parse.GetValue(to) is { } target && KafkaTopics.NameProblem(target) is { } problem)
            {
                await errors.WriteLineAsync($"{to.Name}: {problem}").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }

            if (Resolve(cluster, topic, parse, "dlq redrive") is not ({ } resolved, { } name))
            {
                return KafkaTarget.Unusable;
            }

            var options = new RedriveOptions(parse.GetValue(to), parse.GetValue(whereError), parse.GetValue(fromOffset), parse.GetValue(toOffset), parse.GetValue(group), parse.GetValue(dryRun), parse.GetValue(stage), parse.GetValue(partition));
            return await RedriveAsync(resolved.Cluster, name, options, output, errors, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <param name="Partition">The DLQ topic's partition that <paramref name="FromOffset"/> and <paramref name="ToOffset"/> count in.</param>
    internal sealed record RedriveOptions(string? To, string? WhereError, long FromOffset, long ToOffset, string? Group, bool DryRun, string? Stage = null, int? Partition = null)
    {
        /// <summary>The options that pick letters or send them elsewhere, as typed on the command line; empty for a plain redrive.</summary>
        public IReadOnlyList<string> Selection()
        {
            var selection = new List<string>();
            if (Stage is not null)
            {
                selection.Add($"--stage '{Stage}'");
            }

            if (WhereError is not null)
            {
                selection.Add($"--where-error '{WhereError}'");
            }

            if (Partition is { } partition)
            {
                selection.Add(string.Create(CultureInfo.InvariantCulture, $"--partition {partition}"));
            }

            if (FromOffset > 0)
            {
                selection.Add(string.Create(CultureInfo.InvariantCulture, $"--from-offset {FromOffset}"));
            }

            if (ToOffset < long.MaxValue)
            {
                selection.Add(string.Create(CultureInfo.InvariantCulture, $"--to-offset {ToOffset}"));
            }

            if (To is not null)
            {
                selection.Add($"--to '{To}'");
            }

            return selection;
        }

        /// <summary>True when some letters may not be taken: a stage, an error text, a partition or an offset range.</summary>
        public bool Filters => Stage is not null || WhereError is not null || Partition is not null || OffsetRange;

        public bool OffsetRange => FromOffset > 0 || ToOffset < long.MaxValue;

        public bool Selects(ConsumeResult<byte[]?, byte[]?> record, string? stage, string? error) =>
            (Partition is null || record.Partition.Value == Partition)
            && record.Offset.Value >= FromOffset && record.Offset.Value <= ToOffset
            && (Stage is null || string.Equals(stage, Stage, StringComparison.Ordinal))
            // cdc.error is matched ignoring case, so the group a filter gets ignores it too.
            && (WhereError is null || (error ?? "").Contains(WhereError, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Where a redrive records its progress, and why there. A plain redrive uses <c>{topic}.redrive</c>. One with
    /// <c>--to</c> or a filter gets a group of its own, named after them: its progress passes letters it did not
    /// take (another stage, another error, or letters a plain redrive leaves for <c>--to</c>), and a plain redrive
    /// must still find those. <c>--group</c> wins.
    /// </summary>
    internal static (string Group, string Why) ProgressGroup(string topic, RedriveOptions options)
    {
        var selection = options.Selection();
        if (options.Group is { } chosen)
        {
            return (chosen, !options.Filters
                ? "--group"
                : "--group; the letters this redrive passes over count as done for any later redrive with this group");
        }

        if (selection.Count == 0)
        {
            return (topic + ".redrive", "the default for a redrive without --to or a filter");
        }

        var canonical = string.Join('\n', new RedriveOptions(options.To, options.WhereError?.ToUpperInvariant(), options.FromOffset, options.ToOffset, null, false, options.Stage, options.Partition).Selection());
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..8];
        return ($"{topic}.redrive.{hash}", $"its own for {string.Join(' ', selection)}, so a plain redrive still finds the letters this one passes over; --group to choose");
    }

    /// <param name="timeout">How long the cluster may take to answer, and the longest a read may go without progress (default 15 s).</param>
    public static async Task<int> RedriveAsync(ClientConfig cluster, string topic, RedriveOptions options, TextWriter output, TextWriter errors, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        return await GuardedAsync("dlq redrive", cluster, errors, log => RedriveCoreAsync(cluster, topic, options, output, timeout ?? DefaultTimeout, log, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>A commit the group refused because its membership is changing or this client is no longer in it (UNKNOWN_MEMBER_ID and kin).</summary>
    private static bool GroupInUse(KafkaException e)
    {
        static bool InUse(ErrorCode code) => code is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.RebalanceInProgress;
        return InUse(e.Error.Code) || (e is TopicPartitionOffsetException t && t.Results.Any(r => InUse(r.Error.Code)));
    }

    private static async Task<int> RedriveCoreAsync(ClientConfig cluster, string topic, RedriveOptions options, TextWriter output, TimeSpan timeout, ClientLogTail log, CancellationToken cancellationToken)
    {
        var (groupId, why) = ProgressGroup(topic, options);
        using var admin = Admin(cluster, log);
        var partitions = ExistingPartitions(admin, cluster, topic, timeout);
        var partitionCount = string.Create(CultureInfo.InvariantCulture, $"{partitions.Count}");
        if (options.Partition is { } only && !partitions.Contains(only))
        {
            throw new DeadLetterTopicException(string.Create(CultureInfo.InvariantCulture, $"'{topic}' has no partition {only} (it has {partitionCount}); dlq list shows each letter's partition."));
        }

        // Each partition counts its own offsets: a range alone would take the letters at those offsets of every partition.
        if (options.OffsetRange && options.Partition is null && partitions.Count > 1)
        {
            throw new DeadLetterTopicException(
                $"--from-offset and --to-offset count within one partition, and '{topic}' has {partitionCount}: add --partition P (dlq list shows each letter's partition and offset).");
        }

        var topics = new TopicCatalog(admin, timeout);
        if (string.Equals(options.To, topic, StringComparison.Ordinal))
        {
            throw new DeadLetterTopicException($"--to '{topic}' is the dead-letter topic being redriven: each letter would come back as a new letter without its error headers. Give the topic the letters should reach.");
        }

        if (options.To is { } to && topics.PartitionCount(to) is null)
        {
            throw new DeadLetterTopicException(
                $"--to topic '{to}' does not exist on {cluster.BootstrapServers}. A redrive does not create topics (a broker would make one with its default partitions and settings): check the name, or create the topic first.");
        }

        await output.WriteLineAsync($"progress: consumer group '{groupId}' ({why})").ConfigureAwait(false);
        var producerConfig = new ProducerConfig(Settings(cluster)) { EnableIdempotence = true, Acks = Acks.All, MessageMaxBytes = DeadLetterHeaders.MessageMaxBytes };

        // Each letter waits for its acknowledgement before the next: with librdkafka's default (5 minutes) a cluster
        // that went away mid-run left the command silent for that long before it said which letter failed.
        producerConfig.MessageTimeoutMs ??= (int)Math.Clamp(timeout.TotalMilliseconds, 1_000, int.MaxValue);
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(producerConfig)
            .SetLogHandler(log.Handle)
            .Build();
        var redriven = 0;
        var notSelected = 0;
        var needTarget = 0;
        // A dry run sends nothing and commits nothing: it reads as dlq list does, from the group's offsets, and leaves
        // the group alone. A run that sends holds the group while it reads (GroupHold).
        var hold = options.DryRun ? null : new GroupHold(topic, partitions, groupId, timeout);
        using var consumer = Consumer(cluster, groupId, log, hold);
        // Leaving at once (not after the session timeout) hands the group to a run that waits for it.
        using var leave = hold?.LeaveWhenDone(consumer);
        foreach (var record in hold?.Read(consumer, cancellationToken) ?? ReadToEnd(consumer, topic, partitions, groupId, timeout, cancellationToken))
        {
            var headers = record.Message.Headers ?? [];
            // A header may have no value (another tool wrote it): it says nothing.
            string? Header(string name) => headers.TryGetLastBytes(name, out var b) && b is not null ? Encoding.UTF8.GetString(b) : null;
            var stage = Header(DeadLetterHeaders.Stage);
            if (!options.Selects(record, stage, Header(DeadLetterHeaders.Error)))
            {
                // Not committed for its own sake: a filtered redrive has a group of its own (see ProgressGroup).
                notSelected++;
                continue;
            }

            var from = string.Create(CultureInfo.InvariantCulture, $"{record.Topic}/{record.Partition.Value}@{record.Offset.Value}");
            var (target, partition, missing) = Target(options, stage, Header, topics, cluster.BootstrapServers);
            if (target is null)
            {
                // Progress moves past it, so each run reports such a letter once; dlq list still shows it, and a
                // redrive with --to (a group of its own) still finds it.
                needTarget++;
                var pick = stage is null or "decode" or "translate" ? "" : $" --stage {stage}";
                await output.WriteLineAsync($"{from}: skipped, {missing}; redrive it with{pick} --to TOPIC (the topic it should reach). "
                    + (options.DryRun ? "(dry run)" : $"Group '{groupId}' moves past it: dlq list still shows it.")).ConfigureAwait(false);
                hold?.Commit(consumer, record, $"{from} was skipped (it needs --to)", "reports it again");
                continue;
            }

            if (!options.DryRun)
            {
                var message = new Message<byte[]?, byte[]?>
                {
                    Key = record.Message.Key,
                    // A letter written before tombstones stayed null holds zero bytes: it goes back as the tombstone it was.
                    Value = record.Message.Value is { Length: 0 } ? null : record.Message.Value,
                    Headers = RecordHeaders(headers, from),
                };
                // Back to the partition it was read from: the connector's (Java) partitioner is not librdkafka's,
                // so the same key alone could land elsewhere and lose its order with the key's other records.
                try
                {
                    if (partition is { } p)
                    {
                        await producer.ProduceAsync(new TopicPartition(target, p), message, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await producer.ProduceAsync(target, message, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (ProduceException<byte[]?, byte[]?> e)
                {
                    // Which letter, and that the ones before it are done: the operator fixes the cause (a topic's
                    // max.message.bytes, an ACL, a broker) and the same redrive continues with this letter.
                    throw new DeadLetterTopicException(
                        $"{from} could not be sent to {target}: {KafkaCommandErrors.Describe(e, cluster.BootstrapServers, log).TrimEnd('.')}. "
                        + $"The letters before it are done (group '{groupId}'); the same redrive continues with this one.");
                }

                hold!.Commit(consumer, record, $"{from} was sent to {target}", "sends that letter again");
            }

            redriven++;
            await output.WriteLineAsync($"{from} -> {target}{(partition is { } q ? string.Create(CultureInfo.InvariantCulture, $"/{q}") : "")}{(options.DryRun ? " (dry run)" : "")}").ConfigureAwait(false);
        }

        var summary = string.Create(CultureInfo.InvariantCulture, $"{redriven} redriven, {notSelected + needTarget} skipped");
        if (notSelected + needTarget > 0)
        {
            summary += string.Create(CultureInfo.InvariantCulture, $": {notSelected} not selected by the filter, {needTarget} needing --to (listed above)");
        }

        await output.WriteLineAsync(summary).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// Where a letter goes: <c>--to</c>, else — only for a letter that holds the source record — the topic and
    /// partition it was read from. Otherwise null and why, in words for the operator.
    /// </summary>
    private static (string? Topic, int? Partition, string? Missing) Target(RedriveOptions options, string? stage, Func<string, string?> header, TopicCatalog topics, string servers)
    {
        if (options.To is { } to)
        {
            return (to, null, null);
        }

        var eventId = header(DeadLetterHeaders.EventId);
        if (stage is null)
        {
            return (null, null, $"it has no {DeadLetterHeaders.Stage} header, so it may not be a change record");
        }

        if (!DeadLetter.HoldsSourceRecordFor(stage, eventId))
        {
            var type = header(DeadLetterHeaders.EventType);
            return (null, null, $"stage '{stage}' holds a domain event{(type is null ? "" : $" ({type})")}, not a record of a change topic");
        }

        if (header(DeadLetterHeaders.OriginalTopic) is not { } original)
        {
            return (null, null, $"it has no {DeadLetterHeaders.OriginalTopic} header (its source was not a Kafka topic)");
        }

        // Produced to a topic that is gone, the letter would make a new one wherever the brokers auto-create topics.
        if (topics.PartitionCount(original) is not { } count)
        {
            return (null, null, $"its original topic '{original}' does not exist on {servers}");
        }

        // A letter without the header (written by another tool) goes by its key; one with a header that names no
        // partition of the topic cannot go where it was read from, and by key it could land behind later changes.
        if (header(DeadLetterHeaders.OriginalPartition) is not { } text)
        {
            return (original, null, null);
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var partition))
        {
            return (null, null, $"its {DeadLetterHeaders.OriginalPartition} header '{text}' is not a partition number");
        }

        return partition < count
            ? (original, partition, null)
            : (null, null, string.Create(CultureInfo.InvariantCulture, $"its original partition {partition} does not exist ('{original}' has {count})"));
    }

    /// <summary>The record's own headers, in their order, without those about its failure; then where the redrive took it from.</summary>
    private static Headers RecordHeaders(Headers letter, string from)
    {
        var headers = new Headers();
        foreach (var header in letter.Where(h => !DeadLetterHeaders.DescribesFailure(h.Key)))
        {
            headers.Add(header.Key, header.GetValueBytes());
        }

        headers.Add(DeadLetterHeaders.RedrivenFrom, Encoding.UTF8.GetBytes(from));
        return headers;
    }

    /// <summary>A copy of the cluster's settings (bootstrap servers and security) for one client.</summary>
    private static Dictionary<string, string> Settings(ClientConfig cluster) => cluster.ToDictionary(kv => kv.Key, kv => kv.Value);

    private static IConsumer<byte[]?, byte[]?> Consumer(ClientConfig cluster, string? groupId, ClientLogTail log, GroupHold? hold = null)
    {
        var config = new ConsumerConfig(Settings(cluster))
        {
            GroupId = groupId ?? "cdcpipeline-dlq-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        };
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(hold is null ? config : GroupHold.Configure(config)).SetLogHandler(log.Handle);
        if (hold is not null)
        {
            builder.SetPartitionsAssignedHandler((_, assigned) => hold.Assigned(assigned))
                .SetPartitionsRevokedHandler((_, revoked) => hold.Revoked(revoked.Select(r => r.TopicPartition)))
                .SetPartitionsLostHandler((_, lost) => hold.Revoked(lost.Select(r => r.TopicPartition)));
        }

        return builder.Build();
    }

    private static void NotNegative<T>(Option<T> option) where T : struct, IComparable<T> =>
        option.Validators.Add(result =>
        {
            if (ParsedValue.TryGet(result, option, out var value) && value.CompareTo(default) < 0)
            {
                result.AddError($"{option.Name} must be 0 or more");
            }
        });

    private static void NotNegative<T>(Option<T?> option) where T : struct, IComparable<T> =>
        option.Validators.Add(result =>
        {
            if (ParsedValue.TryGet(result, option, out var parsed) && parsed is { } value && value.CompareTo(default) < 0)
            {
                result.AddError($"{option.Name} must be 0 or more");
            }
        });

    private static IAdminClient Admin(ClientConfig cluster, ClientLogTail log) =>
        new AdminClientBuilder(new AdminClientConfig(Settings(cluster))).SetLogHandler(log.Handle).Build();

    /// <summary>The topic's partitions; a clear error when the cluster cannot be reached or has no such topic.</summary>
    private static IReadOnlyList<int> ExistingPartitions(IAdminClient admin, ClientConfig cluster, string topic, TimeSpan timeout)
    {
        var partitions = KafkaTopics.Partitions(admin, topic, timeout);
        return partitions.Count > 0
            ? partitions
            : throw new DeadLetterTopicException($"topic '{topic}' does not exist on {cluster.BootstrapServers}. The pipeline creates its dead-letter topic (deadLetter.topic in the pipeline config) with the first dead letter; check the name.");
    }

    /// <summary>
    /// Reads every partition of <paramref name="topic"/> to its end as of now, from the beginning, or with
    /// <paramref name="group"/> from that group's committed offsets (dlq list, a dry run). Partitions are assigned, not
    /// subscribed: no group join, so no rebalance delay, and no part in the group of a redrive that may be sending. It
    /// stops only when every partition reported its end; a read that makes no progress for <paramref name="stall"/> is an
    /// error, never a shorter listing.
    /// </summary>
    private static IEnumerable<ConsumeResult<byte[]?, byte[]?>> ReadToEnd(
        IConsumer<byte[]?, byte[]?> consumer, string topic, IReadOnlyList<int> partitions, string? group, TimeSpan stall, CancellationToken cancellationToken)
    {
        var start = partitions.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)).ToList();
        if (group is not null)
        {
            start = consumer.Committed(partitions.Select(p => new TopicPartition(topic, p)), stall)
                .Select(c => c.Offset.IsSpecial ? new TopicPartitionOffset(c.TopicPartition, Offset.Beginning) : c)
                .ToList();
        }

        consumer.Assign(start);
        var atEnd = new HashSet<int>();
        var progressAt = Stopwatch.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested && atEnd.Count < partitions.Count)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is null)
            {
                if (Stopwatch.GetElapsedTime(progressAt) > stall)
                {
                    throw NoProgress(topic, partitions, atEnd, stall);
                }

                continue;
            }

            progressAt = Stopwatch.GetTimestamp();
            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                continue;
            }

            atEnd.Remove(result.Partition.Value);
            yield return result;
        }

        consumer.Unassign();
    }

    /// <summary>A read of <paramref name="topic"/> that stopped short of the end of the partitions not in <paramref name="atEnd"/>.</summary>
    private static DeadLetterTopicException NoProgress(string topic, IReadOnlyList<int> partitions, HashSet<int> atEnd, TimeSpan stall)
    {
        var missing = string.Join(", ", partitions.Where(p => !atEnd.Contains(p)));
        return new DeadLetterTopicException(string.Create(CultureInfo.InvariantCulture,
            $"no progress for {stall.TotalSeconds:0} s reading '{topic}': partition(s) {missing} did not reach their end. Check that the brokers are up and the topic's partitions have leaders."));
    }

    /// <summary>
    /// A sending redrive's hold on its progress group. It joins the group (subscribes to the dead-letter topic), so the
    /// brokers make every redrive of that group a member and share the topic's partitions among them; and it sends only
    /// while it is assigned every partition, which one member at a time can be. A run that shares the group before it
    /// has read anything stops without sending: another redrive (or another consumer of the group) is reading. Of runs
    /// that start together, the one assigned the first partition waits, up to the stall time, for the others to leave
    /// and goes on. A run already under way that sees a newcomer waits (up to twice the stall time) for every partition
    /// to come back, then continues from the group's committed offsets; what it handled itself is not sent again.
    /// </summary>
    private sealed class GroupHold(string topic, IReadOnlyList<int> partitions, string group, TimeSpan stall)
    {
        /// <summary>
        /// How long a redrive that was killed keeps the group (the brokers' minimum, group.min.session.timeout.ms, is 6 s by
        /// default); librdkafka's background thread heartbeats, so a long send does not count.
        /// </summary>
        private const int SessionTimeoutMs = 6_000;

        private readonly HashSet<int> _assigned = [];
        private readonly Dictionary<int, long> _handled = [];
        private int _rebalances;
        private int _changes;
        private bool _revoked;
        private bool _heldAll;
        private PendingCommit? _pending;

        /// <summary>The settings a holding consumer needs: an eager assignor (each rebalance starts from the committed offsets), a short session.</summary>
        public static ConsumerConfig Configure(ConsumerConfig config)
        {
            config.PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range;
            config.SessionTimeoutMs = SessionTimeoutMs;
            config.HeartbeatIntervalMs = SessionTimeoutMs / 3;
            // The range assignor sorts members by member id, which brokers start with the client id: with the start time
            // in it, the first partition goes to the run that started first, and a run under way keeps it.
            config.ClientId = (string.IsNullOrEmpty(config.ClientId) ? "cdcpipeline" : config.ClientId) + "-dlq-redrive-"
                + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
            return config;
        }

        public void Assigned(IEnumerable<TopicPartition> assigned)
        {
            _assigned.Clear();
            _assigned.UnionWith(assigned.Where(p => p.Topic == topic).Select(p => p.Partition.Value));
            _rebalances++;
            _changes++;
            _revoked = false;
        }

        /// <summary>A rebalance begins (every partition goes, eager), or the membership was lost: a new assignment follows.</summary>
        public void Revoked(IEnumerable<TopicPartition> revoked)
        {
            _assigned.ExceptWith(revoked.Where(p => p.Topic == topic).Select(p => p.Partition.Value));
            _changes++;
            _revoked = true;
        }

        private bool HoldsAll => partitions.All(_assigned.Contains);

        /// <summary>
        /// Reads every partition to its end as of now, from the group's committed offsets, yielding a letter only while
        /// this run holds every partition and no commit of its own is outstanding.
        /// </summary>
        public IEnumerable<ConsumeResult<byte[]?, byte[]?>> Read(IConsumer<byte[]?, byte[]?> consumer, CancellationToken cancellationToken)
        {
            consumer.Subscribe(topic);
            var atEnd = new HashSet<int>();
            var seen = 0;
            var waitingSince = Stopwatch.GetTimestamp();
            var progressAt = waitingSince;
            while (!cancellationToken.IsCancellationRequested)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (_changes != seen)
                {
                    // An eager rebalance took every partition back and starts the ones given again at the committed offsets.
                    seen = _changes;
                    atEnd.Clear();
                    waitingSince = progressAt = Stopwatch.GetTimestamp();
                }

                RetryCommit(consumer);
                if (!HoldsAll)
                {
                    // A letter read now is read again once the group is this run's: the rebalance that gives it back
                    // starts at the committed offsets.
                    Wait(waitingSince);
                    continue;
                }

                if (_pending is not null)
                {
                    continue;
                }

                _heldAll = true;
                if (result is null)
                {
                    if (Stopwatch.GetElapsedTime(progressAt) > stall)
                    {
                        throw NoProgress(topic, partitions, atEnd, stall);
                    }

                    continue;
                }

                progressAt = Stopwatch.GetTimestamp();
                var partition = result.Partition.Value;
                if (result.IsPartitionEOF)
                {
                    atEnd.Add(partition);
                    if (atEnd.Count == partitions.Count)
                    {
                        yield break;
                    }

                    continue;
                }

                atEnd.Remove(partition);
                if (_handled.TryGetValue(partition, out var last) && result.Offset.Value <= last)
                {
                    // Read again after a rebalance: this run sent it, skipped it or passed it over already.
                    continue;
                }

                _handled[partition] = result.Offset.Value;
                yield return result;
            }
        }

        /// <summary>Stops the run when the group does not become its own in time, saying who holds it.</summary>
        private void Wait(long waitingSince)
        {
            var waited = Stopwatch.GetElapsedTime(waitingSince);
            var patience = _heldAll ? 2 * stall : stall;
            var first = partitions.Min();
            if (_rebalances == 0 || _revoked)
            {
                // Joining, or a rebalance under way: it takes as long as the slowest member of the group to rejoin.
                if (waited <= patience)
                {
                    return;
                }

                if (!_heldAll)
                {
                    throw new DeadLetterTopicException(string.Create(CultureInfo.InvariantCulture,
                        $"consumer group '{group}' did not give this redrive its share of '{topic}' within {stall.TotalSeconds:0} s: the group waits for each of its members to rejoin, and another member (another dlq redrive, or another consumer of that group) or the brokers are slow.")
                        + " Nothing was sent. Check that the brokers are up, and that no other consumer uses the group, or give --group NAME for a run of its own.");
                }
            }
            else if (_heldAll ? waited <= patience : _assigned.Contains(first) && waited <= patience)
            {
                // Of runs that started together, the one given the first partition waits for the others to leave.
                return;
            }

            var others = string.Join(", ", partitions.Where(p => !_assigned.Contains(p)));
            var count = string.Create(CultureInfo.InvariantCulture, $"{partitions.Count}");
            if (!_heldAll)
            {
                throw new DeadLetterTopicException(string.Create(CultureInfo.InvariantCulture,
                    $"consumer group '{group}' is in use: another dlq redrive (or another consumer of that group) is reading '{topic}' and holds partition(s) {others} of its {count}. "
                    + $"Nothing was sent. Wait for that redrive to finish and run this one again (it continues where that one stops), or give --group NAME for a run of its own, which starts from the first letter. "
                    + $"A redrive that was killed keeps the group for {SessionTimeoutMs / 1000} s."));
            }

            throw new DeadLetterTopicException(string.Create(CultureInfo.InvariantCulture,
                $"another member joined consumer group '{group}' while this redrive was sending, and this redrive has waited {waited.TotalSeconds:0} s for partition(s) {others} of '{topic}' (another dlq redrive, or another consumer of that group, holds them). "
                + $"The letters before are done (group '{group}'); run the redrive again once that member has left, and it continues with the rest."));
        }

        /// <summary>Records that the redrive is done with <paramref name="record"/>; during a rebalance, with the next generation.</summary>
        public void Commit(IConsumer<byte[]?, byte[]?> consumer, ConsumeResult<byte[]?, byte[]?> record, string what, string again)
        {
            var offset = new TopicPartitionOffset(record.TopicPartition, record.Offset + 1);
            try
            {
                consumer.Commit([offset]);
            }
            catch (KafkaException e) when (GroupInUse(e))
            {
                // Another member is joining: the group takes no commit of this generation (the mock cluster's, or a
                // rebalance that has got as far as its sync). This run is still a member: it commits once it rejoined,
                // and reads no further before.
                _pending = new PendingCommit(offset, what, again, e.Error.Reason, _rebalances, Stopwatch.GetTimestamp());
            }
        }

        private void RetryCommit(IConsumer<byte[]?, byte[]?> consumer)
        {
            if (_pending is not { } pending)
            {
                return;
            }

            if (_rebalances != pending.Rebalances)
            {
                try
                {
                    consumer.Commit([pending.Offset]);
                    _pending = null;
                    return;
                }
                catch (KafkaException e) when (GroupInUse(e))
                {
                    _pending = pending with { Rebalances = _rebalances, Reason = e.Error.Reason };
                }
            }

            if (Stopwatch.GetElapsedTime(pending.Since) > 2 * stall)
            {
                throw new DeadLetterTopicException(
                    $"{pending.What}, but consumer group '{group}' took no commit for {(2 * stall).TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s, so the redrive cannot record its progress ({_pending!.Reason}). "
                    + $"Stop the other consumer of that group (another dlq redrive?) or give another --group; a later redrive with this group {pending.Again}.");
            }
        }

        /// <summary>Leaves the group when disposed, so that a run waiting for it need not wait for the session to time out.</summary>
        public IDisposable LeaveWhenDone(IConsumer<byte[]?, byte[]?> consumer) => new Leaving(consumer);

        private sealed class Leaving(IConsumer<byte[]?, byte[]?> consumer) : IDisposable
        {
            public void Dispose()
            {
                try
                {
                    consumer.Close();
                }
                catch (KafkaException)
                {
                    // Gone from the group after the session timeout instead; what stopped the run is said already.
                }
            }
        }

        private sealed record PendingCommit(TopicPartitionOffset Offset, string What, string Again, string Reason, int Rebalances, long Since);
    }

    /// <summary>
    /// The topics a redrive may send to and their partition counts, from the cluster's full metadata (asking for one
    /// topic by name would create it). A name not seen is looked up once more, in case it was created meanwhile.
    /// </summary>
    private sealed class TopicCatalog(IAdminClient admin, TimeSpan timeout)
    {
        private readonly HashSet<string> _lookedUpAgain = [];
        private Dictionary<string, int>? _partitionCounts;

        public int? PartitionCount(string topic)
        {
            _partitionCounts ??= Load();
            if (!_partitionCounts.ContainsKey(topic) && _lookedUpAgain.Add(topic))
            {
                _partitionCounts = Load();
            }

            return _partitionCounts.TryGetValue(topic, out var count) ? count : null;
        }

        private Dictionary<string, int> Load() =>
            admin.GetMetadata(timeout).Topics.Where(t => !t.Error.IsError).ToDictionary(t => t.Topic, t => t.Partitions.Count, StringComparer.Ordinal);
    }

    /// <summary>What stops a <c>dlq</c> command before or while it reads, in words for the operator.</summary>
    private sealed class DeadLetterTopicException(string message) : Exception(message);

    private static bool IsJson(byte[] payload)
    {
        if (payload.Length == 0)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(payload);
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
