using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Json;

/// <summary>
/// The canonical change-event JSON (ARCHITECTURE, "Commands"): what <c>decode</c> prints and what
/// sinks write when no rules are set. Both capture paths must render the same SQL identically, so
/// every value type has exactly one rendering, defined here and nowhere else.
/// </summary>
public static class CanonicalJson
{
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    public static string Serialize(ChangeEvent change)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(writer, change);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string Serialize(Row row)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteRow(writer, row);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static void Write(Utf8JsonWriter writer, ChangeEvent change)
    {
        writer.WriteStartObject();
        writer.WriteString("kind", KindName(change.Kind));
        if (change.Operation is { } op)
        {
            writer.WriteString("op", op.ToCode());
        }

        var source = change.Source;
        WriteNullableString(writer, "schema", source.Schema);
        WriteNullableString(writer, "table", source.Table);
        if (source.Lsn is { } lsn)
        {
            writer.WriteNumber("lsn", lsn);
        }
        else
        {
            writer.WriteNull("lsn");
        }

        if (source.TxId is { } txId)
        {
            writer.WriteNumber("txId", txId);
        }
        else
        {
            writer.WriteNull("txId");
        }

        writer.WriteBoolean("snapshot", source.Snapshot != SnapshotMarker.False);

        switch (change.Kind)
        {
            case ChangeKind.Change:
                WriteRowProperty(writer, "key", change.Key);
                WriteRowProperty(writer, "before", change.Before);
                WriteRowProperty(writer, "after", change.After);
                break;
            case ChangeKind.Tombstone:
                WriteRowProperty(writer, "key", change.Key);
                break;
            case ChangeKind.Transaction when change.Transaction is { } tx:
                writer.WriteString("status", tx.Status);
                writer.WriteString("id", tx.Id);
                if (tx.EventCount is { } count)
                {
                    writer.WriteNumber("eventCount", count);
                }

                break;
            case ChangeKind.Message when change.Message is { } message:
                writer.WriteString("prefix", message.Prefix);
                writer.WriteBase64String("content", message.Content);
                writer.WriteBoolean("transactional", message.Transactional);
                break;
        }

        writer.WriteEndObject();
    }

    public static string KindName(ChangeKind kind) => kind switch
    {
        ChangeKind.Change => "change",
        ChangeKind.Tombstone => "tombstone",
        ChangeKind.Heartbeat => "heartbeat",
        ChangeKind.Transaction => "transaction",
        ChangeKind.Message => "message",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static void WriteNullableString(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteRowProperty(Utf8JsonWriter writer, string name, Row? row)
    {
        writer.WritePropertyName(name);
        if (row is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            WriteRow(writer, row);
        }
    }

    public static void WriteRow(Utf8JsonWriter writer, IEnumerable<KeyValuePair<string, object?>> row)
    {
        if (row is Row r)
        {
            WriteRow(writer, r);
            return;
        }

        writer.WriteStartObject();
        foreach (var (column, value) in row)
        {
            writer.WritePropertyName(column);
            WriteValue(writer, value);
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// A row without an enumerator per row; column names pre-encoded once per shape when the writer uses the
    /// canonical encoder (the bytes are then identical to encoding them on each write).
    /// </summary>
    public static void WriteRow(Utf8JsonWriter writer, Row row)
    {
        writer.WriteStartObject();
        var shape = row.Shape;
        var encoded = ReferenceEquals(writer.Options.Encoder, WriterOptions.Encoder) ? shape.EncodedNames(WriterOptions.Encoder) : null;
        for (var i = 0; i < row.Count; i++)
        {
            if (encoded is not null)
            {
                writer.WritePropertyName(encoded[i]);
            }
            else
            {
                writer.WritePropertyName(shape.Columns[i]);
            }

            var value = row.StoredValue(i);
            if (value is Utf8Text text)
            {
                // The same bytes as writing its string: the writer escapes UTF-8 and UTF-16 input alike.
                writer.WriteStringValue(text.Span);
            }
            else
            {
                WriteValue(writer, value);
            }
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes one column value in its canonical form.</summary>
    public static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case string s:
                writer.WriteStringValue(s);
                break;
            case bool b:
                writer.WriteBooleanValue(b);
                break;
            case long l:
                writer.WriteNumberValue(l);
                break;
            case int i:
                writer.WriteNumberValue(i);
                break;
            case short sh:
                writer.WriteNumberValue(sh);
                break;
            case byte by:
                writer.WriteNumberValue(by);
                break;
            case double d:
                if (double.IsFinite(d))
                {
                    writer.WriteNumberValue(d);
                }
                else
                {
                    writer.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
                }

                break;
            case float f:
                if (float.IsFinite(f))
                {
                    writer.WriteNumberValue(f);
                }
                else
                {
                    writer.WriteStringValue(float.IsNaN(f) ? "NaN" : f > 0 ? "Infinity" : "-Infinity");
                }

                break;
            case ExactDecimal dec:
                WriteFormatted(writer, dec);
                break;
            case decimal m:
                writer.WriteStringValue(ExactDecimal.FromDecimal(m).ToString());
                break;
            case Date date:
                WriteFormatted(writer, date);
                break;
            case LocalTimestamp ts:
                WriteFormatted(writer, ts);
                break;
            case UtcTimestamp uts:
                WriteFormatted(writer, uts);
                break;
            case LocalTime t:
                writer.WriteStringValue(t.ToString());
                break;
            case UtcTime ut:
                writer.WriteStringValue(ut.ToString());
                break;
            case RawJson json:
                writer.WriteRawValue(json.Text, skipInputValidation: true);
                break;
            case BitString bits:
                writer.WriteStringValue(bits.Bits);
                break;
            case byte[] bytes:
                writer.WriteBase64StringValue(bytes);
                break;
            case Guid g:
                writer.WriteStringValue(g);
                break;
            case Unavailable:
                writer.WriteStartObject();
                writer.WriteBoolean("$unavailable", true);
                writer.WriteEndObject();
                break;
            case Row row:
                WriteRow(writer, row);
                break;
            case IEnumerable<KeyValuePair<string, object?>> map:
                WriteRow(writer, map);
                break;
            case System.Collections.IEnumerable list:
                writer.WriteStartArray();
                foreach (var item in list)
                {
                    WriteValue(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                throw new NotSupportedException($"no canonical JSON form for a value of type {value.GetType().Name}");
        }
    }

    /// <summary>Formats into a stack buffer (these types' text is their ToString, without the string).</summary>
    private static void WriteFormatted<T>(Utf8JsonWriter writer, T value)
        where T : ISpanFormattable
    {
        Span<char> buffer = stackalloc char[64];
        if (value.TryFormat(buffer, out var written, default, System.Globalization.CultureInfo.InvariantCulture))
        {
            writer.WriteStringValue(buffer[..written]);
        }
        else
        {
            writer.WriteStringValue(value.ToString());
        }
    }
}
