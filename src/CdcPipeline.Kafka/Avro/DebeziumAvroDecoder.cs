using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Avro.IO;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using Confluent.SchemaRegistry;

namespace CdcPipeline.Kafka.Avro;

/// <summary>
/// Decodes Debezium records written by Confluent's AvroConverter (Confluent wire format: magic byte
/// 0, big-endian 4-byte schema id, Avro binary) into <see cref="ChangeEvent"/>s. Writer schemas come
/// from the <see cref="ISchemaRegistryClient"/> once per id and are turned into Connect schemas
/// (<see cref="AvroNode"/>); values are read straight off the Avro binary into Connect primitives
/// and converted by the same <see cref="ConnectValues"/> as the JSON path, so both paths give
/// identical events. (Apache.Avro's GenericDatumReader is not used: it would apply Avro logical
/// types — decimal to AvroDecimal, date to DateTime — that would have to be undone, and allocate a
/// GenericRecord per struct.) Thread-safe.
/// </summary>
public sealed class DebeziumAvroDecoder
{
    /// <summary>Schema Registry's error code for an id it does not hold (HTTP 404).</summary>
    private const int SchemaNotFound = 40403;

    private readonly ISchemaRegistryClient _registry;
    private readonly ConnectValues _values;
    private readonly DebeziumJsonDecoder _json;
    private readonly ConcurrentDictionary<int, AvroNode> _nodes = new();

    public DebeziumAvroDecoder(ISchemaRegistryClient registry, DebeziumDecoderOptions? options = null)
    {
        _registry = registry;
        _values = new ConnectValues(options);
        _json = new DebeziumJsonDecoder(options);
    }

    public DebeziumDecoderOptions Options => _values.Options;

    /// <summary>Checks the rules against the column types of each writer schema the first time a record brings it (the Kafka source's); null for none.</summary>
    public ConnectSchemaRuleCheck? RuleCheck { get; init; }

    /// <summary>Decodes one Kafka record whose key and value are Confluent Avro (either may be null).</summary>
    /// <exception cref="DebeziumDecodeException">Not decodable: wrong magic byte, unknown schema id, corrupt data, …</exception>
    /// <exception cref="SchemaRegistryUnavailableException">The registry did not answer; try the record again later.</exception>
    public async ValueTask<ChangeEvent> DecodeAsync(DebeziumRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        var key = record.Key is { } keyBytes ? await KeyAsync(keyBytes, cancellationToken).ConfigureAwait(false) : null;
        var (value, schema) = await PartAsync(record.Value, "value", cancellationToken).ConfigureAwait(false);
        var newKey = await HeaderKeyAsync(record, DebeziumEnvelope.NewKeyHeader, cancellationToken).ConfigureAwait(false);
        var oldKey = await HeaderKeyAsync(record, DebeziumEnvelope.OldKeyHeader, cancellationToken).ConfigureAwait(false);
        var change = DebeziumEnvelope.ToChangeEvent(record, key, value, schema?.Name, Options, newKey, oldKey);
        RuleCheck?.Check(schema, change);
        return change;
    }

    /// <summary>Decodes one Confluent-framed Avro struct (a key or value): the row and the Connect schema name.</summary>
    public async ValueTask<(Row? Row, string? SchemaName)> DecodeStructAsync(ReadOnlyMemory<byte> bytes, string part, CancellationToken cancellationToken = default)
    {
        var (row, schema) = await ReadStructAsync(bytes, part, cancellationToken).ConfigureAwait(false);
        return (row, schema?.Name);
    }

    /// <summary><see cref="DecodeStructAsync"/> with the struct's Connect schema itself (the same instance for every record of its schema id).</summary>
    private async ValueTask<(Row? Row, ConnectSchema? Schema)> ReadStructAsync(ReadOnlyMemory<byte> bytes, string part, CancellationToken cancellationToken)
    {
        if (bytes.Length == 0)
        {
            return (null, null);
        }

        if (bytes.Span[0] != 0)
        {
            throw new DebeziumDecodeException(
                $"the {part} starts with byte 0x{bytes.Span[0]:x2}, not the Confluent wire format's magic byte 0 (is the topic written by the JSON converter?)");
        }

        if (bytes.Length < 5)
        {
            throw new DebeziumDecodeException($"the {part} is {bytes.Length} bytes: too short for the Confluent wire format (magic byte + 4-byte schema id)");
        }

        var id = BinaryPrimitives.ReadInt32BigEndian(bytes.Span[1..5]);
        var node = _nodes.TryGetValue(id, out var cached) ? cached : await LoadAsync(id, part, cancellationToken).ConfigureAwait(false);
        if (node.Tag != global::Avro.Schema.Type.Record)
        {
            throw new DebeziumDecodeException($"the {part} schema (id {id}) is an Avro {node.Tag}, not a record");
        }

        var segment = MemoryMarshal.TryGetArray(bytes, out var array) ? array : new ArraySegment<byte>(bytes.ToArray());
        using var stream = new MemoryStream(segment.Array!, segment.Offset + 5, segment.Count - 5, writable: false);
        var decoder = new BinaryDecoder(stream);
        object? value;
        try
        {
            value = AvroValueReader.Read(node, decoder, stream, _values);
        }
        catch (DebeziumDecodeException)
        {
            throw;
        }
        catch (Exception e) when (e is EndOfStreamException or global::Avro.AvroException or IOException or ArgumentException or OverflowException
                                      or IndexOutOfRangeException or InvalidOperationException)
        {
            throw new DebeziumDecodeException($"the {part} is truncated or not Avro data of schema id {id}: {e.Message}", e);
        }

        if (stream.Position != stream.Length)
        {
            throw new DebeziumDecodeException($"the {part} has {stream.Length - stream.Position} bytes left after its Avro record (schema id {id}): wrong schema or corrupt data");
        }

        return (value as Row, node.Connect);
    }

    private async ValueTask<AvroNode> LoadAsync(int id, string part, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Schema schema;
        try
        {
            // Confluent's client takes no token and waits its request timeout (30 s, each retry again): stopping must not.
            schema = await _registry.GetSchemaAsync(id).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaRegistryException e) when (e.ErrorCode == SchemaNotFound)
        {
            throw new DebeziumDecodeException($"unknown schema id {id} for the {part}: the Schema Registry says: {e.Message}", e);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Not an answer about the id (connection refused, an HTTP timeout, 5xx, 401/403): the record is fine.
            throw new SchemaRegistryUnavailableException(id, part, e);
        }

        if (schema.SchemaType != SchemaType.Avro)
        {
            throw new DebeziumDecodeException($"schema id {id} for the {part} is a {schema.SchemaType} schema, not Avro");
        }

        global::Avro.Schema avro;
        try
        {
            avro = Parse(schema.SchemaString);
        }
        catch (global::Avro.AvroException e)
        {
            throw new DebeziumDecodeException($"schema id {id} is not a valid Avro schema: {e.Message}", e);
        }

        var node = AvroNode.Build(avro, optional: false, part);
        return _nodes.GetOrAdd(id, node);
    }

    /// <summary>
    /// Parses a writer schema the way Java's Avro does. The Avro specification says an invalid logical type is
    /// ignored and the value read as its underlying type; Apache.Avro's C# parser throws instead. AvroData writes
    /// a column's precision and scale as they are, so PostgreSQL 15's NUMERIC(3,5) (scale above precision) is such
    /// a decimal: Java's Avro, the Schema Registry and the converter accept it, and its Connect scale is still in
    /// <c>connect.parameters</c>. Only when the parser refuses is the schema read again without those logical types.
    /// </summary>
    private static global::Avro.Schema Parse(string text)
    {
        try
        {
            return global::Avro.Schema.Parse(text);
        }
        catch (global::Avro.AvroTypeException)
        {
            var json = JsonNode.Parse(text);
            if (json is null || !DropInvalidDecimals(json))
            {
                throw;
            }

            return global::Avro.Schema.Parse(json.ToJsonString());
        }
    }

    private static bool DropInvalidDecimals(JsonNode node)
    {
        var dropped = false;
        switch (node)
        {
            case JsonObject o:
                if (o["logicalType"] is JsonValue lt && lt.TryGetValue<string>(out var logicalType) && logicalType == "decimal" && !ValidDecimal(o))
                {
                    o.Remove("logicalType");
                    dropped = true;
                }

                foreach (var (_, child) in o.ToList())
                {
                    dropped |= child is not null && DropInvalidDecimals(child);
                }

                break;
            case JsonArray a:
                foreach (var child in a)
                {
                    dropped |= child is not null && DropInvalidDecimals(child);
                }

                break;
        }

        return dropped;

        // The specification's rule: precision a positive integer, scale a non-negative integer no greater than it.
        static bool ValidDecimal(JsonObject o) =>
            o["precision"] is JsonValue p && p.TryGetValue<int>(out var precision) && precision > 0
            && (o["scale"] is null || (o["scale"] is JsonValue s && s.TryGetValue<int>(out var scale) && scale >= 0 && scale <= precision));
    }

    private async ValueTask<(Row?, ConnectSchema?)> PartAsync(ReadOnlyMemory<byte>? bytes, string part, CancellationToken cancellationToken) =>
        bytes is { } b ? await ReadStructAsync(b, part, cancellationToken).ConfigureAwait(false) : (null, null);

    // The key-change headers go through the header converter, not the value converter: Avro when it is
    // the AvroConverter, otherwise text (JSON).
    private async ValueTask<Row?> HeaderKeyAsync(DebeziumRecord record, string header, CancellationToken cancellationToken)
    {
        if (record.Header(header) is not { Length: > 0 } bytes)
        {
            return null;
        }

        try
        {
            return bytes[0] == 0
                ? (await DecodeStructAsync(bytes, $"header {header}", cancellationToken).ConfigureAwait(false)).Row
                : _json.DecodeStruct(bytes, $"header {header}").Row;
        }
        catch (DebeziumDecodeException e)
        {
            throw new DebeziumDecodeException($"header '{header}': {e.Message}", e);
        }
    }

    /// <summary>
    /// A key goes through the connector's key converter, set apart from its value converter: a connector may write
    /// Avro values with JsonConverter keys (<c>key.converter</c>). Such a key (a JSON object, never the wire format's
    /// magic byte 0) is read as JSON, as Confluent's consumers read key and value with a deserializer each.
    /// </summary>
    private async ValueTask<Row?> KeyAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        bytes.Length > 0 && bytes.Span[0] == (byte)'{'
            ? _json.DecodeStruct(bytes.Span, "key").Row
            : (await DecodeStructAsync(bytes, "key", cancellationToken).ConfigureAwait(false)).Row;
}
