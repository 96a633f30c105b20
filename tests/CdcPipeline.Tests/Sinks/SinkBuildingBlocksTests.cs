using System.Text;
using CdcPipeline.Consumer;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Failures;
using CdcPipeline.Sinks.Routing;
using CdcPipeline.Sinks.Webhook;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Sinks;

public class SinkBuildingBlocksTests
{
    private static DomainEvent Event(long i, string key, string status)
    {
        var output = new List<DomainEvent>();
        new StatusTranslator().Translate(InMemoryChangeSource.Change(i, key, status), output);
        return output[0];
    }

    [Theory]
    [InlineData("{type}", "StatusPAID")]
    [InlineData("domain:{type}:{subject}", "domain:StatusPAID:K1")]
    [InlineData("fixed", "fixed")]
    [InlineData("{sink}.{aggregateType}", "s.")]
    public void Templates_render_per_event(string text, string expected)
    {
        Assert.True(EventTemplate.TryParse(text, "s", out var template, out var error), error);
        Assert.Equal(expected, template.Render(Event(1, "K1", "PAID")));
    }

    [Fact]
    public void The_signature_is_hmac_sha256_over_timestamp_dot_body_in_lower_case_hex()
    {
        // reference value computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        var body = Encoding.UTF8.GetBytes("{\"a\":1}");
        var signature = WebhookSignature.Compute("secret", 1_700_000_000, body);
        Assert.Equal("sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686", signature);
        // The formula alone: a timestamp of 2023 is far outside the receiver's default tolerance of its clock.
        var anyTime = TimeSpan.MaxValue;
        Assert.True(WebhookSignature.Verify("secret", "1700000000", signature, body, tolerance: anyTime));
        Assert.False(WebhookSignature.Verify("secret", "1700000000", signature, body));
        Assert.False(WebhookSignature.Verify("secret", "1700000001", signature, body, tolerance: anyTime));
        Assert.False(WebhookSignature.Verify("secret", "1700000000", signature, Encoding.UTF8.GetBytes("{\"a\":2}"), tolerance: anyTime));
    }

    [Fact]
    public void A_stored_domain_event_is_written_again_byte_for_byte()
    {
        var original = Event(42, "K7", "PAID") is var e ? new DomainEvent { Id = e.Id, Type = e.Type, Source = e.Source, Subject = e.Subject, Time = new DateTimeOffset(2026, 11, 25, 8, 0, 0, TimeSpan.Zero), Data = e.Data, Position = e.Position, Change = e.Change } : null!;
        var stored = EventJson.Serialize(original);

        var restored = StoredEvent.Read(stored, original.Id, original.Type, original.Position);

        Assert.Equal(stored, EventJson.Serialize(restored));
        Assert.Equal(original.Position, restored.Position);
    }

    [Fact]
    public void A_stored_raw_change_is_written_again_byte_for_byte()
    {
        var change = InMemoryChangeSource.Change(5, "K5", "S");
        var raw = new DomainEvent { Id = "r1", Type = DomainEvent.RawChangeType, Source = "/t", Position = change.Position, Change = change };
        var stored = EventJson.Serialize(raw);

        var restored = StoredEvent.Read(stored, "r1", DomainEvent.RawChangeType, change.Position);

        Assert.True(restored.IsRawChange);
        Assert.Equal(stored, EventJson.Serialize(restored));
    }
}
