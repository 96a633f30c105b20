using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Sinks.Routing;
using static CdcPipeline.Tests.Translation.TestChanges;

namespace CdcPipeline.Tests.Sinks;

/// <summary>
/// The binary-mode bindings (Kafka <c>ce_</c> headers, HTTP <c>ce-</c> headers, AMQP <c>cloudEvents:</c> properties)
/// carry the same event as the structured JSON: every attribute but <c>data</c> and <c>datacontenttype</c>.
/// </summary>
public sealed class CloudEventBindingTests
{
    private static DomainEvent Event(string subject = "1000001")
    {
        var change = Change(ChangeOperation.Create, "outbox", after: Order("P"), commitLsn: 99, index: 1);
        return new DomainEvent
        {
            Id = EventIds.For(change.Position, "orders#OrderPlaced"),
            Type = "OrderPlaced",
            Source = "/cdcpipeline/legacy-orders/public.outbox",
            Subject = subject,
            AggregateType = "Order",
            Time = new UtcTimestamp(1_704_189_600_123_456).ToDateTimeOffset(),
            Kind = DomainEventKind.Command,
            Target = "billing",
            Data = Row.From(("orderId", 1000001L)),
            RuleId = "orders#OrderPlaced",
            Position = change.Position,
            Change = change,
            Extensions = new Dictionary<string, string> { ["tenant"] = "acme" },
        };
    }

    private static Dictionary<string, string> StructuredAttributes(DomainEvent e)
    {
        var root = JsonDocument.Parse(EventJson.Serialize(e)).RootElement;
        return root.EnumerateObject()
            .Where(p => p.Name is not "data" and not "datacontenttype")
            .ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
    }

    [Fact]
    public void Kafka_ce_headers_carry_every_attribute_of_the_structured_event()
    {
        var e = Event();
        var headers = CloudEventHeaders.For(e, CloudEventHeaders.AvroContentType);
        var ce = headers
            .Where(h => h.Key.StartsWith("ce_", StringComparison.Ordinal))
            .ToDictionary(h => h.Key["ce_".Length..], h => Encoding.UTF8.GetString(h.GetValueBytes()), StringComparer.Ordinal);

        Assert.Equal(StructuredAttributes(e).OrderBy(a => a.Key), ce.OrderBy(a => a.Key));
    }

    [Fact]
    public void Http_and_amqp_binary_attributes_are_every_attribute_of_the_structured_event()
    {
        var e = Event();
        var attributes = EventAttributes.Of(e).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);

        Assert.Equal(StructuredAttributes(e).OrderBy(a => a.Key), attributes.OrderBy(a => a.Key));
    }

    [Fact]
    public void An_empty_aggregate_key_is_no_subject_in_any_form()
    {
        // A blank CHAR key (or '') gives the subject "": CloudEvents requires a subject, if present, to be non-empty.
        var e = Event(subject: "");

        Assert.False(JsonDocument.Parse(EventJson.Serialize(e)).RootElement.TryGetProperty("subject", out _));
        Assert.DoesNotContain(CloudEventHeaders.For(e, CloudEventHeaders.JsonContentType), h => h.Key == "ce_subject");
        Assert.DoesNotContain(EventAttributes.Of(e), a => a.Key == "subject");
        Assert.Null(CloudEventAvro.ToRecord(e)["subject"]);
    }

    /// <summary>
    /// Header values that repeat (type, source, rule, aggregate, content type) are encoded once per thread and shared: a
    /// different event after them must still get its own values, in every header.
    /// </summary>
    [Fact]
    public void Consecutive_events_with_different_attributes_each_get_their_own_headers()
    {
        var first = Event();
        var change = Change(ChangeOperation.Update, "customers", after: Order("S"), commitLsn: 100, index: 2);
        var second = new DomainEvent
        {
            Id = EventIds.For(change.Position, "customers#CustomerMoved"),
            Type = "CustomerMoved",
            Source = "/cdcpipeline/legacy-orders/public.customers",
            Subject = "C1",
            AggregateType = "Customer",
            Time = new UtcTimestamp(1_704_189_600_999_999).ToDateTimeOffset(),
            Target = "crm",
            RuleId = "customers#CustomerMoved",
            Position = change.Position,
            Change = change,
        };

        foreach (var (e, contentType) in new[] { (first, CloudEventHeaders.AvroContentType), (second, CloudEventHeaders.JsonContentType), (first, CloudEventHeaders.JsonContentType) })
        {
            var headers = CloudEventHeaders.For(e, contentType);
            var ce = headers
                .Where(h => h.Key.StartsWith("ce_", StringComparison.Ordinal))
                .ToDictionary(h => h.Key["ce_".Length..], h => Encoding.UTF8.GetString(h.GetValueBytes()), StringComparer.Ordinal);
            Assert.Equal(StructuredAttributes(e).OrderBy(a => a.Key), ce.OrderBy(a => a.Key));
            Assert.Equal(contentType, Encoding.UTF8.GetString(headers.GetLastBytes("content-type")));
        }
    }
}
