using System.Collections.Frozen;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CdcPipeline.Consumer;

/// <summary>
/// An event as a downstream service receives it: the CloudEvents attributes it needs and the data as
/// JSON. <see cref="Id"/> is what de-duplicates: the pipeline derives it deterministically from the
/// source position (or takes the outbox row's id), so a redelivery carries the same id.
/// </summary>
public sealed partial class ConsumedEvent
{
    /// <summary>The CloudEvents 1.0 context attributes and data members, and the pipeline's extensions, which have properties of their own.</summary>
    private static readonly FrozenSet<string> NotExtensions = FrozenSet.ToFrozenSet(
        ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64",
         "cdckind", "cdctarget", "cdcaggregate", "cdcrule", "cdcposition"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>An event built by the service itself; see <see cref="FromCloudEventJson"/> for the JSON form and
    /// <see cref="FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/> for a binary-mode message's headers and body.</summary>
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

    /// <summary>The event's other extension attributes by name: an outbox's <c>additionalPlacement</c> headers (<c>tenant</c>,
    /// <c>correlationid</c>), another producer's. Each value is its canonical text, as a header carries it (a number's digits,
    /// <c>true</c>/<c>false</c>). Empty when the event has none. The pipeline's own (<see cref="Kind"/> … <see cref="Position"/>)
    /// are not among them.</summary>
    public IReadOnlyDictionary<string, string> Extensions { get; init; } = ReadOnlyDictionary<string, string>.Empty;

    /// <summary>Reads a CloudEvents 1.0 structured-mode JSON event (what the pipeline's sinks write).</summary>
    /// <remarks>The pipeline's extensions (<c>cdckind</c>, <c>cdctarget</c>, <c>cdcaggregate</c>, <c>cdcrule</c>, <c>cdcposition</c>) are
    /// read into <see cref="Kind"/>, <see cref="Target"/>, <see cref="Aggregate"/>, <see cref="Rule"/> and <see cref="Position"/>.</remarks>
    /// <exception cref="FormatException">The text is not a JSON object, <c>id</c> or <c>type</c> is missing or empty, <c>time</c>
    /// is not a timestamp, <c>cdcposition</c> is not <c>{stream}@{major}:{minor}</c>, or the data is binary (<c>data_base64</c>: this type
    /// carries JSON data only): the one exception a malformed event raises, so a service can dead-letter on it.</exception>
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

            var id = RequireId(String(root, "id"));
            var type = RequireType(String(root, "type"), id);
            if (root.TryGetProperty("data_base64", out var base64) && base64.ValueKind != JsonValueKind.Null)
            {
                // Read as an event without data, a handler would apply it as one: its data would be gone without a word.
                throw new FormatException(
                    $"the CloudEvents event '{id}' ({type}) has binary data (data_base64) of content type '{String(root, "datacontenttype") ?? "(none)"}', not JSON: "
                    + "ConsumedEvent carries JSON data only (the pipeline's events have JSON data); read this event's data_base64 yourself, or dead-letter it");
            }

            var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
            return new ConsumedEvent(id, type, data, String(root, "source"), String(root, "subject"), ParseTime(Checked(root, "time", id, type), id, type))
            {
                Kind = String(root, "cdckind"),
                Target = String(root, "cdctarget"),
                Aggregate = String(root, "cdcaggregate"),
                Rule = String(root, "cdcrule"),
                Position = ParsePosition(Checked(root, "cdcposition", id, type), id, type),
                Extensions = JsonExtensions(root),
            };
        }
    }

    /// <summary>The members of a JSON event that are its own extension attributes: strings, numbers and booleans, the kinds an
    /// extension's value takes in the JSON format (null is an absent attribute; an object or array is no attribute's value).</summary>
    private static IReadOnlyDictionary<string, string> JsonExtensions(JsonElement root)
    {
        Dictionary<string, string>? extensions = null;
        foreach (var member in root.EnumerateObject())
        {
            if (NotExtensions.Contains(member.Name))
            {
                continue;
            }

            string? text = member.Value.ValueKind switch
            {
                JsonValueKind.String => member.Value.GetString(),
                JsonValueKind.Number => member.Value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => null,
            };
            if (text is not null)
            {
                (extensions ??= new Dictionary<string, string>(StringComparer.Ordinal))[member.Name] = text;
            }
        }

        return extensions ?? (IReadOnlyDictionary<string, string>)ReadOnlyDictionary<string, string>.Empty;
    }

    /// <summary>
    /// Reads a binary-mode CloudEvent: the attributes as the message's headers, the data as its body. The headers are those of
    /// any of the pipeline's transports, recognised by their prefix: Kafka's <c>ce_*</c> headers, RabbitMQ's <c>cloudEvents:*</c>
    /// application properties (or <c>cloudEvents_*</c>), a webhook's <c>ce-*</c> HTTP headers (any case, percent-decoded as the
    /// HTTP binding encodes them). Other headers are ignored, so a transport's whole header collection can be passed.
    /// </summary>
    /// <param name="headers">The message's headers as text, e.g. a webhook request's (one value per name).</param>
    /// <param name="data">The body: the event's <c>data</c> as JSON (empty: the event has none). For a Kafka <c>format: avro</c>
    /// record, the record's <c>data</c> field as UTF-8.</param>
    /// <param name="contentType">The message's content type when it is not among <paramref name="headers"/> (RabbitMQ's
    /// <c>content-type</c> property); Kafka's <c>content-type</c> header is read from <paramref name="headers"/>. When it is
    /// <c>application/cloudevents+json</c>, the message is in structured mode: <paramref name="data"/> is the whole event and is
    /// read as <see cref="FromCloudEventJson"/> reads it (the attributes in the headers repeat it).</param>
    /// <remarks>The pipeline's extensions are read as <see cref="FromCloudEventJson"/> reads them; a service may pass every message
    /// its transport delivers, in either mode.</remarks>
    /// <exception cref="FormatException">No header carries a CloudEvents attribute, headers of two bindings are mixed, an attribute
    /// comes twice with different values, <c>id</c> or <c>type</c> is missing or empty, <c>time</c> is not a timestamp,
    /// <c>cdcposition</c> is not <c>{stream}@{major}:{minor}</c>, or the data is not JSON or of a content type that is not JSON
    /// (<c>application/json</c>, <c>text/json</c>, <c>…+json</c>; none named reads as JSON): as <see cref="FromCloudEventJson"/>, the
    /// one exception a malformed event raises.</exception>
    public static ConsumedEvent FromCloudEventBinary(IEnumerable<KeyValuePair<string, string>> headers, ReadOnlyMemory<byte> data, string? contentType = null) =>
        FromBinary(headers, data, contentType, static (attributes, name, value) => attributes.Add(name, value));

    /// <summary>Reads a binary-mode CloudEvent whose header values are UTF-8 bytes, e.g. a Kafka record's
    /// (<c>record.Message.Headers.Select(h =&gt; KeyValuePair.Create(h.Key, h.GetValueBytes()))</c>); see
    /// <see cref="FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/>.</summary>
    /// <exception cref="FormatException">As the text form, or a CloudEvents header is not UTF-8.</exception>
    public static ConsumedEvent FromCloudEventBinary(IEnumerable<KeyValuePair<string, byte[]>> headers, ReadOnlyMemory<byte> data, string? contentType = null) =>
        FromBinary(headers, data, contentType, static (attributes, name, value) => attributes.Add(name, value));

    /// <summary>Reads a binary-mode CloudEvent from AMQP application properties as RabbitMQ.Client delivers them
    /// (<c>BasicProperties.Headers</c>, text as UTF-8 bytes; pass <c>BasicProperties.ContentType</c> as
    /// <paramref name="contentType"/>); see
    /// <see cref="FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/>.</summary>
    /// <remarks>As the CloudEvents AMQP binding allows, another producer may send an attribute as its typed AMQP value: <c>time</c>
    /// as an AMQP timestamp (RabbitMQ.Client's <c>AmqpTimestamp</c>, whole seconds; a <see cref="DateTime"/> or
    /// <see cref="DateTimeOffset"/>), an extension as an integer, a boolean, a timestamp or a binary (<c>BinaryTableValue</c>). Each
    /// reads as its canonical string, as a text property would carry it: decimal digits, <c>true</c>/<c>false</c>, RFC 3339 in UTC,
    /// Base64.</remarks>
    /// <exception cref="FormatException">As the text form; a CloudEvents property is bytes that are not UTF-8; or it is a typed value
    /// its attribute has no such form of: <c>id</c>, <c>type</c>, <c>source</c>, <c>subject</c>, <c>specversion</c> are strings only,
    /// <c>time</c> a timestamp or a string, and no attribute is a fraction, a map or a list.</exception>
    public static ConsumedEvent FromCloudEventBinary(IEnumerable<KeyValuePair<string, object?>> headers, ReadOnlyMemory<byte> data, string? contentType = null) =>
        FromBinary(headers, data, contentType, static (attributes, name, value) => attributes.Add(name, value));

    /// <summary>The three header forms' one reading: each header given to <see cref="BinaryAttributes"/> as its form is decoded.</summary>
    private static ConsumedEvent FromBinary<T>(IEnumerable<KeyValuePair<string, T>> headers, ReadOnlyMemory<byte> data, string? contentType, Action<BinaryAttributes, string, T> add)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var attributes = new BinaryAttributes();
        foreach (var (name, value) in headers)
        {
            add(attributes, name, value);
        }

        return attributes.Read(data, contentType);
    }

    /// <summary>An event of binary mode: its attributes by name (without the binding's prefix), its data the body, of
    /// <paramref name="contentType"/> (the message's; null: none named, read as JSON, as the pipeline's sinks send it).</summary>
    internal static ConsumedEvent FromAttributes(IReadOnlyDictionary<string, string> attributes, ReadOnlyMemory<byte> body, string? contentType)
    {
        var id = RequireId(attributes.GetValueOrDefault("id"));
        var type = RequireType(attributes.GetValueOrDefault("type"), id);
        JsonElement data = default;
        if (!body.IsEmpty)
        {
            if (!string.IsNullOrWhiteSpace(contentType) && !IsJson(contentType))
            {
                // Bytes of another type may parse as JSON all the same ("12345", "true"), and would be read as that value.
                throw new FormatException(
                    $"the CloudEvents event '{id}' ({type}) has data of content type '{contentType}', not JSON: ConsumedEvent carries JSON data only "
                    + "(the pipeline's events have JSON data); read this message's body yourself, or dead-letter it");
            }

            try
            {
                using var document = JsonDocument.Parse(body);
                data = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new FormatException($"the CloudEvents event '{id}' ({type}) has data that is not JSON: {e.Message}", e);
            }
        }

        return new ConsumedEvent(id, type, data, attributes.GetValueOrDefault("source"), attributes.GetValueOrDefault("subject"), ParseTime(attributes.GetValueOrDefault("time"), id, type))
        {
            Kind = attributes.GetValueOrDefault("cdckind"),
            Target = attributes.GetValueOrDefault("cdctarget"),
            Aggregate = attributes.GetValueOrDefault("cdcaggregate"),
            Rule = attributes.GetValueOrDefault("cdcrule"),
            Position = ParsePosition(attributes.GetValueOrDefault("cdcposition"), id, type),
            Extensions = BinaryExtensions(attributes),
        };
    }

    /// <summary>The event's own extension attributes among a binary-mode message's, named in lower case as CloudEvents names
    /// them: an HTTP header's name may have been re-cased on its way (<c>Ce-Tenant</c>).</summary>
    private static IReadOnlyDictionary<string, string> BinaryExtensions(IReadOnlyDictionary<string, string> attributes)
    {
        Dictionary<string, string>? extensions = null;
        foreach (var (name, value) in attributes)
        {
            if (!NotExtensions.Contains(name))
            {
                (extensions ??= new Dictionary<string, string>(StringComparer.Ordinal))[name.ToLowerInvariant()] = value;
            }
        }

        return extensions ?? (IReadOnlyDictionary<string, string>)ReadOnlyDictionary<string, string>.Empty;
    }

    /// <summary>
    /// Whether data of <paramref name="contentType"/> is JSON: <c>application/json</c>, <c>text/json</c> or a <c>+json</c> suffix
    /// (RFC 6839), with or without parameters. Also <c>application/avro</c>: the content type of the pipeline's Kafka
    /// <c>format: avro</c> record, whose <c>data</c> field (what a service passes as the body) is JSON text.
    /// </summary>
    private static bool IsJson(string contentType)
    {
        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        var mediaType = (semicolon < 0 ? contentType : contentType[..semicolon]).Trim();
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("text/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("application/avro", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The CloudEvents <c>id</c>, which must be a non-empty string (CloudEvents 1.0); an empty one is as missing (the
    /// constructor would throw <see cref="ArgumentException"/>, which a service dead-lettering on <see cref="FormatException"/> would not catch).</summary>
    private static string RequireId(string? id) => id is { Length: > 0 } ? id
        : throw new FormatException("the CloudEvents event has no 'id' (or an empty one): without it, duplicates cannot be recognised");

    private static string RequireType(string? type, string id) => type is { Length: > 0 } ? type
        : throw new FormatException($"the CloudEvents event '{id}' has no 'type' (or an empty one)");

    /// <summary>
    /// The <c>time</c> attribute, an RFC 3339 timestamp: date, time and offset (<c>Z</c> or <c>±hh:mm</c>). .NET would also read
    /// one without an offset, taking the zone of the machine reading it, and other cultures' dates: such a text is refused.
    /// </summary>
    private static DateTimeOffset? ParseTime(string? time, string id, string type) =>
        time is null ? null
        : Rfc3339().IsMatch(time) && DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var parsed) ? parsed
        : throw new FormatException($"the CloudEvents event '{id}' ({type}) has a 'time' that is not an RFC 3339 timestamp: '{time}'");

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339();

    private static CdcPosition? ParsePosition(string? position, string id, string type) =>
        position is null ? null
        : CdcPosition.TryParse(position, out var parsed) ? parsed
        : throw new FormatException($"the CloudEvents event '{id}' ({type}) has a 'cdcposition' that is not {{stream}}@{{major}}:{{minor}}: '{position}'");

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
