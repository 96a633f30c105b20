using System.Runtime.InteropServices;
using System.Text.Json;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// Parses the Kafka Connect schemas that the JSON converter embeds in every record, once per
/// distinct schema text: the same bytes give the same <see cref="ConnectSchema"/> (and so the same
/// <see cref="Changes.RowShape"/>), found by hashing the raw UTF-8 without decoding it. Thread-safe.
/// </summary>
public sealed class ConnectSchemaCache
{
    private const int MaxEntries = 4096;

    private readonly Dictionary<byte[], ConnectSchema> _schemas = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], ConnectSchema>.AlternateLookup<ReadOnlySpan<byte>> _lookup;
    private readonly Lock _lock = new();

    public ConnectSchemaCache()
    {
        _lookup = _schemas.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    // The schemas seen last, newest first: most topics carry the same few schemas over and over, and a
    // byte comparison against them is far cheaper than tokenising the schema to find where it ends.
    private volatile (byte[] Bytes, ConnectSchema Schema)[] _recent = [];
    private const int RecentEntries = 16;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _schemas.Count;
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="json"/> starts with the exact bytes of a recently seen schema; then
    /// <paramref name="length"/> is where that schema ends. Identical bytes parse identically, so this is
    /// as exact as a full look-up.
    /// </summary>
    public bool TryMatchPrefix(ReadOnlySpan<byte> json, out ConnectSchema schema, out int length)
    {
        foreach (var (bytes, cached) in _recent)
        {
            if (json.StartsWith(bytes))
            {
                schema = cached;
                length = bytes.Length;
                return true;
            }
        }

        schema = null!;
        length = 0;
        return false;
    }

    private void Remember(byte[] bytes, ConnectSchema schema)
    {
        var recent = _recent;
        if (recent.Length > 0 && ReferenceEquals(recent[0].Schema, schema))
        {
            return;
        }

        var next = new List<(byte[], ConnectSchema)>(RecentEntries) { (bytes, schema) };
        next.AddRange(recent.Where(e => !ReferenceEquals(e.Schema, schema)).Take(RecentEntries - 1));
        _recent = next.ToArray();
    }

    /// <summary>The schema for this JSON text (a Connect schema object), parsed on first sight.</summary>
    public ConnectSchema GetOrParse(ReadOnlySpan<byte> schemaJson)
    {
        lock (_lock)
        {
            if (_lookup.TryGetValue(schemaJson, out var key, out var cached))
            {
                Remember(key, cached);
                return cached;
            }
        }

        var schema = Parse(schemaJson);
        lock (_lock)
        {
            if (_schemas.Count >= MaxEntries)
            {
                // Schemas change rarely; a flood of distinct ones means something odd upstream. Start over rather than grow.
                _schemas.Clear();
                _recent = [];
            }

            var bytes = schemaJson.ToArray();
            _schemas[bytes] = schema;
            Remember(bytes, schema);
        }

        return schema;
    }

    /// <summary>Parses one Connect schema JSON object (<c>{"type":"struct","fields":[…],…}</c>).</summary>
    public static ConnectSchema Parse(ReadOnlySpan<byte> schemaJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(schemaJson.ToArray());
            return Parse(doc.RootElement, "schema");
        }
        catch (JsonException e)
        {
            throw new DebeziumDecodeException($"the record's schema is not valid JSON: {e.Message}");
        }
    }

    public static ConnectSchema Parse(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new DebeziumDecodeException($"{where}: a Connect schema must be a JSON object, not {e.ValueKind}");
        }

        var typeText = e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : null;
        var type = typeText switch
        {
            "int8" => ConnectType.Int8,
            "int16" => ConnectType.Int16,
            "int32" => ConnectType.Int32,
            "int64" => ConnectType.Int64,
            "float" or "float32" => ConnectType.Float32,
            "double" or "float64" => ConnectType.Float64,
            "boolean" => ConnectType.Boolean,
            "string" => ConnectType.String,
            "bytes" => ConnectType.Bytes,
            "array" => ConnectType.Array,
            "map" => ConnectType.Map,
            "struct" => ConnectType.Struct,
            null => throw new DebeziumDecodeException($"{where}: schema without a 'type'"),
            _ => throw new DebeziumDecodeException($"{where}: unknown Connect schema type '{typeText}'"),
        };

        var name = e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        var optional = e.TryGetProperty("optional", out var o) && o.ValueKind == JsonValueKind.True;
        int? version = e.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var vi) ? vi : null;
        Dictionary<string, string>? parameters = null;
        if (e.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            parameters = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in p.EnumerateObject())
            {
                parameters[prop.Name] = prop.Value.ValueKind == JsonValueKind.String ? prop.Value.GetString()! : prop.Value.GetRawText();
            }
        }

        List<ConnectField>? fields = null;
        ConnectSchema? keys = null, values = null;
        switch (type)
        {
            case ConnectType.Struct:
                fields = [];
                if (e.TryGetProperty("fields", out var fs) && fs.ValueKind == JsonValueKind.Array)
                {
                    foreach (var f in fs.EnumerateArray())
                    {
                        var fieldName = f.ValueKind == JsonValueKind.Object && f.TryGetProperty("field", out var fn) && fn.ValueKind == JsonValueKind.String
                            ? fn.GetString()!
                            : throw new DebeziumDecodeException($"{where}: struct field without a 'field' name");
                        fields.Add(new ConnectField(fieldName, Parse(f, $"{where}.{fieldName}")));
                    }
                }

                break;
            case ConnectType.Array:
                values = e.TryGetProperty("items", out var items)
                    ? Parse(items, $"{where}[]")
                    : throw new DebeziumDecodeException($"{where}: array schema without 'items'");
                break;
            case ConnectType.Map:
                keys = e.TryGetProperty("keys", out var ks)
                    ? Parse(ks, $"{where}.keys")
                    : throw new DebeziumDecodeException($"{where}: map schema without 'keys'");
                values = e.TryGetProperty("values", out var vs)
                    ? Parse(vs, $"{where}.values")
                    : throw new DebeziumDecodeException($"{where}: map schema without 'values'");
                break;
        }

        return new ConnectSchema(type, name, optional, parameters, fields, keys, values, version);
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var h = new HashCode();
            h.AddBytes(alternate);
            return h.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
