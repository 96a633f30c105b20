using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// kcat's <c>-J</c> envelope: <c>{"topic":…,"partition":…,"offset":…,"tstype":…,"ts":…,"broker":…,
/// "headers":["name","value",…],"key":"&lt;text&gt;"|null,"payload":"&lt;text&gt;"|null}</c>, where key and
/// payload are the message bytes as JSON strings.
/// </summary>
public static class KcatRecord
{
    /// <summary>The record, or null when the line is not a kcat envelope (no top-level <c>topic</c>).</summary>
    /// <exception cref="DebeziumDecodeException">The line is not valid JSON, or a kcat field has the wrong type.</exception>
    public static DebeziumRecord? TryParse(ReadOnlySpan<byte> line, long lineNumber)
    {
        string? topic = null;
        int? partition = null;
        long? offset = null;
        ReadOnlyMemory<byte>? key = null, payload = null;
        List<KeyValuePair<string, byte[]?>>? headers = null;
        var isKcat = false;
        try
        {
            var r = new Utf8JsonReader(line);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            // kcat writes "topic" first; anything else first is a bare Debezium value.
            var probe = r;
            if (!probe.Read() || probe.TokenType != JsonTokenType.PropertyName || !probe.ValueTextEquals("topic"u8))
            {
                return null;
            }

            isKcat = true;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("topic"u8))
                {
                    r.Read();
                    topic = r.TokenType == JsonTokenType.String ? ConnectJsonReader.Text(ref r, "kcat topic") : throw Bad("topic", "a string");
                }
                else if (r.ValueTextEquals("partition"u8))
                {
                    r.Read();
                    partition = r.TokenType == JsonTokenType.Number && r.TryGetInt32(out var p) ? p : throw Bad("partition", "an integer");
                }
                else if (r.ValueTextEquals("offset"u8))
                {
                    r.Read();
                    offset = r.TokenType == JsonTokenType.Number && r.TryGetInt64(out var o) ? o : throw Bad("offset", "an integer");
                }
                else if (r.ValueTextEquals("key"u8))
                {
                    r.Read();
                    key = Bytes(ref r, "key");
                }
                else if (r.ValueTextEquals("payload"u8))
                {
                    r.Read();
                    payload = Bytes(ref r, "payload");
                }
                else if (r.ValueTextEquals("headers"u8))
                {
                    r.Read();
                    headers = Headers(ref r);
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }

            if (r.Read())
            {
                throw new DebeziumDecodeException("content after the kcat JSON object");
            }
        }
        catch (JsonException e) when (isKcat)
        {
            throw DebeziumDecodeException.Malformed("malformed kcat JSON", "line", e);
        }
        catch (JsonException)
        {
            return null;
        }

        return new DebeziumRecord
        {
            Topic = topic,
            Partition = partition,
            Offset = offset,
            Key = key,
            Value = payload,
            Headers = headers,
            LineNumber = lineNumber,
        };
    }

    private static ReadOnlyMemory<byte>? Bytes(ref Utf8JsonReader r, string name)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (r.TokenType != JsonTokenType.String)
        {
            throw Bad(name, "a string or null");
        }

        var length = r.HasValueSequence ? checked((int)r.ValueSequence.Length) : r.ValueSpan.Length;
        var buffer = new byte[length];
        try
        {
            var written = r.CopyString(buffer);
            return buffer.AsMemory(0, written);
        }
        catch (InvalidOperationException)
        {
            // Not UTF-8: kcat escapes control characters and writes every other byte of a binary record (Avro) as it is.
            var raw = r.HasValueSequence ? r.ValueSequence.ToArray() : r.ValueSpan.ToArray();
            return Unescape(raw, name);
        }
    }

    /// <summary>The bytes of a JSON string's raw text that is not UTF-8: JSON escapes undone, every other byte kept.</summary>
    private static byte[] Unescape(ReadOnlySpan<byte> raw, string name)
    {
        var bytes = new List<byte>(raw.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != (byte)'\\')
            {
                bytes.Add(raw[i]);
                continue;
            }

            if (++i >= raw.Length)
            {
                throw Bad(name, "a JSON string (it ends in a lone backslash)");
            }

            switch (raw[i])
            {
                case (byte)'b': bytes.Add((byte)'\b'); break;
                case (byte)'f': bytes.Add((byte)'\f'); break;
                case (byte)'n': bytes.Add((byte)'\n'); break;
                case (byte)'r': bytes.Add((byte)'\r'); break;
                case (byte)'t': bytes.Add((byte)'\t'); break;
                case (byte)'u' when i + 4 < raw.Length
                    && int.TryParse(raw.Slice(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                    // kcat writes \u00XX for a control byte; another escaped character stands for its UTF-8 bytes.
                    if (code < 0x80)
                    {
                        bytes.Add((byte)code);
                    }
                    else
                    {
                        var rune = Rune.IsValid(code) ? new Rune(code) : Rune.ReplacementChar;
                        bytes.AddRange(utf8[..rune.EncodeToUtf8(utf8)]);
                    }

                    i += 4;
                    break;
                default: bytes.Add(raw[i]); break;
            }
        }

        return [.. bytes];
    }

    private static List<KeyValuePair<string, byte[]?>> Headers(ref Utf8JsonReader r)
    {
        var headers = new List<KeyValuePair<string, byte[]?>>();
        if (r.TokenType == JsonTokenType.Null)
        {
            return headers;
        }

        if (r.TokenType != JsonTokenType.StartArray)
        {
            throw Bad("headers", "an array [name, value, …]");
        }

        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            var name = r.TokenType == JsonTokenType.String ? ConnectJsonReader.Text(ref r, "kcat header name") : throw Bad("headers", "an array of strings");
            r.Read();
            var value = Bytes(ref r, "headers");
            headers.Add(new(name, value?.ToArray()));
        }

        return headers;
    }

    private static DebeziumDecodeException Bad(string field, string expected) =>
        new($"kcat field '{field}' is not {expected}");
}
