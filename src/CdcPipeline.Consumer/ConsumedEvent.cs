using System.Text.Json;

namespace CdcPipeline.Consumer;

/// <summary>
/// An event as a downstream service receives it: the CloudEvents attributes it needs and the data as
/// JSON. <see cref="Id"/> is what de-duplicates: the pipeline derives it deterministically from the
/// source position (or takes the outbox row's id), so a redelivery carries the same id.
/// </summary>
public sealed class ConsumedEvent
{
    public ConsumedEvent(string id, string type, JsonElement data, string? source = null, string? subject = null, DateTimeOffset? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentException.ThrowIfNullOrEmpty(type);
        Id = id;
        Type = type;
        Data = data;
        Source = source;
        Subject = subject;
        Time = time;
    }

    public string Id { get; }

    public string Type { get; }

    public string? Source { get; }

    public string? Subject { get; }

    public DateTimeOffset? Time { get; }

    /// <summary>The <c>data</c> member (a detached clone: it outlives the parsed document).</summary>
    public JsonElement Data { get; }

    /// <summary>Reads a CloudEvents 1.0 structured-mode JSON event (what the pipeline's sinks write).</summary>
    /// <exception cref="FormatException">The text is not JSON, or <c>id</c>/<c>type</c> are missing.</exception>
    public static ConsumedEvent FromCloudEventJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"not a CloudEvents JSON event: {e.Message}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"a CloudEvents JSON event is an object, not {root.ValueKind}");
            }

            var id = String(root, "id") ?? throw new FormatException("the CloudEvents event has no 'id': without it, duplicates cannot be recognised");
            var type = String(root, "type") ?? throw new FormatException($"the CloudEvents event '{id}' has no 'type'");
            var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
            DateTimeOffset? time = String(root, "time") is { } t
                ? DateTimeOffset.Parse(t, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind)
                : null;
            return new ConsumedEvent(id, type, data, String(root, "source"), String(root, "subject"), time);
        }
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
