using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CdcPipeline.Consumer;

/// <summary>
/// The CloudEvents attributes among a binary-mode message's headers, collected one header at a time for
/// <see cref="ConsumedEvent.FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/>:
/// the protocol bindings' prefixes recognised, their values decoded as each binding encodes them.
/// </summary>
internal sealed class BinaryAttributes
{
    /// <summary>A protocol binding: the header prefix of its attributes and whether its values are percent-encoded.</summary>
    private sealed record Binding(string Prefix, string Name, bool PercentEncoded);

    // CloudEvents Kafka binding: ce_; AMQP: cloudEvents: (cloudEvents_ in its later revisions); HTTP: ce-, values
    // percent-encoded (3.1.3.2). Header names are matched ignoring case: HTTP's are case-insensitive, and a proxy or
    // framework may have re-cased them.
    private static readonly Binding Kafka = new("ce_", "Kafka ce_*", PercentEncoded: false);
    private static readonly Binding Amqp = new("cloudEvents:", "AMQP cloudEvents:*", PercentEncoded: false);
    private static readonly Binding AmqpUnderscore = new("cloudEvents_", "AMQP cloudEvents:*", PercentEncoded: false);
    private static readonly Binding Http = new("ce-", "HTTP ce-*", PercentEncoded: true);
    private static readonly Binding[] Bindings = [Kafka, Amqp, AmqpUnderscore, Http];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The CloudEvents 1.0 core attributes' types (datacontenttype is AMQP's content-type property, but may come as one too).</summary>
    private static readonly FrozenDictionary<string, string> CoreAttributeTypes = new Dictionary<string, string>
    {
        ["id"] = "String", ["source"] = "URI-reference", ["specversion"] = "String", ["type"] = "String",
        ["datacontenttype"] = "String", ["dataschema"] = "URI", ["subject"] = "String", ["time"] = "Timestamp",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private readonly Dictionary<string, string> _attributes = new(StringComparer.OrdinalIgnoreCase);
    private Binding? _binding;
    private string? _contentType;

    public void Add(string name, string? value)
    {
        if (value is null)
        {
            return;
        }

        if (Match(name) is { } binding)
        {
            Set(name[binding.Prefix.Length..], binding.PercentEncoded ? Uri.UnescapeDataString(value) : value);
        }
        else if (name.Equals("content-type", StringComparison.OrdinalIgnoreCase))
        {
            _contentType = value;
        }
    }

    public void Add(string name, byte[]? value)
    {
        // Only the headers read are decoded: others may hold anything.
        if (value is not null && (Match(name) is not null || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)))
        {
            Add(name, Utf8(name, value));
        }
    }

    public void Add(string name, object? value)
    {
        switch (value)
        {
            case string text:
                Add(name, text);
                break;
            case byte[] bytes:
                Add(name, bytes);
                break;
            case not null when Match(name) is { } binding:
                var attribute = name[binding.Prefix.Length..];
                Set(attribute, Canonical(name, attribute, value));
                break;
        }
    }

    /// <summary>The event the attributes and <paramref name="data"/> make (see <see cref="ConsumedEvent.FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/>).</summary>
    public ConsumedEvent Read(ReadOnlyMemory<byte> data, string? contentType)
    {
        // A structured-mode message (the sinks' default) carries the attributes as headers too, but its body is the whole
        // event: read as data, it would be an event whose data is itself.
        var messageType = contentType ?? _contentType;
        if (messageType is { } type && type.TrimStart().StartsWith("application/cloudevents+json", StringComparison.OrdinalIgnoreCase))
        {
            return ConsumedEvent.FromCloudEventJson(Encoding.UTF8.GetString(data.Span));
        }

        if (_binding is null)
        {
            throw new FormatException(
                "not a binary-mode CloudEvent: no header starts with ce_ (Kafka), cloudEvents: (AMQP) or ce- (HTTP); pass the message's headers, or read a structured-mode body with FromCloudEventJson");
        }

        // The bindings carry datacontenttype as the message's content type; a ce_datacontenttype header is read too.
        return ConsumedEvent.FromAttributes(_attributes, data, messageType ?? _attributes.GetValueOrDefault("datacontenttype"));
    }

    /// <summary>The binding whose prefix <paramref name="name"/> has; null for a header of none.</summary>
    private Binding? Match(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var binding in Bindings)
        {
            if (name.Length > binding.Prefix.Length && name.StartsWith(binding.Prefix, StringComparison.OrdinalIgnoreCase))
            {
                if (_binding is not null && _binding.Name != binding.Name)
                {
                    throw new FormatException(
                        $"the message mixes {_binding.Name} and {binding.Name} CloudEvents headers ('{name}'): one message carries the attributes of one protocol binding");
                }

                return _binding = binding;
            }
        }

        return null;
    }

    private void Set(string attribute, string value)
    {
        if (_attributes.TryGetValue(attribute, out var earlier) && !string.Equals(earlier, value, StringComparison.Ordinal))
        {
            throw new FormatException(
                $"the message carries the CloudEvents attribute '{attribute}' twice, as '{earlier}' and '{value}': which one is the event's cannot be told");
        }

        _attributes[attribute] = value;
    }

    /// <summary>
    /// The canonical string of a typed AMQP application property: the text a string property carries for the same value, so an
    /// event reads the same whichever form its producer chose.
    /// </summary>
    /// <remarks>
    /// CloudEvents AMQP protocol binding 1.0.2, 3.1.3.2 "AMQP Application Property Values"
    /// (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/amqp-protocol-binding.md#3132-amqp-application-property-values):
    /// a value is its type's AMQP form (Boolean: boolean; Integer: long; String, URI, URI-reference: string; Binary: binary;
    /// Timestamp: timestamp) or its canonical string, and a receiver must read both (it may accept numeric types other than
    /// long). The canonical strings are the CloudEvents 1.0.2 type system's: true/false, decimal digits, RFC 3339 in UTC, Base64.
    /// A header table's binary ('x') comes as RabbitMQ.Client's <c>BinaryTableValue</c>; its long string ('S') as bytes, read as
    /// UTF-8 text by <see cref="Add(string, byte[])"/>.
    /// </remarks>
    private static string Canonical(string name, string attribute, object value)
    {
        (string Amqp, string? Type, string? Text) typed;
        try
        {
            typed = Typed(value);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // Only a timestamp can be out of range: a service dead-letters on FormatException, the one exception a malformed event raises.
            throw new FormatException(
                $"the message's header '{name}' is an AMQP timestamp outside the years 1 to 9999 ({value}): no CloudEvents Timestamp (CloudEvents AMQP protocol binding 3.1.3.2)", e);
        }

        var (amqpType, type, text) = typed;
        // An extension's type is its producer's to declare (the pipeline's are Strings, yet a string property "42" reads as one
        // too): any typed form reads as its text. A core attribute takes only its own type's forms.
        var expected = CoreAttributeTypes.GetValueOrDefault(attribute);
        if (text is not null && (expected is null || expected == type))
        {
            return text;
        }

        var (what, sentAs) = expected switch
        {
            null => ("an extension", "an AMQP string, boolean, integer (byte to long), timestamp or binary"),
            "Timestamp" => ("a Timestamp", "an AMQP timestamp or an RFC 3339 string"),
            _ => ($"a {expected}", "an AMQP string"),
        };
        throw new FormatException(
            $"the message's header '{name}' is an AMQP {amqpType} ({value.GetType().Name}), but the CloudEvents attribute '{attribute}' is {what}, sent as {sentAs} (CloudEvents AMQP protocol binding 3.1.3.2)");
    }

    /// <summary><paramref name="value"/>'s AMQP type, and its CloudEvents type and canonical string when it has one (null when
    /// no CloudEvents type maps to it: a fraction, a map, a list).</summary>
    private static (string Amqp, string? Type, string? Text) Typed(object value) => value switch
    {
        bool b => ("boolean", "Boolean", b ? "true" : "false"),
        sbyte n => Integer("byte", n),
        byte n => Integer("ubyte", n),
        short n => Integer("short", n),
        ushort n => Integer("ushort", n),
        int n => Integer("int", n),
        uint n => Integer("uint", n),
        long n => Integer("long", n),
        ulong n => Integer("ulong", n),
        DateTimeOffset t => Timestamp(t),
        // An AMQP timestamp is UTC: a DateTime made of one without a kind is UTC too.
        DateTime t => Timestamp(new DateTimeOffset(t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t)),
        float => ("float", null, null),
        double => ("double", null, null),
        decimal => ("decimal", null, null),
        System.Collections.IDictionary => ("map", null, null),
        System.Collections.IList => ("list", null, null),
        _ when RabbitMq(value, "AmqpTimestamp", "UnixTime") is long seconds => Timestamp(DateTimeOffset.FromUnixTimeSeconds(seconds)),
        _ when RabbitMq(value, "BinaryTableValue", "Bytes") is byte[] bytes => ("binary", "Binary", Convert.ToBase64String(bytes)),
        _ => ("value", null, null),
    };

    // CloudEvents Integer is 32-bit, but a text property is not range-checked either: the digits of a wider value lose nothing.
    private static (string, string?, string?) Integer(string amqpType, IFormattable n) => (amqpType, "Integer", n.ToString(null, CultureInfo.InvariantCulture));

    private static (string, string?, string?) Timestamp(DateTimeOffset t) =>
        ("timestamp", "Timestamp", t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));

    /// <summary>A member of one of RabbitMQ.Client's header value types (<c>AmqpTimestamp.UnixTime</c>, a header table's timestamp in
    /// Unix seconds; <c>BinaryTableValue.Bytes</c>, its binary), read by name: this library does not depend on RabbitMQ.Client,
    /// which a service reading Kafka only would not want. Null for a value of another type.</summary>
    private static object? RabbitMq(object value, string typeName, string member) =>
        value.GetType() is { Namespace: "RabbitMQ.Client" } type && type.Name == typeName
            ? type.GetField(member)?.GetValue(value) ?? type.GetProperty(member)?.GetValue(value)
            : null;

    private static string Utf8(string name, byte[] value)
    {
        try
        {
            return StrictUtf8.GetString(value);
        }
        catch (DecoderFallbackException e)
        {
            throw new FormatException($"the message's header '{name}' is not UTF-8 text: {e.Message}", e);
        }
    }
}
