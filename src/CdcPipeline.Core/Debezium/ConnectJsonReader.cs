using System.Text.Json;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// Reads the <c>payload</c> of Kafka's JsonConverter: the JSON encoding of a Connect value (bytes
/// as base64, structs as objects), guided by its schema, straight off a <see cref="Utf8JsonReader"/>.
/// Only the JSON encoding is handled here; what a value means is <see cref="ConnectValues"/>' job.
/// </summary>
internal static class ConnectJsonReader
{
    /// <summary>Reads the value at the reader's current token (already read).</summary>
    public static object? ReadValue(ref Utf8JsonReader r, ConnectSchema schema, ConnectValues values)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                // Not checked against 'optional': Debezium itself fills required columns of a partial
                // 'before' image, and a null is never ambiguous.
                return null;
            case JsonTokenType.True:
                return values.FromBoolean(schema, true);
            case JsonTokenType.False:
                return values.FromBoolean(schema, false);
            case JsonTokenType.Number:
                return ReadNumber(ref r, schema, values);
            case JsonTokenType.String:
                if (schema.Type == ConnectType.Bytes)
                {
                    if (!r.TryGetBytesFromBase64(out var bytes))
                    {
                        throw new DebeziumDecodeException($"bad base64 in a {schema} value");
                    }

                    return values.FromBytes(schema, bytes);
                }

                return values.FromString(schema, StringValue(ref r, schema));
            case JsonTokenType.StartObject:
                return schema.Type switch
                {
                    ConnectType.Struct => values.FromStruct(schema, ReadStruct(ref r, schema, values)),
                    ConnectType.Map => values.FromMap(schema, ReadMap(ref r, schema, values)),
                    _ => throw new DebeziumDecodeException($"schema/payload mismatch: an object for a {schema} schema"),
                };
            case JsonTokenType.StartArray:
                return schema.Type switch
                {
                    ConnectType.Array => values.FromArray(schema, ReadArray(ref r, schema.ValueSchema!, values)),
                    ConnectType.Map => ReadMapEntries(ref r, schema, values),
                    _ => throw new DebeziumDecodeException($"schema/payload mismatch: an array for a {schema} schema"),
                };
            default:
                throw new DebeziumDecodeException($"unexpected JSON token {r.TokenType}");
        }
    }

    private static object? ReadNumber(ref Utf8JsonReader r, ConnectSchema schema, ConnectValues values)
    {
        switch (schema.Type)
        {
            case ConnectType.Int8 or ConnectType.Int16 or ConnectType.Int32 or ConnectType.Int64:
                return values.FromInt64(schema, r.TryGetInt64(out var l) ? l : WholeNumber(ref r, schema));
            case ConnectType.Float32 or ConnectType.Float64:
                return values.FromDouble(schema, r.GetDouble());
            case ConnectType.Bytes when schema.Semantic == SemanticKind.Decimal:
                // JsonConverter with decimal.format=NUMERIC writes a Decimal as a JSON number.
                return ExactDecimal.TryParse(RawText(ref r), out var d)
                    ? values.FromDecimal(schema, d)
                    : throw new DebeziumDecodeException($"{RawText(ref r)} is not a decimal number");
            case ConnectType.Bytes when schema.Semantic == SemanticKind.Invalid:
                throw new DebeziumDecodeException(schema.Error!);
            default:
                throw new DebeziumDecodeException($"schema/payload mismatch: a number for a {schema} schema");
        }
    }

    /// <summary>Strings at most this long (UTF-8 bytes) are compared with the schema's last one before a new string is made.</summary>
    private const int ReusedTextLength = 64;

    /// <summary>
    /// A string value, the same instance as the last one of its schema when the text is the same. Many columns repeat from record
    /// to record (the source block's connector, server, database, schema and table; status codes, flags, dates): comparing a short
    /// text costs less than a new string, its UTF-16 transcoding and its garbage. Long values (a memo) are rarely repeated and
    /// always made anew.
    /// </summary>
    private static string StringValue(ref Utf8JsonReader r, ConnectSchema schema)
    {
        if (r.ValueIsEscaped || r.HasValueSequence || r.ValueSpan.Length > ReusedTextLength)
        {
            return Text(ref r, "string");
        }

        if (schema.LastText is { } last && System.Text.Ascii.Equals(r.ValueSpan, last))
        {
            return last;
        }

        var text = Text(ref r, "string");
        schema.LastText = text;
        return text;
    }

    /// <summary>
    /// A long plain text in a struct field (a memo), kept as its UTF-8 (<see cref="Utf8Text"/>) until something reads it: most
    /// such columns are only written out again (the canonical JSON that names a change), and the string would be twice its
    /// bytes, made and collected for nothing. Only where the string would be exactly this text: valid UTF-8 once unescaped
    /// (else the string path reports it), too long to be the unchanged-TOAST placeholder. A row materialises it on read, so
    /// arrays and maps, whose values are handed out as they are, never hold one.
    /// </summary>
    private static bool TryKeepUtf8(ref Utf8JsonReader r, ConnectSchema schema, ConnectValues values, out object? text)
    {
        text = null;
        if (r.TokenType != JsonTokenType.String || !schema.IsPlainText || r.HasValueSequence)
        {
            return false;
        }

        var raw = r.ValueSpan;
        var shortest = Math.Max(ReusedTextLength, values.Placeholder.LongestTextUtf8);
        if (raw.Length <= shortest)
        {
            return false;
        }

        // Unescaping never lengthens the text.
        var utf8 = new byte[raw.Length];
        int length;
        try
        {
            length = r.CopyString(utf8);
        }
        catch (InvalidOperationException)
        {
            return false; // a lone surrogate escape: the string path names it
        }

        if (length <= shortest || !System.Text.Unicode.Utf8.IsValid(utf8.AsSpan(0, length)))
        {
            return false;
        }

        text = new Utf8Text(utf8.AsMemory(0, length));
        return true;
    }

    /// <summary>
    /// An integer field's number written other than as plain digits (<c>1E+2</c>, <c>1.0</c>) or beyond int64. Kafka's
    /// JsonConverter reads integer fields with Jackson's <c>longValue()</c>, so a whole number in any JSON spelling is that
    /// number; a fraction is refused here rather than truncated as Jackson would.
    /// </summary>
    private static long WholeNumber(ref Utf8JsonReader r, ConnectSchema schema)
    {
        var text = RawText(ref r);
        if (!ExactDecimal.TryParse(text, out var number) || !number.IsFinite || (number = number.StripTrailingZeros()).Scale > 0)
        {
            throw new DebeziumDecodeException($"{text} is not a whole number for a {schema} schema");
        }

        if (number.Unscaled.IsZero)
        {
            return 0;
        }

        // A negative scale is a power of ten; beyond 10^19 no int64 holds it (and a huge exponent must not be expanded).
        if (number.Scale >= -19)
        {
            var whole = number.Unscaled * System.Numerics.BigInteger.Pow(10, -number.Scale);
            if (whole >= long.MinValue && whole <= long.MaxValue)
            {
                return (long)whole;
            }
        }

        throw new DebeziumDecodeException($"{text} does not fit the schema's type {schema.Type.ToString().ToLowerInvariant()}");
    }

    /// <summary>
    /// A string or property name. An escaped lone surrogate (<c>"\ud800"</c>) is valid JSON but no .NET (nor PostgreSQL)
    /// string: Utf8JsonReader throws InvalidOperationException for it, which must become an error naming the field.
    /// </summary>
    internal static string Text(ref Utf8JsonReader r, string what)
    {
        try
        {
            return r.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new DebeziumDecodeException(
                $"the {what} has an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair), which no PostgreSQL text holds: {e.Message}", e);
        }
    }

    /// <summary>
    /// ValueTextEquals unescapes an escaped property name to compare it, and throws InvalidOperationException for a lone
    /// surrogate: only an escaped name (rare; Jackson escapes only control characters) is checked, so plain names cost nothing.
    /// </summary>
    internal static void CheckName(ref Utf8JsonReader r)
    {
        if (r.ValueIsEscaped)
        {
            _ = Text(ref r, "field name");
        }
    }

    private static string RawText(ref Utf8JsonReader r) =>
        System.Text.Encoding.UTF8.GetString(r.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(r.ValueSequence) : r.ValueSpan);

    public static Row ReadStruct(ref Utf8JsonReader r, ConnectSchema schema, ConnectValues values)
    {
        var fields = schema.FieldArray;
        var result = new object?[fields.Length];
        var next = 0;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            CheckName(ref r);

            // Debezium writes fields in schema order: try the expected one before searching.
            var index = -1;
            if (next < fields.Length && r.ValueTextEquals(fields[next].NameUtf8))
            {
                index = next;
            }
            else
            {
                for (var i = 0; i < fields.Length; i++)
                {
                    if (r.ValueTextEquals(fields[i].NameUtf8))
                    {
                        index = i;
                        break;
                    }
                }
            }

            if (index < 0)
            {
                throw new DebeziumDecodeException(
                    $"schema/payload mismatch: the payload has a field '{Text(ref r, "field name")}' that the {schema} schema does not declare");
            }

            next = index + 1;
            var field = fields[index];
            r.Read();
            try
            {
                result[index] = TryKeepUtf8(ref r, field.Schema, values, out var text) ? text : ReadValue(ref r, field.Schema, values);
            }
            catch (DebeziumDecodeException e)
            {
                throw e.Within(field.Name);
            }
        }

        return new Row(schema.Shape!, result);
    }

    private static Row ReadMap(ref Utf8JsonReader r, ConnectSchema schema, ConnectValues values)
    {
        var names = new List<string>();
        var items = new List<object?>();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var key = Text(ref r, "map key");
            r.Read();
            try
            {
                items.Add(ReadValue(ref r, schema.ValueSchema!, values));
            }
            catch (DebeziumDecodeException e)
            {
                throw e.Within(key);
            }

            names.Add(key);
        }

        return NewRow(names, items);
    }

    // A map with non-string keys: JsonConverter writes [[key, value], …].
    private static List<object?> ReadMapEntries(ref Utf8JsonReader r, ConnectSchema schema, ConnectValues values)
    {
        var entries = new List<object?>();
        while (r.Read() && r.TokenType == JsonTokenType.StartArray)
        {
            r.Read();
            var key = ReadValue(ref r, schema.KeySchema!, values);
            r.Read();
            var value = ReadValue(ref r, schema.ValueSchema!, values);
            if (!r.Read() || r.TokenType != JsonTokenType.EndArray)
            {
                throw new DebeziumDecodeException("a map entry is not a [key, value] pair");
            }

            entries.Add(new object?[] { key, value });
        }

        return entries;
    }

    private static List<object?> ReadArray(ref Utf8JsonReader r, ConnectSchema items, ConnectValues values)
    {
        var list = new List<object?>();
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            try
            {
                list.Add(ReadValue(ref r, items, values));
            }
            catch (DebeziumDecodeException e)
            {
                throw e.Within($"[{list.Count}]");
            }
        }

        return list;
    }

    /// <summary>
    /// Schemaless JSON, best effort: an integer that fits is a <see cref="long"/>, any other number a
    /// <see cref="double"/>; strings stay strings (a base64 Decimal or bytea cannot be recognised
    /// without its schema, nor a date's days-since-epoch told from a plain integer); objects become
    /// rows and arrays lists; the unchanged-TOAST placeholder is still recognised.
    /// </summary>
    public static object? ReadUntyped(ref Utf8JsonReader r, ConnectValues values)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.True:
                return true;
            case JsonTokenType.False:
                return false;
            case JsonTokenType.Number:
                return r.TryGetInt64(out var l) ? l : (object)r.GetDouble();
            case JsonTokenType.String:
                return values.Untyped(Text(ref r, "string"));
            case JsonTokenType.StartObject:
                return ReadUntypedObject(ref r, values);
            case JsonTokenType.StartArray:
                var list = new List<object?>();
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    list.Add(ReadUntyped(ref r, values));
                }

                return values.Untyped(list);
            default:
                throw new DebeziumDecodeException($"unexpected JSON token {r.TokenType}");
        }
    }

    public static Row ReadUntypedObject(ref Utf8JsonReader r, ConnectValues values)
    {
        var names = new List<string>();
        var items = new List<object?>();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var name = Text(ref r, "field name");
            r.Read();
            try
            {
                items.Add(ReadUntyped(ref r, values));
            }
            catch (DebeziumDecodeException e)
            {
                throw e.Within(name);
            }

            names.Add(name);
        }

        return NewRow(names, items);
    }

    private static Row NewRow(List<string> names, List<object?> items)
    {
        try
        {
            return new Row(new RowShape(names.ToArray()), items.ToArray());
        }
        catch (ArgumentException e)
        {
            throw new DebeziumDecodeException(e.Message);
        }
    }
}
