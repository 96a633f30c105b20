using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// One Debezium record as it left Kafka: key and value bytes (null for Kafka's null), headers, and
/// where it came from. The JSON and Avro decoders both take this.
/// </summary>
public sealed class DebeziumRecord
{
    public string? Topic { get; init; }

    public int? Partition { get; init; }

    public long? Offset { get; init; }

    /// <summary>The key bytes; null for a null key (a table without primary key).</summary>
    public ReadOnlyMemory<byte>? Key { get; init; }

    /// <summary>The value bytes; null for a tombstone.</summary>
    public ReadOnlyMemory<byte>? Value { get; init; }

    /// <summary>Kafka headers in order; Debezium's <c>__debezium.newkey</c>/<c>__debezium.oldkey</c> are read from here.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]?>>? Headers { get; init; }

    /// <summary>The input line, when the record came from a file (kcat dump or bare value lines).</summary>
    public long? LineNumber { get; init; }

    /// <summary>Kafka topic-partition-offset when known, else the input line, else the start of an unnamed stream.</summary>
    public SourcePosition Position =>
        Topic is not null && Partition is { } p && Offset is { } o ? SourcePosition.ForKafka(Topic, p, o)
        : new SourcePosition("line", LineNumber ?? 0);

    /// <summary><c>line 7 (legacy.public.tb_ord_mst/0@42)</c>: where to look, for error messages.</summary>
    public string Describe()
    {
        var kafka = Topic is null ? null
            : Partition is { } p && Offset is { } o ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Topic}/{p}@{o}")
            : Topic;
        return (LineNumber, kafka) switch
        {
            ({ } line, { } k) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"line {line} ({k})"),
            ({ } line, null) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"line {line}"),
            (null, { } k) => k,
            _ => "record",
        };
    }

    public byte[]? Header(string name)
    {
        if (Headers is null)
        {
            return null;
        }

        // The last header of a name wins, as Kafka's lastHeader does.
        for (var i = Headers.Count - 1; i >= 0; i--)
        {
            if (Headers[i].Key == name)
            {
                return Headers[i].Value;
            }
        }

        return null;
    }
}
