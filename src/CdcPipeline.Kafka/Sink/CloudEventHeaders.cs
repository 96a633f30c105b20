using System.Text;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using Confluent.Kafka;

namespace CdcPipeline.Kafka.Sink;

/// <summary>
/// CloudEvents attributes as Kafka headers, per the CloudEvents Kafka protocol binding (<c>ce_</c>
/// prefix, UTF-8 values). The value stays the structured event as well, so a consumer may use either.
/// </summary>
public static class CloudEventHeaders
{
    public const string JsonContentType = "application/cloudevents+json; charset=UTF-8";
    public const string AvroContentType = "application/avro";

    private static readonly byte[] SpecVersion = "1.0"u8.ToArray();

    // Most attributes repeat from event to event (a rule's type, a table's source, the content type, the rule id), and every
    // event carries nine or ten headers: their UTF-8 values are kept per thread and shared between messages instead of being
    // encoded again for each. librdkafka copies a header's bytes when the message is produced; nothing writes into them.
    [ThreadStatic]
    private static Utf8Values? t_values;

    public static Headers For(DomainEvent e, string contentType)
    {
        var values = t_values ??= new Utf8Values();
        var headers = new Headers
        {
            { "ce_specversion", SpecVersion },
            { "ce_id", Encoding.UTF8.GetBytes(e.Id) },
            { "ce_type", values.Type.Of(e.Type) },
            { "ce_source", values.Source.Of(e.Source) },
        };
        if (e.Subject is { Length: > 0 } subject) // CloudEvents: a subject is never empty (see CloudEventJson.Write)
        {
            headers.Add("ce_subject", Encoding.UTF8.GetBytes(subject));
        }

        if (e.Time is { } time)
        {
            Span<char> text = stackalloc char[CloudEventJson.TimeLength];
            var length = CloudEventJson.FormatTime(time, text);
            var bytes = new byte[length]; // ASCII: one byte per character
            Encoding.UTF8.GetBytes(text[..length], bytes);
            headers.Add("ce_time", bytes);
        }

        // Every extension attribute of the structured form (cdckind, cdcposition, …, the event's own): a consumer reading the
        // headers (binary mode: raw changes, Avro values) gets the same event as one reading the JSON value.
        foreach (var (name, value) in CloudEventJson.ExtensionAttributes(e))
        {
            switch (name)
            {
                case "cdckind":
                    headers.Add("ce_cdckind", values.Kind.Of(value));
                    break;
                case "cdctarget":
                    headers.Add("ce_cdctarget", values.Target.Of(value));
                    break;
                case "cdcaggregate":
                    headers.Add("ce_cdcaggregate", values.Aggregate.Of(value));
                    break;
                case "cdcrule":
                    headers.Add("ce_cdcrule", values.Rule.Of(value));
                    break;
                case "cdcposition":
                    headers.Add("ce_cdcposition", Encoding.UTF8.GetBytes(value));
                    break;
                default:
                    headers.Add("ce_" + name, Encoding.UTF8.GetBytes(value));
                    break;
            }
        }

        headers.Add("content-type", values.ContentType.Of(contentType));
        return headers;
    }

    private sealed class Utf8Values
    {
        public readonly Utf8Value Type = new(), Source = new(), Kind = new(), Target = new(), Aggregate = new(), Rule = new(), ContentType = new();
    }

    /// <summary>The UTF-8 of the text this attribute had last (on this thread).</summary>
    private sealed class Utf8Value
    {
        private string? _text;
        private byte[] _bytes = [];

        public byte[] Of(string text)
        {
            if (!string.Equals(text, _text, StringComparison.Ordinal))
            {
                _bytes = Encoding.UTF8.GetBytes(text);
                _text = text;
            }

            return _bytes;
        }
    }
}
