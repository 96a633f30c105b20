using System.Globalization;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Sinks.Failures;

/// <summary>
/// Turns a stored event body (<c>EventJson</c>: CloudEvents JSON, or the canonical change JSON of a raw
/// change) back into a <see cref="DomainEvent"/> that sinks write exactly as before: column values and
/// <c>data</c> come back as <see cref="RawJson"/>, which the canonical writer emits verbatim.
/// </summary>
public static class StoredEvent
{
    public static DomainEvent Read(string payload, string eventId, string type, SourcePosition position)
    {
        using var document = JsonDocument.Parse(payload);
        var root = document.RootElement;
        if (type == DomainEvent.RawChangeType)
        {
            var change = ReadChange(root, position);
            return new DomainEvent { Id = eventId, Type = DomainEvent.RawChangeType, Source = "/" + change.Source.QualifiedTable, Position = position, Change = change };
        }

        var placeholder = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Source = new SourceInfo(),
            Position = position,
        };
        return new DomainEvent
        {
            Id = root.TryGetProperty("id", out var id) ? id.GetString()! : eventId,
            Type = root.TryGetProperty("type", out var t) ? t.GetString()! : type,
            Source = root.TryGetProperty("source", out var source) ? source.GetString()! : "",
            Subject = root.TryGetProperty("subject", out var subject) ? subject.GetString() : null,
            Time = root.TryGetProperty("time", out var time) ? DateTimeOffset.Parse(time.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : null,
            Data = root.TryGetProperty("data", out var data) ? new RawJson(data.GetRawText()) : null,
            Position = position,
            Change = placeholder,
        };
    }

    /// <summary>
    /// The change a <c>translate</c> dead letter of the embedded path holds: the runner wrote it as the canonical change
    /// JSON (<c>CanonicalJson.Serialize</c>) when the change had no source record of its own.
    /// </summary>
    /// <param name="valueTypes">
    /// The letter's <c>valueTypes</c> (<see cref="CanonicalValueTypes.Of"/>): the rows' values come back typed as the decoder typed
    /// them. A letter written before it had them (null) gets the values as their JSON reads: timestamps and decimals as text.
    /// </param>
    /// <param name="origin">
    /// The letter's <c>origin</c> (<see cref="ChangeEvent.Origin"/>): the change's name when <c>run</c> named it otherwise than
    /// by its position (an embedded snapshot row), so that its events get the ids <c>run</c> gave them; null: by the position.
    /// </param>
    /// <exception cref="FormatException">The payload is not a canonical change (e.g. the Debezium record of a Kafka source), or a value not of its type.</exception>
    public static ChangeEvent ReadChange(string payload, SourcePosition position, string? valueTypes = null, string? origin = null)
    {
        using var document = JsonDocument.Parse(payload);
        var root = document.RootElement;
        if (!IsCanonicalChange(root))
        {
            throw new FormatException("the payload is not a canonical change (no \"kind\"): a source record, not the embedded path's change");
        }

        using var types = valueTypes is null ? null : JsonDocument.Parse(valueTypes);
        return ReadChange(root, position, typed: true, types?.RootElement, origin);
    }

    /// <summary>True when <paramref name="root"/> is a canonical change's JSON (the embedded path's payload), not a source record.</summary>
    public static bool IsCanonicalChange(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("kind", out var kind) && kind.ValueKind == JsonValueKind.String;

    private static ChangeEvent ReadChange(JsonElement root, SourcePosition position, bool typed = false, JsonElement? types = null, string? origin = null)
    {
        var kind = root.GetProperty("kind").GetString() switch
        {
            "change" => ChangeKind.Change,
            "tombstone" => ChangeKind.Tombstone,
            "heartbeat" => ChangeKind.Heartbeat,
            "transaction" => ChangeKind.Transaction,
            "message" => ChangeKind.Message,
            var other => throw new FormatException($"stored change has unknown kind '{other}'"),
        };
        ChangeOperation? op = null;
        if (root.TryGetProperty("op", out var opText) && ChangeOperationCodes.TryParse(opText.GetString(), out var parsed))
        {
            op = parsed;
        }

        return new ChangeEvent
        {
            Kind = kind,
            Operation = op,
            Source = new SourceInfo
            {
                Schema = String(root, "schema"),
                Table = String(root, "table"),
                Lsn = Int64(root, "lsn"),
                TxId = Int64(root, "txId"),
                Snapshot = root.TryGetProperty("snapshot", out var snap) && snap.ValueKind == JsonValueKind.True ? SnapshotMarker.True : SnapshotMarker.False,
            },
            Position = position,
            Key = ReadRow(root, "key", typed, types),
            Before = ReadRow(root, "before", typed, types),
            After = ReadRow(root, "after", typed, types),
            Origin = origin,
        };
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long? Int64(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;

    /// <summary>
    /// A row of the canonical JSON: each value verbatim (<see cref="RawJson"/>, written back as it was) for a sink, or, for
    /// rules to evaluate (<paramref name="typed"/>), typed by <see cref="CanonicalValueTypes"/>: with the row's types in
    /// <paramref name="types"/> as the decoder typed them, else as the JSON types it was rendered as.
    /// </summary>
    private static Row? ReadRow(JsonElement root, string name, bool typed, JsonElement? types)
    {
        if (!root.TryGetProperty(name, out var row) || row.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (!typed)
        {
            return Row.From(row.EnumerateObject().Select(p => (p.Name, (object?)new RawJson(p.Value.GetRawText()))).ToArray());
        }

        try
        {
            return CanonicalValueTypes.ReadRow(row, types is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty(name, out var rowTypes) ? rowTypes : null);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{name}: {e.Message}", e);
        }
    }
}
