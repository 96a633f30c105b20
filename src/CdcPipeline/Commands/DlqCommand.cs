using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Json;
using CdcPipeline.Kafka.DeadLetters;
using Confluent.Kafka;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>dlq list</c>: one JSON line per dead letter (position, headers, payload as JSON when it is JSON,
/// else base64). <c>dlq redrive</c>: re-produces dead letters to their original topic (header
/// <c>cdc.original.topic</c>) or <c>--to TOPIC</c>, with their original key, optionally only those whose
/// error contains <c>--where-error</c> and within an offset range. Repeating a redrive is safe: progress
/// is committed in consumer group <c>--group</c> (default <c>{dlq-topic}.redrive</c>) after the brokers
/// acknowledged the re-produced records, so a second run continues where the first stopped (a crash
/// in between may re-send the last batch; the pipeline then treats them as new records — give the
/// downstream its de-duplication by <c>cdc.redriven.from</c> header or event content).
/// </summary>
internal static class DlqCommand
{
    public static Command Create()
    {
        var command = new Command("dlq", "Inspect and redrive dead letters on a Kafka topic.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Redrive());
        return command;
    }

    private static Option<string> Servers() => new("--bootstrap-servers") { Description = "Kafka bootstrap servers", Required = true };

    private static Option<string> Topic() => new("--topic") { Description = "the dead-letter topic (deadLetter.topic)", Required = true };

    private static Command List()
    {
        var servers = Servers();
        var topic = Topic();
        var max = new Option<int>("--max") { Description = "stop after this many", DefaultValueFactory = _ => int.MaxValue };
        var command = new Command("list", "Print every dead letter as one JSON line.") { servers, topic, max };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var stdout = Console.OpenStandardOutput();
            await using (stdout.ConfigureAwait(false))
            {
                return await ListAsync(parse.GetValue(servers)!, parse.GetValue(topic)!, parse.GetValue(max), stdout, cancellationToken).ConfigureAwait(false);
            }
        });
        return command;
    }

    public static async Task<int> ListAsync(string servers, string topic, int max, Stream output, CancellationToken cancellationToken)
    {
        var count = 0;
        foreach (var record in ReadToEnd(servers, topic, groupId: null, cancellationToken))
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
    }

    private static void Write(Utf8JsonWriter writer, ConsumeResult<byte[]?, byte[]?> record)
    {
        writer.WriteStartObject();
        writer.WriteString("topic", record.Topic);
        writer.WriteNumber("partition", record.Partition.Value);
        writer.WriteNumber("offset", record.Offset.Value);
        writer.WriteString("timestamp", record.Message.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        if (record.Message.Key is { } key)
        {
            writer.WriteString("key", Encoding.UTF8.GetString(key));
        }

        writer.WriteStartObject("headers");
        foreach (var header in record.Message.Headers ?? [])
        {
            writer.WriteString(header.Key, Encoding.UTF8.GetString(header.GetValueBytes() ?? []));
        }

        writer.WriteEndObject();
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
        var servers = Servers();
        var topic = Topic();
        var to = new Option<string?>("--to") { Description = "produce here instead of each letter's original topic" };
        var whereError = new Option<string?>("--where-error") { Description = "only letters whose cdc.error contains this text" };
        var fromOffset = new Option<long>("--from-offset") { Description = "only letters at or after this DLQ offset", DefaultValueFactory = _ => 0 };
        var toOffset = new Option<long>("--to-offset") { Description = "only letters at or before this DLQ offset", DefaultValueFactory = _ => long.MaxValue };
        var group = new Option<string?>("--group") { Description = "progress group (default {topic}.redrive); a new name rescans everything" };
        var dryRun = new Option<bool>("--dry-run") { Description = "print what would be redriven" };
        var command = new Command("redrive", "Re-produce dead letters to their original topic (or --to).") { servers, topic, to, whereError, fromOffset, toOffset, group, dryRun };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new RedriveOptions(parse.GetValue(to), parse.GetValue(whereError), parse.GetValue(fromOffset), parse.GetValue(toOffset), parse.GetValue(group), parse.GetValue(dryRun));
            return await RedriveAsync(parse.GetValue(servers)!, parse.GetValue(topic)!, options, Console.Out, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    internal sealed record RedriveOptions(string? To, string? WhereError, long FromOffset, long ToOffset, string? Group, bool DryRun);

    public static async Task<int> RedriveAsync(string servers, string topic, RedriveOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var groupId = options.Group ?? topic + ".redrive";
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = servers, EnableIdempotence = true, Acks = Acks.All })
            .SetLogHandler((_, _) => { })
            .Build();
        var redriven = 0;
        var skipped = 0;
        using var consumer = Consumer(servers, options.DryRun ? null : groupId);
        foreach (var record in ReadToEnd(consumer, topic, cancellationToken))
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
                consumer.Commit([new TopicPartitionOffset(record.TopicPartition, record.Offset + 1)]);
            }

            redriven++;
            await output.WriteLineAsync($"{from} -> {target}{(options.DryRun ? " (dry run)" : "")}").ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{redriven} redriven, {skipped} skipped")).ConfigureAwait(false);
        return 0;
    }

    private static IConsumer<byte[]?, byte[]?> Consumer(string servers, string? groupId) =>
        new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = servers,
            GroupId = groupId ?? "cdcpipeline-dlq-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).SetLogHandler((_, _) => { }).Build();

    private static IEnumerable<ConsumeResult<byte[]?, byte[]?>> ReadToEnd(string servers, string topic, string? groupId, CancellationToken cancellationToken)
    {
        using var consumer = Consumer(servers, groupId);
        foreach (var record in ReadToEnd(consumer, topic, cancellationToken))
        {
            yield return record;
        }
    }

    /// <summary>Reads every partition of <paramref name="topic"/> up to its end as of now.</summary>
    private static IEnumerable<ConsumeResult<byte[]?, byte[]?>> ReadToEnd(IConsumer<byte[]?, byte[]?> consumer, string topic, CancellationToken cancellationToken)
    {
        consumer.Subscribe(topic);
        var atEnd = new HashSet<int>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!cancellationToken.IsCancellationRequested)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            var assignment = consumer.Assignment;
            if (result is null)
            {
                if ((assignment.Count > 0 && assignment.All(tp => atEnd.Contains(tp.Partition.Value))) || DateTime.UtcNow > deadline)
                {
                    break;
                }

                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                if (assignment.All(tp => atEnd.Contains(tp.Partition.Value)))
                {
                    break;
                }

                continue;
            }

            atEnd.Remove(result.Partition.Value);
            yield return result;
        }

        consumer.Close();
    }

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
