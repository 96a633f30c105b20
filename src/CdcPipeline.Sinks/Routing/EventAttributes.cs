using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Sinks.Routing;

/// <summary>
/// The CloudEvents attributes of an event as name/value pairs — what the binary HTTP binding sends as
/// <c>ce-*</c> headers and the AMQP binding as <c>cloudEvents:*</c> application properties: the context
/// attributes (but <c>datacontenttype</c>, which is the content type) and every extension attribute
/// (<see cref="CloudEventJson.ExtensionAttributes"/>).
/// </summary>
public static class EventAttributes
{
    public static IEnumerable<KeyValuePair<string, string>> Of(DomainEvent e)
    {
        yield return new("specversion", "1.0");
        yield return new("id", e.Id);
        yield return new("source", e.Source);
        yield return new("type", e.Type);
        if (e.Subject is { Length: > 0 } subject) // CloudEvents: a subject is never empty (see CloudEventJson.Write)
        {
            yield return new("subject", subject);
        }

        if (e.Time is { } time)
        {
            yield return new("time", FormatTime(time));
        }

        // Every extension attribute of the structured form (cdckind, cdcposition, …, the event's own): an event sent in
        // binary mode must be the same event a consumer would read from the structured JSON.
        foreach (var attribute in CloudEventJson.ExtensionAttributes(e))
        {
            yield return attribute;
        }
    }

    public static string FormatTime(DateTimeOffset time) => CloudEventJson.FormatTime(time);
}
