using CdcPipeline.Consumer;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>
/// Parsing what a transport delivers. A service dead-letters what cannot be an event by catching the one exception
/// <see cref="ConsumedEvent.FromCloudEventJson"/> documents, so every malformed event must arrive as that exception.
/// </summary>
public sealed class ConsumedEventTests
{
    [Theory]
    [InlineData("""{"specversion":"1.0","id":"","type":"OrderPlaced","source":"/legacy"}""", "'id'")]
    [InlineData("""{"specversion":"1.0","id":"evt-1","type":"","source":"/legacy"}""", "evt-1")]
    [InlineData("""{"specversion":"1.0","id":"evt-2","type":"OrderPlaced","time":"yesterday"}""", "evt-2")]
    public void A_malformed_event_is_refused_with_a_format_exception_naming_what_is_wrong(string json, string named)
    {
        var e = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventJson(json));

        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_event_reads_its_attributes_and_keeps_its_data_after_the_document_is_gone()
    {
        var evt = ConsumedEvent.FromCloudEventJson(
            """{"specversion":"1.0","id":"evt-3","type":"OrderShipped","source":"/legacy","subject":"1001","time":"2026-01-02T03:04:05.5+02:00","data":{"orderId":"1001"}}""");

        Assert.Equal(("evt-3", "OrderShipped", "/legacy", "1001"), (evt.Id, evt.Type, evt.Source, evt.Subject));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, 500, TimeSpan.FromHours(2)), evt.Time);
        Assert.Equal("1001", evt.Data.GetProperty("orderId").GetString());
    }
}
