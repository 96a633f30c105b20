using System.Text.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Core.Json;

/// <summary>
/// CloudEvents 1.0 structured-mode JSON of a domain event. <c>data</c> is the payload in its canonical
/// rendering (<see cref="CanonicalJson.WriteValue"/>), so a decimal keeps its digits and scale. Routing
/// facts travel as extension attributes, whose names the spec restricts to lower-case letters and digits:
/// <c>cdckind</c> (event | command), <c>cdctarget</c>, <c>cdcaggregate</c>, <c>cdcrule</c>, <c>cdcposition</c>.
/// </summary>
public static class CloudEventJson
{
    public const string SpecVersion = "1.0";
    public const string ContentType = "application/json";

    private static readonly HashSet<string> ContextAttributes = new(StringComparer.Ordinal)
    {
        "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64",
        "cdckind", "cdctarget", "cdcaggregate", "cdcrule", "cdcposition",
    };

    /// <summary>
    /// Whether <paramref name="name"/> is a CloudEvents context attribute (<c>id</c>, <c>type</c>, <c>time</c>, …) or one of
    /// the routing extensions this pipeline sets itself (<c>cdckind</c>, …): names an event's own extension attributes may not take.
    /// </summary>
    public static bool IsReservedAttribute(string name) => ContextAttributes.Contains(name);

    public static void Write(Utf8JsonWriter writer, DomainEvent e)
    {
        writer.WriteStartObject();
        writer.WriteString("specversion"u8, SpecVersion);
        writer.WriteString("id"u8, e.Id);
        writer.WriteString("source"u8, e.Source);
        writer.WriteString("type"u8, e.Type);
        // CloudEvents: subject, if present, MUST be a non-empty string. An empty key (a blank CHAR, '') stays the Kafka key,
        // so its events keep their partition and order, but is no subject.
        if (!string.IsNullOrEmpty(e.Subject))
        {
            writer.WriteString("subject"u8, e.Subject);
        }

        if (e.Time is { } time)
        {
            WriteTime(writer, time);
        }

        writer.WriteString("datacontenttype"u8, ContentType);
        foreach (var (name, value) in ExtensionAttributes(e))
        {
            writer.WriteString(name, value);
        }

        if (e.Data is not null)
        {
            writer.WritePropertyName("data"u8);
            CanonicalJson.WriteValue(writer, e.Data);
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// The extension attributes <see cref="Write"/> puts beside the context attributes, in this order: the
    /// routing facts (<c>cdckind</c>, <c>cdctarget</c>, <c>cdcaggregate</c>, <c>cdcrule</c>, <c>cdcposition</c>) and
    /// the event's own <see cref="DomainEvent.Extensions"/>. For formats that carry them apart (Avro).
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> ExtensionAttributes(DomainEvent e)
    {
        yield return new("cdckind", e.Kind == DomainEventKind.Command ? "command" : "event");
        if (e.Target is not null)
        {
            yield return new("cdctarget", e.Target);
        }

        if (e.AggregateType is not null)
        {
            yield return new("cdcaggregate", e.AggregateType);
        }

        if (e.RuleId is not null)
        {
            yield return new("cdcrule", e.RuleId);
        }

        yield return new("cdcposition", e.Position.ToString());
        if (e.Extensions is { } extensions)
        {
            foreach (var (name, value) in extensions)
            {
                CheckExtensionName(name);
                yield return new(name, value);
            }
        }
    }

    /// <summary>
    /// Throws when the event carries an extension attribute no CloudEvents form can hold (an upper-case or empty name, a
    /// reserved one). The runner checks every event a translator makes, so such an event is a translation failure (dead
    /// lettered, the pipeline moves on) rather than an error every sink would meet, retry and, retrying forever, stall on.
    /// </summary>
    /// <exception cref="RuleEvaluationException">An extension attribute's name no CloudEvents form can hold.</exception>
    public static void CheckExtensions(DomainEvent e)
    {
        if (e.Extensions is { } extensions)
        {
            foreach (var name in extensions.Keys)
            {
                try
                {
                    CheckExtensionName(name);
                }
                catch (ArgumentException error)
                {
                    // The translator's verdict on this event, not a fault here: logged in one line, like a rule refusing a row.
                    throw new RuleEvaluationException(
                        $"event {e.Type} ({e.Id}){(e.RuleId is { } rule ? " of rule " + rule : "")}: {error.Message}; the translator that made it must name its extension attributes so, then redrive the change (dlq redrive --stage translate)")
                    {
                        RuleId = e.RuleId,
                    };
                }
            }
        }
    }

    /// <summary>RFC 3339 in UTC with microseconds (PostgreSQL's precision): <c>2024-01-02T10:00:00.000000Z</c>.</summary>
    private static void WriteTime(Utf8JsonWriter writer, DateTimeOffset time)
    {
        Span<char> text = stackalloc char[TimeLength];
        writer.WriteString("time"u8, text[..FormatTime(time, text)]);
    }

    /// <summary>The length of <see cref="FormatTime(DateTimeOffset)"/>'s text: <c>yyyy-MM-ddTHH:mm:ss.ffffffZ</c>.</summary>
    public const int TimeLength = 27;

    /// <summary>
    /// The <c>time</c> attribute's text in every form (JSON, headers, Avro): the UTC instant to the microsecond, ticks below it
    /// cut off (as <c>ffffff</c> would), e.g. <c>2024-01-02T10:00:00.123456Z</c>.
    /// </summary>
    public static string FormatTime(DateTimeOffset time)
    {
        Span<char> text = stackalloc char[TimeLength];
        return new string(text[..FormatTime(time, text)]);
    }

    /// <summary><see cref="FormatTime(DateTimeOffset)"/> into <paramref name="destination"/> (at least <see cref="TimeLength"/> long): digit by digit, as
    /// it runs for every event, where a custom DateTime format string is parsed again on each call.</summary>
    public static int FormatTime(DateTimeOffset time, Span<char> destination)
    {
        // UtcTicks are never negative: dividing cuts the sub-microsecond ticks off towards the past, as 'ffffff' does.
        var micros = (time.UtcTicks / 10) - (Changes.Micros.UnixEpochTicks / 10);
        Changes.Micros.TryFormatTimestamp(micros, utc: true, destination, out var written);
        return written;
    }

    private static void CheckExtensionName(string name)
    {
        if (name.Length == 0 || ContextAttributes.Contains(name))
        {
            throw new ArgumentException($"'{name}' cannot be a CloudEvents extension attribute: it is empty or a reserved attribute name");
        }

        foreach (var c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9')))
            {
                throw new ArgumentException($"CloudEvents extension attribute '{name}' must consist of lower-case letters a-z and digits only (CloudEvents 1.0, naming conventions)");
            }
        }
    }
}
