using System.Buffers.Binary;
using System.Text.Json;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// Decodes Debezium PostgreSQL records written by Kafka's JsonConverter into <see cref="ChangeEvent"/>s.
/// <para>
/// <b>With schemas</b> (<c>schemas.enable=true</c>, <c>{"schema":…,"payload":…}</c>): every value is
/// typed by its Connect schema (type, logical name, parameters) exactly, see <see cref="ConnectValues"/>.
/// Schemas are parsed once per distinct schema text (<see cref="ConnectSchemaCache"/>).
/// </para>
/// <para>
/// <b>Without schemas</b> (bare payload), best effort: a JSON integer becomes a <see cref="long"/>
/// and any other number a <see cref="double"/>; strings stay strings — so a precise Decimal or a
/// bytea stays its base64 text (its scale and type cannot be known), a ZonedTimestamp stays its ISO
/// text, a Json column its JSON text; a Date, Time or Timestamp stays its integer (days, µs, ms:
/// the unit cannot be known); structs become rows and arrays lists. The unchanged-TOAST
/// placeholder is still recognised, and the envelope (op, source, key, heartbeat, transaction
/// metadata, logical messages, tombstones) is decoded in full.
/// </para>
/// Thread-safe; reuse one instance so the schema cache pays off.
/// </summary>
public sealed class DebeziumJsonDecoder
{
    private readonly ConnectValues _values;

    public DebeziumJsonDecoder(DebeziumDecoderOptions? options = null, ConnectSchemaCache? schemas = null)
    {
        _values = new ConnectValues(options);
        Schemas = schemas ?? new ConnectSchemaCache();
    }

    public DebeziumDecoderOptions Options => _values.Options;

    public ConnectSchemaCache Schemas { get; }

    /// <summary>Checks the rules against the column types of each value schema the first time a record brings it (the Kafka source's); null for none.</summary>
    public ConnectSchemaRuleCheck? RuleCheck { get; init; }

    /// <summary>Decodes one Kafka record (JSON key and value bytes, headers, topic, partition, offset).</summary>
    /// <exception cref="DebeziumDecodeException">The record is not a decodable Debezium record; the message says where and why.</exception>
    public ChangeEvent Decode(DebeziumRecord record)
    {
        var (key, _) = Part(record.Key, "key");
        var (value, schema) = Part(record.Value, "value");
        var newKey = HeaderKey(record, DebeziumEnvelope.NewKeyHeader);
        var oldKey = HeaderKey(record, DebeziumEnvelope.OldKeyHeader);
        var change = DebeziumEnvelope.ToChangeEvent(record, key, value, schema?.Name, Options, newKey, oldKey);
        RuleCheck?.Check(schema, change);
        return change;
    }

    /// <summary>Decodes one bare Debezium value (with or without schema) when there is no Kafka metadata.</summary>
    public ChangeEvent DecodeValue(ReadOnlyMemory<byte> value, long lineNumber, string? topic = null) =>
        Decode(new DebeziumRecord { Value = value, LineNumber = lineNumber, Topic = topic });

    /// <summary>
    /// Decodes one input line: a kcat <c>-J</c> record (<c>{"topic":…,"partition":…,"offset":…,"key":"…","payload":"…"}</c>)
    /// or a bare Debezium value. To report errors with the Kafka position, call <see cref="ReadLine"/> then <see cref="Decode"/>.
    /// </summary>
    public ChangeEvent DecodeLine(ReadOnlyMemory<byte> line, long lineNumber) => Decode(ReadLine(line, lineNumber));

    /// <summary>The record a line holds: a kcat envelope's record, or the whole line as a bare value.</summary>
    public static DebeziumRecord ReadLine(ReadOnlyMemory<byte> line, long lineNumber) =>
        KcatRecord.TryParse(line.Span, lineNumber) ?? new DebeziumRecord { Value = line, LineNumber = lineNumber };

    /// <summary>Decodes a JSON key or value: the struct row and the schema's name (null when schemaless or null).</summary>
    public (Row? Row, string? SchemaName) DecodeStruct(ReadOnlySpan<byte> json, string part)
    {
        var (row, schema) = ReadStructOf(json, part);
        return (row, schema?.Name);
    }

    /// <summary><see cref="DecodeStruct"/> with the struct's schema itself (null when schemaless or null).</summary>
    private (Row? Row, ConnectSchema? Schema) ReadStructOf(ReadOnlySpan<byte> json, string part)
    {
        try
        {
            return ReadStruct(json, part);
        }
        catch (JsonException e) when (json.Length >= 5 && json[0] == 0)
        {
            // No JSON text starts with a NUL byte; Confluent's AvroConverter writes its magic byte 0 and a 4-byte schema id first.
            throw new DebeziumDecodeException(
                $"the {part} is Avro in Schema Registry's wire format (schema id {BinaryPrimitives.ReadInt32BigEndian(json[1..5])}), not JSON: " +
                "the topic is written by Confluent's AvroConverter. A pipeline reads it with source.kafka.format: avro; decode and translate " +
                "read records of Kafka Connect's JsonConverter only (connector-config/legacy-orders-json.json is the sample connector in JSON)",
                e);
        }
        catch (JsonException e)
        {
            throw DebeziumDecodeException.Malformed($"malformed JSON in the {part}", part, e);
        }
    }

    private (Row?, ConnectSchema?) Part(ReadOnlyMemory<byte>? bytes, string part) =>
        bytes is { } b ? ReadStructOf(b.Span, part) : (null, null);

    private Row? HeaderKey(DebeziumRecord record, string header)
    {
        if (record.Header(header) is not { } bytes)
        {
            return null;
        }

        try
        {
            return DecodeStruct(bytes, $"header {header}").Row;
        }
        catch (DebeziumDecodeException e)
        {
            throw new DebeziumDecodeException($"header '{header}': {e.Message}", e);
        }
    }

    private (Row?, ConnectSchema?) ReadStruct(ReadOnlySpan<byte> json, string part)
    {
        var r = new Utf8JsonReader(json);
        if (!r.Read() || r.TokenType == JsonTokenType.Null)
        {
            return (null, null);
        }

        if (r.TokenType != JsonTokenType.StartObject)
        {
            throw new DebeziumDecodeException($"the {part} is not a JSON object");
        }

        // {"schema":…,"payload":…} (schemas.enable=true) starts with one of the two; a bare envelope with "before".
        var probe = r;
        if (probe.Read() && probe.TokenType == JsonTokenType.PropertyName)
        {
            ConnectJsonReader.CheckName(ref probe);
        }

        if (probe.TokenType != JsonTokenType.PropertyName
            || !(probe.ValueTextEquals("schema"u8) || probe.ValueTextEquals("payload"u8)))
        {
            var row = ConnectJsonReader.ReadUntypedObject(ref r, _values);
            ExpectEnd(ref r, part);
            return (row, null);
        }

        if (TryReadKnownSchema(json, out var known))
        {
            return known;
        }

        ReadOnlySpan<byte> schemaJson = default, payloadJson = default;
        var hasSchema = false;
        var hasPayload = false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            ConnectJsonReader.CheckName(ref r);
            var isSchema = r.ValueTextEquals("schema"u8);
            var isPayload = !isSchema && r.ValueTextEquals("payload"u8);
            // JsonConverter refuses an envelope of other than exactly these two; Jackson would keep the last of a duplicate,
            // so a second "payload":null would turn a change into a tombstone without a word.
            if ((isSchema && hasSchema) || (isPayload && hasPayload))
            {
                throw new DebeziumDecodeException($"the {part} has '{(isSchema ? "schema" : "payload")}' twice");
            }

            if (!isSchema && !isPayload)
            {
                throw new DebeziumDecodeException(
                    $"the {part} has a field '{ConnectJsonReader.Text(ref r, "field name")}' besides 'schema' and 'payload' (JsonConverter's envelope has only those two)");
            }

            r.Read();
            var start = (int)r.TokenStartIndex;
            r.Skip();
            var slice = json[start..(int)r.BytesConsumed];
            if (isSchema)
            {
                schemaJson = slice;
                hasSchema = true;
            }
            else if (isPayload)
            {
                payloadJson = slice;
                hasPayload = true;
            }
        }

        ExpectEnd(ref r, part);
        if (!hasPayload)
        {
            throw new DebeziumDecodeException($"the {part} has a 'schema' but no 'payload'");
        }

        var payload = new Utf8JsonReader(payloadJson);
        payload.Read();
        if (payload.TokenType == JsonTokenType.Null)
        {
            return (null, null);
        }

        if (!hasSchema || schemaJson.SequenceEqual("null"u8))
        {
            return payload.TokenType == JsonTokenType.StartObject
                ? (ConnectJsonReader.ReadUntypedObject(ref payload, _values), null)
                : throw new DebeziumDecodeException($"the {part} payload is not a JSON object");
        }

        var schema = Schemas.GetOrParse(schemaJson);
        if (schema.Type != ConnectType.Struct)
        {
            throw new DebeziumDecodeException($"the {part} schema is {schema}, not a struct");
        }

        if (payload.TokenType != JsonTokenType.StartObject)
        {
            throw new DebeziumDecodeException($"schema/payload mismatch: the {part} payload is not an object but the schema is a struct");
        }

        var result = ConnectJsonReader.ReadValue(ref payload, schema, _values) as Row
            ?? throw new DebeziumDecodeException($"the {part} payload did not decode to a struct");
        return (result, schema);
    }

    /// <summary>
    /// The fast path for JsonConverter's exact output, <c>{"schema":&lt;a schema seen recently&gt;,"payload":…}</c>:
    /// the schema is recognised by comparing bytes, without tokenising it.
    /// </summary>
    private bool TryReadKnownSchema(ReadOnlySpan<byte> json, out (Row?, ConnectSchema?) result)
    {
        result = default;
        ReadOnlySpan<byte> head = "{\"schema\":"u8;
        ReadOnlySpan<byte> middle = ",\"payload\":"u8;
        if (!json.StartsWith(head) || json[^1] != (byte)'}'
            || !Schemas.TryMatchPrefix(json[head.Length..], out var schema, out var length)
            || !json[(head.Length + length)..].StartsWith(middle)
            || schema.Type != ConnectType.Struct)
        {
            return false;
        }

        var payloadJson = json[(head.Length + length + middle.Length)..^1];
        var payload = new Utf8JsonReader(payloadJson);
        payload.Read();
        if (payload.TokenType == JsonTokenType.Null)
        {
            result = (null, null);
        }
        else if (payload.TokenType == JsonTokenType.StartObject)
        {
            result = (ConnectJsonReader.ReadValue(ref payload, schema, _values) as Row, schema);
        }
        else
        {
            return false;
        }

        // Anything after the payload (a duplicate key, another field, garbage) is reported by the general path, so the same
        // bytes give the same answer whether or not their schema was seen before.
        return payload.BytesConsumed == payloadJson.Length;
    }

    private static void ExpectEnd(ref Utf8JsonReader r, string part)
    {
        if (r.TokenType != JsonTokenType.EndObject)
        {
            throw new DebeziumDecodeException($"the {part} JSON ends early");
        }

        if (r.Read())
        {
            throw new DebeziumDecodeException($"the {part} has content after its JSON object");
        }
    }
}
