using System.Globalization;
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

    public static Headers For(DomainEvent e, string contentType)
    {
        var headers = new Headers
        {
            { "ce_specversion", "1.0"u8.ToArray() },
            { "ce_id", Encoding.UTF8.GetBytes(e.Id) },
            { "ce_type", Encoding.UTF8.GetBytes(e.Type) },
            { "ce_source", Encoding.UTF8.GetBytes(e.Source) },
        };
        if (e.Subject is { Length: > 0 } subject) // CloudEvents: a subject is never empty (see CloudEventJson.Write)
        {
            headers.Add("ce_subject", Encoding.UTF8.GetBytes(subject));
        }

        if (e.Time is { } time)
        {
            headers.Add("ce_time", Encoding.UTF8.GetBytes(time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.ffffff'Z'", CultureInfo.InvariantCulture)));
        }

        // Every extension attribute of the structured form (cdckind, cdcposition, …, the event's own): a consumer reading the
        // headers (binary mode: raw changes, Avro values) gets the same event as one reading the JSON value.
        foreach (var (name, value) in CloudEventJson.ExtensionAttributes(e))
        {
            headers.Add("ce_" + name, Encoding.UTF8.GetBytes(value));
        }

        headers.Add("content-type", Encoding.UTF8.GetBytes(contentType));
        return headers;
    }
}
