using System.Globalization;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Sinks.Routing;

/// <summary>
/// The CloudEvents context attributes of an event as name/value pairs — what the binary HTTP binding
/// sends as <c>ce-*</c> headers and the AMQP binding as <c>cloudEvents:*</c> application properties.
/// </summary>
public static class EventAttributes
{
    public static IEnumerable<KeyValuePair<string, string>> Of(DomainEvent e)
    {
        yield return new("specversion", "1.0");
        yield return new("id", e.Id);
        yield return new("source", e.Source);
        yield return new("type", e.Type);
        if (e.Subject is { } subject)
        {
            yield return new("subject", subject);
        }

        if (e.Time is { } time)
        {
            yield return new("time", FormatTime(time));
        }

        if (e.Extensions is { } extensions)
        {
            foreach (var (name, value) in extensions)
            {
                // CloudEvents extension names are lower-case alphanumerics; anything else cannot travel as a header.
                if (name.Length > 0 && name.All(char.IsAsciiLetterOrDigit))
                {
                    yield return new(name.ToLowerInvariant(), value);
                }
            }
        }
    }

    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.ffffff'Z'", CultureInfo.InvariantCulture);
}
