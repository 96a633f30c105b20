using System.Globalization;
using System.Text.Json;

namespace CdcPipeline.Consumer;

/// <summary>
/// An event as a downstream service receives it: the CloudEvents attributes it needs and the data as
/// JSON. <see cref="Id"/> is what de-duplicates: the pipeline derives it deterministically from the
/// source position (or takes the outbox row's id), so a redelivery carries the same id.
/// </summary>
public sealed class ConsumedEvent
{
    /// <summary>An event built by the service itself (e.g. from a binary-mode message's headers); see <see cref="FromCloudEventJson"/> for the JSON form.</summary>
    /// <exception cref="ArgumentException"><paramref name="id"/> or <paramref name="type"/> is null or empty.</exception>
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

    /// <summary>The CloudEvents <c>id</c>: what the processed mark records, compared exactly, as text.</summary>
    public string Id { get; }

    /// <summary>The CloudEvents <c>type</c>, e.g. <c>OrderPlaced</c>.</summary>
    public string Type { get; }

    /// <summary>The CloudEvents <c>source</c>, when the event has one.</summary>
    public string? Source { get; }

    /// <summary>The CloudEvents <c>subject</c>: the aggregate (e.g. the order id), when the event has one.</summary>
    public string? Subject { get; }

    /// <summary>The CloudEvents <c>time</c>, when the event has one.</summary>
    public DateTimeOffset? Time { get; }

    /// <summary>The <c>data</c> member (a detached clone: it outlives the parsed document); <see cref="JsonValueKind.Undefined"/>
    /// when the event has none, so check <see cref="JsonElement.ValueKind"/> before reading it.</summary>
    public JsonElement Data { get; }

    /// <summary>The extension <c>cdckind</c>: <c>event</c>, or <c>command</c> (then <see cref="Target"/> names its target); null when the
    /// event has none (it did not come from the pipeline's rules).</summary>
    public string? Kind { get; init; }

    /// <summary>The extension <c>cdctarget</c>: the target of a <c>command</c>, when the rule names one.</summary>
    public string? Target { get; init; }

    /// <summary>The extension <c>cdcaggregate</c>: the aggregate type (e.g. <c>Order</c>), when the event has one.</summary>
    public string? Aggregate { get; init; }

    /// <summary>The extension <c>cdcrule</c>: the rule that made the event (e.g. <c>tb_ord_mst#OrderShipped</c>), when it has one.</summary>
    public string? Rule { get; init; }

    /// <summary>The extension <c>cdcposition</c>: where the change sits in its source stream, ordered within that stream (a consumer
    /// keeping no marks can compare it to drop a redelivered older event); null when the event has none.</summary>
    public CdcPosition? Position { get; init; }

    /// <summary>Reads a CloudEvents 1.0 structured-mode JSON event (what the pipeline's sinks write).</summary>
    /// <remarks>The pipeline's extensions (<c>cdckind</c>, <c>cdctarget</c>, <c>cdcaggregate</c>, <c>cdcrule</c>, <c>cdcposition</c>) are
    /// read into <see cref="Kind"/>, <see cref="Target"/>, <see cref="Aggregate"/>, <see cref="Rule"/> and <see cref="Position"/>.</remarks>
    /// <exception cref="FormatException">The text is not a JSON object, <c>id</c> or <c>type</c> is missing or empty, <c>time</c>
    /// is not a timestamp, or <c>cdcposition</c> is not <c>{stream}@{major}:{minor}</c>: the one exception a malformed event raises, so a service can dead-letter on it.</exception>
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

            // CloudEvents 1.0: id and type are non-empty strings; an empty one is as missing (the constructor would throw
            // ArgumentException, which a service dead-lettering on FormatException would not catch).
            var id = String(root, "id") is { Length: > 0 } i ? i
                : throw new FormatException("the CloudEvents event has no 'id' (or an empty one): without it, duplicates cannot be recognised");
            var type = String(root, "type") is { Length: > 0 } ty ? ty : throw new FormatException($"the CloudEvents event '{id}' has no 'type' (or an empty one)");
            var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
            DateTimeOffset? time = null;
            if (Checked(root, "time", id, type) is { } t)
            {
                time = DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var parsed)
                    ? parsed
                    : throw new FormatException($"the CloudEvents event '{id}' ({type}) has a 'time' that is not an RFC 3339 timestamp: '{t}'");
            }

            CdcPosition? position = null;
            if (Checked(root, "cdcposition", id, type) is { } p)
            {
                position = CdcPosition.TryParse(p, out var parsed)
                    ? parsed
                    : throw new FormatException($"the CloudEvents event '{id}' ({type}) has a 'cdcposition' that is not {{stream}}@{{major}}:{{minor}}: '{p}'");
            }

            return new ConsumedEvent(id, type, data, String(root, "source"), String(root, "subject"), time)
            {
                Kind = String(root, "cdckind"),
                Target = String(root, "cdctarget"),
                Aggregate = String(root, "cdcaggregate"),
                Rule = String(root, "cdcrule"),
                Position = position,
            };
        }
    }

    /// <summary>
    /// An attribute that must be a string when present (a timestamp, a position): another JSON kind (a number of seconds) is as
    /// malformed as unreadable text, not an absent attribute.
    /// </summary>
    private static string? Checked(JsonElement root, string name, string id, string type) =>
        !root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new FormatException($"the CloudEvents event '{id}' ({type}) has a '{name}' that is a JSON {v.ValueKind.ToString().ToLowerInvariant()}, not a string: {v.GetRawText()}");

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
