using System.Buffers;
using System.Globalization;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Core.Json;

/// <summary>
/// The types of a change's column values, written beside its canonical JSON. That JSON (a ⚑ contract) renders a
/// timestamp, a date, a NUMERIC as text and a smallint, a double or a json scalar as a bare JSON value, so read back alone
/// it hands rules other values than the decoder did (<c>after.amount + 1</c> concatenates text). A <c>translate</c> dead letter
/// of the embedded path keeps these types (<see cref="Of"/>), and <c>dlq redrive</c> reads its change back with them
/// (<see cref="Read"/>) to translate exactly what <c>run</c> translated.
/// <para>
/// The form mirrors the rows: <c>{"key":{…},"before":{…},"after":{…}}</c>, each a column's type name (<c>"timestamp"</c>,
/// <c>"numeric"</c>…), an object for a struct (its columns' types) and an array for an array (one type for every element, or
/// one per element). A column whose JSON already reads as its value (text, a bigint, a boolean, null) has none, so a change
/// of those has no types at all.
/// </para>
/// </summary>
public static class CanonicalValueTypes
{
    private static readonly ConnectValues Connect = new();
    private static readonly ConnectSchema DateSchema = new(ConnectType.String, "io.debezium.time.IsoDate");
    private static readonly ConnectSchema TimestampSchema = new(ConnectType.String, "io.debezium.time.IsoTimestamp");
    private static readonly ConnectSchema TimestampTzSchema = new(ConnectType.String, "io.debezium.time.ZonedTimestamp");
    private static readonly ConnectSchema TimeSchema = new(ConnectType.String, "io.debezium.time.IsoTime");
    private static readonly ConnectSchema TimeTzSchema = new(ConnectType.String, "io.debezium.time.ZonedTime");
    private static readonly ConnectSchema Float64Schema = new(ConnectType.Float64);
    private static readonly ConnectSchema Float32Schema = new(ConnectType.Float32);

    /// <summary>
    /// The JSON of the types of <paramref name="change"/>'s rows; null when every value reads back as it is.
    /// </summary>
    /// <exception cref="NotSupportedException">A value the canonical JSON has no form for either.</exception>
    public static string? Of(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var buffer = new ArrayBufferWriter<byte>(256);
        var any = false;
        using (var writer = new Utf8JsonWriter(buffer, CanonicalJson.WriterOptions))
        {
            writer.WriteStartObject();
            foreach (var (name, row) in new[] { ("key", change.Key), ("before", change.Before), ("after", change.After) })
            {
                if (row is not null && NeedsTypes(row))
                {
                    writer.WritePropertyName(name);
                    WriteRowTypes(writer, row);
                    any = true;
                }
            }

            writer.WriteEndObject();
        }

        return any ? System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan) : null;
    }

    private static bool NeedsTypes(Row row)
    {
        for (var i = 0; i < row.Count; i++)
        {
            if (!ReadsAsItself(row[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A value its canonical JSON alone gives back: null, text, a bigint, a boolean.</summary>
    private static bool ReadsAsItself(object? value) => value is null or string or long or bool;

    private static void WriteRowTypes(Utf8JsonWriter writer, Row row)
    {
        writer.WriteStartObject();
        for (var i = 0; i < row.Count; i++)
        {
            if (!ReadsAsItself(row[i]))
            {
                writer.WritePropertyName(row.ColumnName(i));
                WriteType(writer, row[i]);
            }
        }

        writer.WriteEndObject();
    }

    private static void WriteType(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case Row row:
                WriteRowTypes(writer, row);
                return;
            case IEnumerable<KeyValuePair<string, object?>> map:
                // Written as an object by the canonical JSON as a Row is, and read back as one.
                WriteRowTypes(writer, Row.From([.. map.Select(kv => (kv.Key, kv.Value))]));
                return;
            case string or byte[] or RawJson:
                break;
            case System.Collections.IEnumerable list:
                WriteListTypes(writer, list.Cast<object?>().ToList());
                return;
        }

        writer.WriteStringValue(Name(value));
    }

    /// <summary>One type for all elements when they share it (a PostgreSQL array always does), else one per element.</summary>
    private static void WriteListTypes(Utf8JsonWriter writer, List<object?> list)
    {
        writer.WriteStartArray();
        object? first = null;
        var shared = true;
        foreach (var item in list)
        {
            if (item is null)
            {
                continue;
            }

            if (first is null)
            {
                first = item;
            }
            else if (item.GetType() != first.GetType() || item is Row || (item is System.Collections.IEnumerable and not string and not byte[]))
            {
                shared = false;
            }
        }

        if (first is not null && shared)
        {
            WriteType(writer, first);
        }
        else if (first is not null)
        {
            foreach (var item in list)
            {
                if (item is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    WriteType(writer, item);
                }
            }
        }

        writer.WriteEndArray();
    }

    private static string Name(object? value) => value switch
    {
        null => "null",
        string => "text",
        long => "int64",
        bool => "bool",
        int => "int32",
        short => "int16",
        byte => "uint8",
        double => "float64",
        float => "float32",
        ExactDecimal => "numeric",
        decimal => "decimal",
        Date => "date",
        LocalTimestamp => "timestamp",
        UtcTimestamp => "timestamptz",
        LocalTime => "time",
        UtcTime => "timetz",
        RawJson => "json",
        BitString => "bits",
        byte[] => "bytes",
        Guid => "uuid",
        Unavailable => "unavailable",
        _ => throw new NotSupportedException($"no value type name for a value of type {value.GetType().Name}"),
    };

    /// <summary>
    /// A column's value from its canonical JSON and its type (<see cref="Of"/>); without a type, as the JSON reads: text,
    /// a bigint or a decimal, a boolean, null, and a json object or array as <see cref="RawJson"/>.
    /// </summary>
    /// <exception cref="FormatException">The type is not one <see cref="Of"/> writes, or the value is not of it.</exception>
    public static object? Read(JsonElement value, JsonElement? type)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (type is not { } t || t.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return Untyped(value);
        }

        try
        {
            return t.ValueKind switch
            {
                JsonValueKind.String => Scalar(value, t.GetString()!),
                JsonValueKind.Object when value.ValueKind == JsonValueKind.Object => ReadRow(value, t),
                JsonValueKind.Array when value.ValueKind == JsonValueKind.Array => ReadList(value, t),
                _ => throw new FormatException($"a {value.ValueKind} value for the type {t.GetRawText()}"),
            };
        }
        catch (Exception e) when (e is InvalidOperationException or DebeziumDecodeException or OverflowException)
        {
            throw new FormatException($"{Shorten(value.GetRawText())} is not a value of the type {t.GetRawText()}: {e.Message}", e);
        }
    }

    /// <summary>A row of the canonical JSON read with the types of its columns (<paramref name="types"/>: an object, or none).</summary>
    public static Row ReadRow(JsonElement row, JsonElement? types)
    {
        var columns = new List<(string, object?)>();
        foreach (var column in row.EnumerateObject())
        {
            JsonElement? type = types is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty(column.Name, out var ct) ? ct : null;
            try
            {
                columns.Add((column.Name, Read(column.Value, type)));
            }
            catch (FormatException e)
            {
                throw new FormatException($"column '{column.Name}': {e.Message}", e);
            }
        }

        return Row.From([.. columns]);
    }

    private static List<object?> ReadList(JsonElement list, JsonElement types)
    {
        var count = types.GetArrayLength();
        var items = new List<object?>(list.GetArrayLength());
        var i = 0;
        foreach (var item in list.EnumerateArray())
        {
            items.Add(Read(item, count switch
            {
                0 => null,
                1 => types[0],
                _ when i < count => types[i],
                _ => throw new FormatException($"element {i} of an array with types for {count} elements"),
            }));
            i++;
        }

        return items;
    }

    private static object? Scalar(JsonElement value, string type) => type switch
    {
        "text" => value.GetString(),
        "int64" => value.GetInt64(),
        "bool" => value.GetBoolean(),
        "int32" => value.GetInt32(),
        "int16" => value.GetInt16(),
        "uint8" => value.GetByte(),
        "float64" => value.ValueKind == JsonValueKind.String ? Connect.FromString(Float64Schema, value.GetString()!) : value.GetDouble(),
        "float32" => value.ValueKind == JsonValueKind.String ? Connect.FromString(Float32Schema, value.GetString()!) : value.GetSingle(),
        "numeric" => ExactDecimal.Parse(value.GetString()!),
        "decimal" => decimal.Parse(value.GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture),
        "date" => Connect.FromString(DateSchema, value.GetString()!),
        "timestamp" => Connect.FromString(TimestampSchema, value.GetString()!),
        "timestamptz" => Connect.FromString(TimestampTzSchema, value.GetString()!),
        "time" => Connect.FromString(TimeSchema, value.GetString()!),
        "timetz" => Connect.FromString(TimeTzSchema, value.GetString()!),
        "json" => new RawJson(value.GetRawText()),
        "bits" => new BitString(value.GetString()!),
        "bytes" => value.GetBytesFromBase64(),
        "uuid" => value.GetGuid(),
        "unavailable" => Unavailable.Value,
        _ => throw new FormatException($"unknown value type '{type}' (written by a newer version?)"),
    };

    private static object? Untyped(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number when value.TryGetInt64(out var integer) => integer,
        JsonValueKind.Number when value.TryGetDecimal(out var number) => number,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        _ => new RawJson(value.GetRawText()),
    };

    private static string Shorten(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 57), "...");
}
