using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>The recorded Debezium sample (kcat -J lines of samples/legacy-orders/debezium) re-homed under a unique topic prefix.</summary>
internal static class KafkaRecords
{
    public static string SampleDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "samples", "legacy-orders", "debezium");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("samples/legacy-orders/debezium not found above " + AppContext.BaseDirectory);
        }
    }

    public static string RepositoryRoot => Path.GetFullPath(Path.Combine(SampleDirectory, "..", "..", ".."));

    /// <summary>The sample records with topics renamed from the 'legacy' prefix to <paramref name="prefix"/>.</summary>
    public static List<DebeziumRecord> Sample(string prefix)
    {
        var records = new List<DebeziumRecord>();
        long line = 0;
        foreach (var text in File.ReadLines(Path.Combine(SampleDirectory, "changes.jsonl")))
        {
            line++;
            var record = DebeziumJsonDecoder.ReadLine(Encoding.UTF8.GetBytes(text), line);
            records.Add(new DebeziumRecord
            {
                Topic = Rename(record.Topic!, prefix),
                Partition = record.Partition,
                Offset = record.Offset,
                Key = record.Key,
                Value = record.Value,
                Headers = record.Headers,
                LineNumber = line,
            });
        }

        return records;
    }

    public static string[] ExpectedDecode() => File.ReadAllLines(Path.Combine(SampleDirectory, "expected-decode.jsonl"));

    public static string Rename(string topic, string prefix) =>
        topic.StartsWith("legacy.", StringComparison.Ordinal) ? prefix + topic["legacy".Length..]
        : topic == "__debezium-heartbeat.legacy" ? "__debezium-heartbeat." + prefix
        : topic;

    /// <summary>The value without its Connect schema (<c>schemas.enable=false</c>): just the payload.</summary>
    public static byte[]? WithoutSchema(ReadOnlyMemory<byte>? value)
    {
        if (value is not { } v)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(v);
        return doc.RootElement.TryGetProperty("payload", out var payload)
            ? Encoding.UTF8.GetBytes(payload.GetRawText())
            : v.ToArray();
    }
}
