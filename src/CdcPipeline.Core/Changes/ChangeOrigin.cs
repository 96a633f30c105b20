using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using CdcPipeline.Core.Json;

namespace CdcPipeline.Core.Changes;

/// <summary>
/// <see cref="ChangeEvent.Origin"/>: the digest of a JSON array of what names a Debezium change in the database's
/// history — <c>["debezium", server, database, schema, table, op, lsn, key, before, after]</c> — or an embedded
/// snapshot row (<see cref="OfSnapshotRow"/>). A JSON array so that no two different names run together into one text.
/// Must never change for a given change: event ids are made from it.
/// </summary>
public static class ChangeOrigin
{
    /// <summary>
    /// Whether a decoded Debezium change can be named by its source block: it has an LSN, and either a key or
    /// an operation that is one per LSN and table (a truncate; a logical message, which is a WAL record of its
    /// own). Rows of a table without key cannot: equal rows of one COPY share LSN, transaction and image, and
    /// only their Kafka offsets tell them apart.
    /// </summary>
    public static bool CanName(ChangeKind kind, ChangeOperation? op, SourceInfo source, Row? key) =>
        kind is ChangeKind.Change or ChangeKind.Message
        && source.Lsn is not null
        && (key is not null || op is ChangeOperation.Truncate or ChangeOperation.Message);

    // One buffer and writer per thread, kept between changes: a change's images can be kilobytes (a 4 KB memo
    // column), and a fresh buffer, its growth copies and a UTF-16 copy of it for every change doubled what the
    // Kafka path allocated per record.
    private const string Prefix = "debezium:";
    private const string SnapshotPrefix = "snapshot:";

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>
    /// <c>debezium:</c> and the SHA-256 (hex) of the canonical JSON array above. The digest keeps the name short
    /// whatever the rows hold; it is as stable as the array it is made from.
    /// </summary>
    public static string Of(ChangeEvent change)
    {
        var writer = StartArray(out var buffer);
        var source = change.Source;
        writer.WriteStringValue("debezium");
        writer.WriteStringValue(source.Name);
        writer.WriteStringValue(source.Database);
        writer.WriteStringValue(source.Schema);
        writer.WriteStringValue(source.Table);
        writer.WriteStringValue(change.Operation?.ToCode());
        if (source.Lsn is { } lsn)
        {
            writer.WriteNumberValue(lsn);
        }
        else
        {
            writer.WriteNullValue();
        }

        WriteRow(writer, change.Key);

        // The images too: a key need not be unique (message.key.columns may name any columns), and rows of one
        // COPY share the LSN. Debezium writes the same images again when it sends a change again.
        WriteRow(writer, change.Before);
        WriteRow(writer, change.After);
        return Digest(Prefix, writer, buffer);
    }

    /// <summary>
    /// The name of a row the embedded path's snapshot read for <paramref name="request"/> (<see cref="ChangeEvent.SnapshotRequest"/>):
    /// <c>snapshot:</c> and the SHA-256 (hex) of <c>["snapshot", slot, request, schema, table, key, after]</c>. Not the
    /// position: a chunk read again after a stop is delivered at another watermark, and its rows must keep the ids of their
    /// first copies. The row too, as Debezium's name has its images: a row changed in between is another read (its change
    /// was streamed between the two), and the same key read for another request is another read as well.
    /// </summary>
    public static string OfSnapshotRow(ChangeEvent change, string request)
    {
        var writer = StartArray(out var buffer);
        var source = change.Source;
        writer.WriteStringValue("snapshot");
        writer.WriteStringValue(change.Position.Stream);
        writer.WriteStringValue(request);
        writer.WriteStringValue(source.Schema);
        writer.WriteStringValue(source.Table);
        WriteRow(writer, change.Key);
        WriteRow(writer, change.After);
        return Digest(SnapshotPrefix, writer, buffer);
    }

    private static Utf8JsonWriter StartArray(out ArrayBufferWriter<byte> buffer)
    {
        buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var writer = t_writer;
        if (writer is null)
        {
            writer = t_writer = new Utf8JsonWriter(buffer, CanonicalJson.WriterOptions);
        }
        else
        {
            writer.Reset(buffer);
        }

        writer.WriteStartArray();
        return writer;
    }

    private static string Digest(string prefix, Utf8JsonWriter writer, ArrayBufferWriter<byte> buffer)
    {
        writer.WriteEndArray();
        writer.Flush();

        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(buffer.WrittenSpan, digest);
        if (buffer.Capacity > 1 << 20)
        {
            // a huge row once must not stay pinned to this thread
            t_buffer = null;
            t_writer = null;
        }

        Span<char> text = stackalloc char[prefix.Length + (2 * SHA256.HashSizeInBytes)];
        prefix.CopyTo(text);
        Convert.TryToHexStringLower(digest, text[prefix.Length..], out _);
        return new string(text);
    }

    private static void WriteRow(Utf8JsonWriter writer, Row? row)
    {
        if (row is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            CanonicalJson.WriteRow(writer, row);
        }
    }
}
