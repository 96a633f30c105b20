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
            case not null when Match(name) is not null:
                throw new FormatException(
                    $"the message's header '{name}' is of type {value.GetType().Name}, not text: a CloudEvents attribute is sent as a string (UTF-8 bytes)");
        }
    }

    /// <summary>The event the attributes and <paramref name="data"/> make (see <see cref="ConsumedEvent.FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/>).</summary>
    public ConsumedEvent Read(ReadOnlyMemory<byte> data, string? contentType)
    {
        // A structured-mode message (the sinks' default) carries the attributes as headers too, but its body is the whole
        // event: read as data, it would be an event whose data is itself.
        if ((contentType ?? _contentType) is { } type && type.TrimStart().StartsWith("application/cloudevents+json", StringComparison.OrdinalIgnoreCase))
        {
            return ConsumedEvent.FromCloudEventJson(Encoding.UTF8.GetString(data.Span));
        }

        if (_binding is null)
        {
            throw new FormatException(
                "not a binary-mode CloudEvent: no header starts with ce_ (Kafka), cloudEvents: (AMQP) or ce- (HTTP); pass the message's headers, or read a structured-mode body with FromCloudEventJson");
        }

        return ConsumedEvent.FromAttributes(_attributes.GetValueOrDefault, data);
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
