using System.Globalization;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// Turns a decoded Debezium key and value (rows of canonical values, whatever the wire format)
/// into a <see cref="ChangeEvent"/>: change envelopes (ops c u d r t m), tombstones, heartbeats and
/// transaction metadata. Shared by the JSON and the Avro decoders.
/// </summary>
public static class DebeziumEnvelope
{
    public const string HeartbeatSchemaName = "io.debezium.connector.common.Heartbeat";
    public const string TransactionSchemaName = "io.debezium.connector.common.TransactionMetadataValue";
    public const string NewKeyHeader = "__debezium.newkey";
    public const string OldKeyHeader = "__debezium.oldkey";

    // The columns every change reads from its envelope and source block, found by position once per row shape
    // (RowShape.IndexesOf) rather than by a dictionary probe each, per change. A column that is absent reads as null.
    private static readonly string[] EnvelopeColumns = ["op", "before", "after", "source", "ts_us", "ts_ms"];
    private const int OpColumn = 0, BeforeColumn = 1, AfterColumn = 2, SourceColumn = 3, TsUsColumn = 4, TsMsColumn = 5;
    private static readonly string[] SourceColumns = ["connector", "name", "db", "schema", "table", "lsn", "txId", "ts_us", "ts_ms", "snapshot"];

    /// <param name="record">Where the record came from (topic, position).</param>
    /// <param name="key">The decoded key struct, or null.</param>
    /// <param name="value">The decoded value struct; null for a tombstone.</param>
    /// <param name="valueSchemaName">The value schema's name when the record had a schema (<c>….Envelope</c>, <see cref="HeartbeatSchemaName"/>, …).</param>
    public static ChangeEvent ToChangeEvent(
        DebeziumRecord record,
        Row? key,
        Row? value,
        string? valueSchemaName,
        DebeziumDecoderOptions options,
        Row? newKey = null,
        Row? oldKey = null)
    {
        var topic = record.Topic;
        var raw = options.RetainRaw ? record.Value : null;
        var rawKey = options.RetainRaw ? record.Key : null;
        var rawHeaders = options.RetainRaw ? record.Headers : null;
        if (value is null)
        {
            // Debezium writes the tombstone with whatever key the delete had: a table without primary key
            // (REPLICA IDENTITY FULL) gets one with neither key nor value after each delete.
            return new ChangeEvent
            {
                Kind = ChangeKind.Tombstone,
                Source = SourceFromTopic(topic),
                Position = record.Position,
                Key = key,
            };
        }

        if (IsHeartbeat(topic, value, valueSchemaName, options))
        {
            var serverName = key is not null && key.TryGetValue("serverName", out var sn) ? sn as string : null;
            if (serverName is null && topic is not null && topic.Length > options.HeartbeatTopicPrefix.Length + 1)
            {
                serverName = topic[(options.HeartbeatTopicPrefix.Length + 1)..];
            }

            return new ChangeEvent
            {
                Kind = ChangeKind.Heartbeat,
                Source = new SourceInfo { Name = serverName, Topic = topic },
                Position = record.Position,
                Key = key,
                CapturedAt = Millis(value, "ts_ms"),
                Raw = raw,
                RawKey = rawKey,
                RawHeaders = rawHeaders,
            };
        }

        var at = value.Shape.IndexesOf(EnvelopeColumns);
        if (valueSchemaName == TransactionSchemaName || (at[OpColumn] < 0 && value.ContainsKey("status") && value.ContainsKey("id")))
        {
            return Transaction(record, value, options, raw, rawKey);
        }

        if (Column(value, at[OpColumn]) is not string opText)
        {
            throw new DebeziumDecodeException(
                "not a Debezium change event: the value has no 'op' (and is neither a heartbeat nor transaction metadata)");
        }

        if (!ChangeOperationCodes.TryParse(opText, out var op))
        {
            throw DebeziumDecodeException.ForField("op", $"unknown operation '{opText}' (expected one of c u d r t m)");
        }

        var source = Source(Column(value, at[SourceColumn]), topic);
        var capturedAt = Micros(Column(value, at[TsUsColumn]), "ts_us") ?? Millis(Column(value, at[TsMsColumn]), "ts_ms");
        if (op == ChangeOperation.Message)
        {
            return new ChangeEvent
            {
                Kind = ChangeKind.Message,
                Operation = op,
                Source = source,
                Position = record.Position,
                Key = key,
                Message = Message(value, source),
                NamedBySource = ChangeOrigin.CanName(ChangeKind.Message, op, source, key),
                CapturedAt = capturedAt,
                Raw = raw,
                RawKey = rawKey,
                RawHeaders = rawHeaders,
            };
        }

        return new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = op,
            Source = source,
            Position = record.Position,
            Key = key,
            Before = Image(Column(value, at[BeforeColumn]), "before"),
            After = Image(Column(value, at[AfterColumn]), "after"),
            NewKey = newKey,
            OldKey = oldKey,
            NamedBySource = ChangeOrigin.CanName(ChangeKind.Change, op, source, key),
            CapturedAt = capturedAt,
            Raw = raw,
            RawKey = rawKey,
            RawHeaders = rawHeaders,
        };
    }

    private static bool IsHeartbeat(string? topic, Row value, string? schemaName, DebeziumDecoderOptions options) =>
        schemaName == HeartbeatSchemaName
        || (schemaName is null && topic is not null && topic.StartsWith(options.HeartbeatTopicPrefix + ".", StringComparison.Ordinal))
        || (schemaName is null && value.Count == 1 && value.ContainsKey("ts_ms"));

    private static ChangeEvent Transaction(DebeziumRecord record, Row value, DebeziumDecoderOptions options, ReadOnlyMemory<byte>? raw, ReadOnlyMemory<byte>? rawKey)
    {
        var status = Text(value, "status") ?? throw DebeziumDecodeException.ForField("status", "transaction metadata without a status");
        var id = Text(value, "id") ?? throw DebeziumDecodeException.ForField("id", "transaction metadata without an id");
        Dictionary<string, long>? collections = null;
        if (value.TryGetValue("data_collections", out var dc) && dc is IReadOnlyList<object?> list)
        {
            collections = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var item in list)
            {
                if (item is Row entry && Text(entry, "data_collection") is { } name)
                {
                    collections[name] = Long(entry, "event_count") ?? 0;
                }
            }
        }

        // PostgreSQL's Debezium transaction id is "txId:LSN".
        var colon = id.IndexOf(':', StringComparison.Ordinal);
        long? txId = long.TryParse(colon < 0 ? id : id[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var tx) ? tx : null;
        var topic = record.Topic;
        var suffix = "." + options.TransactionTopicSuffix;
        return new ChangeEvent
        {
            Kind = ChangeKind.Transaction,
            Source = new SourceInfo
            {
                Name = topic is not null && topic.EndsWith(suffix, StringComparison.Ordinal) ? topic[..^suffix.Length] : null,
                Topic = topic,
                TxId = txId,
            },
            Position = record.Position,
            Transaction = new TransactionInfo
            {
                Status = status,
                Id = id,
                EventCount = Long(value, "event_count"),
                DataCollections = collections,
            },
            CapturedAt = Millis(value, "ts_ms"),
            Raw = raw,
            RawKey = rawKey,
            RawHeaders = options.RetainRaw ? record.Headers : null,
        };
    }

    private static LogicalMessage Message(Row value, SourceInfo source)
    {
        if (!value.TryGetValue("message", out var m) || m is not Row message)
        {
            throw DebeziumDecodeException.ForField("message", "a logical message (op 'm') without its 'message' block");
        }

        var prefix = Text(message, "prefix") ?? "";
        var content = message.TryGetValue("content", out var c) ? c : null;
        var bytes = content switch
        {
            null => [],
            byte[] b => b,
            // Schemaless JSON: bytes arrive as their base64 text.
            string s => TryBase64(s) ?? throw DebeziumDecodeException.ForField("message.content", "bad base64"),
            _ => throw DebeziumDecodeException.ForField("message.content", "content is not bytes"),
        };

        // A non-transactional message (pg_logical_emit_message(false, …)) carries no transaction id.
        return new LogicalMessage(prefix, bytes, source.TxId is not null);
    }

    private static byte[]? TryBase64(string s)
    {
        var buffer = new byte[s.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(s, buffer, out var n) ? buffer[..n] : null;
    }

    private static object? Column(Row row, int index) => index < 0 ? null : row[index];

    private static Row? Image(object? image, string name) =>
        image is null ? null : image as Row ?? throw DebeziumDecodeException.ForField(name, $"'{name}' is not a row image");

    private static SourceInfo Source(object? block, string? topic)
    {
        if (block is not Row source)
        {
            // Some SMTs strip the source block; keep what the topic tells.
            return SourceFromTopic(topic);
        }

        var at = source.Shape.IndexesOf(SourceColumns);
        SnapshotMarker snapshot;
        try
        {
            var snap = Column(source, at[9]);
            snapshot = snap switch
            {
                null => SnapshotMarker.False,
                bool b => b ? SnapshotMarker.True : SnapshotMarker.False,
                string text when SnapshotMarkers.TryParse(text, out var marker) => marker,
                _ => throw DebeziumDecodeException.ForField("source.snapshot", $"unknown snapshot marker '{snap}'"),
            };
            return new SourceInfo
            {
                Connector = Text(Column(source, at[0]), "connector"),
                Name = Text(Column(source, at[1]), "name"),
                Database = Text(Column(source, at[2]), "db"),
                Schema = Text(Column(source, at[3]), "schema"),
                Table = Text(Column(source, at[4]), "table"),
                Lsn = Long(Column(source, at[5]), "lsn"),
                TxId = Long(Column(source, at[6]), "txId"),
                CommitTime = Micros(Column(source, at[7]), "ts_us") ?? Millis(Column(source, at[8]), "ts_ms"),
                Snapshot = snapshot,
                Topic = topic,
            };
        }
        catch (DebeziumDecodeException e) when (e.FieldPath is not null && !e.FieldPath.StartsWith("source", StringComparison.Ordinal))
        {
            throw e.Within("source");
        }
    }

    /// <summary>Debezium topics are <c>prefix.schema.table</c>: what a tombstone (which has no source block) can still tell.</summary>
    public static SourceInfo SourceFromTopic(string? topic)
    {
        if (topic is null)
        {
            return new SourceInfo();
        }

        var last = topic.LastIndexOf('.');
        var middle = last > 0 ? topic.LastIndexOf('.', last - 1) : -1;
        return middle > 0
            ? new SourceInfo { Name = topic[..middle], Schema = topic[(middle + 1)..last], Table = topic[(last + 1)..], Topic = topic }
            : new SourceInfo { Topic = topic };
    }

    private static string? Text(Row row, string name) => Text(row.TryGetValue(name, out var v) ? v : null, name);

    private static string? Text(object? v, string name) => v switch
    {
        null => null,
        string s => s,
        _ => throw DebeziumDecodeException.ForField(name, $"expected a string, got {v.GetType().Name}"),
    };

    private static long? Long(Row row, string name) => Long(row.TryGetValue(name, out var v) ? v : null, name);

    private static long? Long(object? v, string name) => v switch
    {
        null => null,
        long l => l,
        int i => i,
        string s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => throw DebeziumDecodeException.ForField(name, $"expected an integer, got {v.GetType().Name}"),
    };

    private static UtcTimestamp? Millis(Row row, string name) => Millis(row.TryGetValue(name, out var v) ? v : null, name);

    private static UtcTimestamp? Millis(object? v, string name) =>
        Long(v, name) is { } ms
            ? ms is > long.MaxValue / 1000 or < long.MinValue / 1000
                ? throw DebeziumDecodeException.ForField(name, $"{ms} ms is out of range")
                : new UtcTimestamp(ms * 1000)
            : null;

    private static UtcTimestamp? Micros(object? v, string name) =>
        Long(v, name) is { } us ? new UtcTimestamp(us) : null;
}
