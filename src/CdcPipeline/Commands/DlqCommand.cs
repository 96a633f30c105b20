using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using CdcPipeline.Core.Json;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.DeadLetters;
using Confluent.Kafka;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>dlq list</c>: one JSON line per dead letter (position, key and headers as text when they are UTF-8,
/// else base64; payload as JSON when it is JSON, else base64). <c>dlq redrive</c>: re-produces dead
/// letters to their original topic (header <c>cdc.original.topic</c>) or <c>--to TOPIC</c>, with their
/// original key, optionally only those whose
/// error contains <c>--where-error</c> and within an offset range. Repeating a redrive is safe: progress
/// is committed in consumer group <c>--group</c> (default <c>{dlq-topic}.redrive</c>) after the brokers
/// acknowledged the re-produced records, so a second run continues where the first stopped (a crash
/// in between may re-send the last batch; the pipeline then treats them as new records — give the
/// downstream its de-duplication by <c>cdc.redriven.from</c> header or event content).
/// </summary>
internal static class DlqCommand
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public static Command Create()
    {
        var command = new Command("dlq", "Inspect and redrive dead letters on a Kafka topic.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Redrive());
        return command;
    }

    private static Option<string?> Topic() => new("--topic") { Description = "the dead-letter topic (default: deadLetter.topic of --config)" };

    /// <summary>The cluster and the topic from the options; nulls (after saying why on standard error) when they name none.</summary>
    private static (KafkaTarget.Resolved? Cluster, string? Topic) Resolve(KafkaTarget cluster, Option<string?> topic, ParseResult parse, string command)
    {
        if (cluster.Resolve(parse, Console.Error) is not { } resolved)
        {
            return (null, null);
        }

        var name = parse.GetValue(topic) ?? resolved.Pipeline?.Options.DeadLetter.Topic;
        if (string.IsNullOrWhiteSpace(name))
        {
            Console.Error.WriteLine($"{command}: which dead-letter topic? give --topic, or --config with deadLetter.topic");
            return (null, null);
        }

        return (resolved, name);
    }

    private static Command List()
    {
        var cluster = new KafkaTarget();
        var topic = Topic();
        var max = new Option<int>("--max") { Description = "stop after this many", DefaultValueFactory = _ => int.MaxValue };
        var command = new Command("list", "Print every dead letter as one JSON line.") { topic, max };
        cluster.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (Resolve(cluster, topic, parse, "dlq list") is not ({ } resolved, { } name))
            {
                return KafkaTarget.Unusable;
            }

            var stdout = Console.OpenStandardOutput();
            await using (stdout.ConfigureAwait(false))
            {
                return await ListAsync(resolved.Cluster, name, parse.GetValue(max), stdout, Console.Error, cancellationToken).ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <param name="timeout">How long the cluster may take to answer, and the longest a read may go without progress (default 15 s).</param>
    public static async Task<int> ListAsync(ClientConfig cluster, string topic, int max, Stream output, TextWriter errors, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        var wait = timeout ?? DefaultTimeout;
        return await GuardedAsync("dlq list", cluster, errors, async log =>
        {
            var partitions = ExistingPartitions(cluster, topic, wait, log);
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
                await output.WriteAsync(buffer.ToArray(), cancellationToken).ConfigureAwait(false);
            }

            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
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

        var headers = (record.Message.Headers ?? []).Select(h => (h.Key, Value: h.GetValueBytes() ?? [])).ToList();
        writer.WriteStartObject("headers");
        foreach (var (name, value) in headers.Where(h => Utf8.IsValid(h.Value)))
        {
            writer.WriteString(name, value);
        }

        writer.WriteEndObject();
        if (headers.Any(h => !Utf8.IsValid(h.Value)))
        {
            writer.WriteStartObject("headersBase64");
            foreach (var (name, value) in headers.Where(h => !Utf8.IsValid(h.Value)))
            {
                writer.WriteBase64String(name, value);
            }

            writer.WriteEndObject();
        }

        var payload = record.Message.Value ?? [];
        if (IsJson(payload))
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

    private static Command Redrive()
    {
        var cluster = new KafkaTarget();
        var topic = Topic();
        var to = new Option<string?>("--to") { Description = "produce here instead of each letter's original topic" };
        var whereError = new Option<string?>("--where-error") { Description = "only letters whose cdc.error contains this text" };
        var fromOffset = new Option<long>("--from-offset") { Description = "only letters at or after this DLQ offset", DefaultValueFactory = _ => 0 };
        var toOffset = new Option<long>("--to-offset") { Description = "only letters at or before this DLQ offset", DefaultValueFactory = _ => long.MaxValue };
        var group = new Option<string?>("--group") { Description = "progress group (default {topic}.redrive); a new name rescans everything" };
        var dryRun = new Option<bool>("--dry-run") { Description = "print what would be redriven" };
        var command = new Command("redrive", "Re-produce dead letters to their original topic (or --to).") { topic, to, whereError, fromOffset, toOffset, group, dryRun };
        cluster.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (Resolve(cluster, topic, parse, "dlq redrive") is not ({ } resolved, { } name))
            {
                return KafkaTarget.Unusable;
            }

            var options = new RedriveOptions(parse.GetValue(to), parse.GetValue(whereError), parse.GetValue(fromOffset), parse.GetValue(toOffset), parse.GetValue(group), parse.GetValue(dryRun));
            return await RedriveAsync(resolved.Cluster, name, options, Console.Out, Console.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    internal sealed record RedriveOptions(string? To, string? WhereError, long FromOffset, long ToOffset, string? Group, bool DryRun);

    /// <param name="timeout">How long the cluster may take to answer, and the longest a read may go without progress (default 15 s).</param>
    public static async Task<int> RedriveAsync(ClientConfig cluster, string topic, RedriveOptions options, TextWriter output, TextWriter errors, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        return await GuardedAsync("dlq redrive", cluster, errors, log => RedriveCoreAsync(cluster, topic, options, output, timeout ?? DefaultTimeout, log, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>A commit without membership, refused because the group has members (the broker's UNKNOWN_MEMBER_ID and kin).</summary>
    private static bool GroupInUse(KafkaException e)
    {
        static bool InUse(ErrorCode code) => code is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.RebalanceInProgress;
        return InUse(e.Error.Code) || (e is TopicPartitionOffsetException t && t.Results.Any(r => InUse(r.Error.Code)));
    }

    private static async Task<int> RedriveCoreAsync(ClientConfig cluster, string topic, RedriveOptions options, TextWriter output, TimeSpan timeout, ClientLogTail log, CancellationToken cancellationToken)
    {
        var groupId = options.Group ?? topic + ".redrive";
        var partitions = ExistingPartitions(cluster, topic, timeout, log);
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(Settings(cluster)) { EnableIdempotence = true, Acks = Acks.All })
            .SetLogHandler(log.Handle)
            .Build();
        var redriven = 0;
        var skipped = 0;
        using var consumer = Consumer(cluster, groupId, log);
        foreach (var record in ReadToEnd(consumer, topic, partitions, groupId, timeout, cancellationToken))
        {
            var headers = record.Message.Headers ?? [];
            string? Header(string name) => headers.TryGetLastBytes(name, out var b) ? Encoding.UTF8.GetString(b) : null;
            var target = options.To ?? Header(DeadLetterHeaders.OriginalTopic);
            var matches = record.Offset.Value >= options.FromOffset && record.Offset.Value <= options.ToOffset
                && (options.WhereError is null || (Header(DeadLetterHeaders.Error) ?? "").Contains(options.WhereError, StringComparison.OrdinalIgnoreCase));
            var from = string.Create(CultureInfo.InvariantCulture, $"{record.Topic}/{record.Partition.Value}@{record.Offset.Value}");
            if (!matches || target is null)
            {
                skipped++;
                if (matches)
                {
                    await output.WriteLineAsync($"{from}: skipped, no {DeadLetterHeaders.OriginalTopic} header (give --to TOPIC)").ConfigureAwait(false);
                }

                continue;
            }

            if (!options.DryRun)
            {
                var message = new Message<byte[]?, byte[]?>
                {
                    Key = record.Message.Key,
                    Value = record.Message.Value,
                    Headers = [new Header(DeadLetterHeaders.RedrivenFrom, Encoding.UTF8.GetBytes(from))],
                };
                await producer.ProduceAsync(target, message, cancellationToken).ConfigureAwait(false);
                try
                {
                    consumer.Commit([new TopicPartitionOffset(record.TopicPartition, record.Offset + 1)]);
                }
                catch (KafkaException e) when (GroupInUse(e))
                {
                    throw new DeadLetterTopicException(
                        $"{from} was sent to {target}, but consumer group '{groupId}' has active members, so the redrive cannot record its progress ({e.Error.Reason}). "
                        + "Stop the other consumer of that group (another dlq redrive?) or give another --group; a later redrive with this group sends that letter again.");
                }
            }

            redriven++;
            await output.WriteLineAsync($"{from} -> {target}{(options.DryRun ? " (dry run)" : "")}").ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{redriven} redriven, {skipped} skipped")).ConfigureAwait(false);
        return 0;
    }

    /// <summary>A copy of the cluster's settings (bootstrap servers and security) for one client.</summary>
    private static Dictionary<string, string> Settings(ClientConfig cluster) => cluster.ToDictionary(kv => kv.Key, kv => kv.Value);

    private static IConsumer<byte[]?, byte[]?> Consumer(ClientConfig cluster, string? groupId, ClientLogTail log) =>
        new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(Settings(cluster))
        {
            GroupId = groupId ?? "cdcpipeline-dlq-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).SetLogHandler(log.Handle).Build();

    /// <summary>The topic's partitions; a clear error when the cluster cannot be reached or has no such topic.</summary>
    private static IReadOnlyList<int> ExistingPartitions(ClientConfig cluster, string topic, TimeSpan timeout, ClientLogTail log)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig(Settings(cluster))).SetLogHandler(log.Handle).Build();
        var partitions = KafkaTopics.Partitions(admin, topic, timeout);
        return partitions.Count > 0
            ? partitions
            : throw new DeadLetterTopicException($"topic '{topic}' does not exist on {cluster.BootstrapServers}. The pipeline creates its dead-letter topic (deadLetter.topic in the pipeline config) with the first dead letter; check the name.");
    }

    /// <summary>
    /// Reads every partition of <paramref name="topic"/> to its end as of now, from the beginning, or with
    /// <paramref name="group"/> from that group's committed offsets. Partitions are assigned, not subscribed:
    /// no group join, so no rebalance delay, and a commit while other consumers are members of the group is
    /// refused by the broker. It stops only when every partition reported its end; a read that makes no
    /// progress for <paramref name="stall"/> is an error, never a shorter listing.
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
                    var missing = string.Join(", ", partitions.Where(p => !atEnd.Contains(p)));
                    throw new DeadLetterTopicException(string.Create(CultureInfo.InvariantCulture,
                        $"no progress for {stall.TotalSeconds:0} s reading '{topic}': partition(s) {missing} did not reach their end. Check that the brokers are up and the topic's partitions have leaders."));
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
