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
    [InlineData("""{"specversion":"1.0","id":"evt-3","type":"OrderPlaced","time":1767323045}""", "'time' that is a JSON number")]
    [InlineData("""{"specversion":"1.0","id":"evt-4","type":"OrderPlaced","cdcposition":42}""", "'cdcposition' that is a JSON number")]
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

    [Fact]
    public void An_event_exposes_the_pipeline_extension_attributes_with_its_position_typed()
    {
        var evt = ConsumedEvent.FromCloudEventJson(
            """{"specversion":"1.0","id":"evt-4","type":"ShipOrder","source":"/legacy","cdckind":"command","cdctarget":"warehouse","cdcaggregate":"Order","cdcrule":"tb_ord_mst#ShipOrder","cdcposition":"cdc_demo_slot@30821688:2","data":{}}""");

        Assert.Equal(("command", "warehouse", "Order", "tb_ord_mst#ShipOrder"), (evt.Kind, evt.Target, evt.Aggregate, evt.Rule));
        Assert.Equal(new CdcPosition("cdc_demo_slot", 30821688, 2), evt.Position);
        Assert.Equal("cdc_demo_slot@30821688:2", evt.Position.ToString());
    }

    [Fact]
    public void An_event_without_the_extensions_has_none()
    {
        var evt = ConsumedEvent.FromCloudEventJson("""{"specversion":"1.0","id":"evt-5","type":"OrderPlaced"}""");

        Assert.Equal((null, null, null, null, null), (evt.Kind, evt.Target, evt.Aggregate, evt.Rule, evt.Position));
    }

    [Theory]
    [InlineData("cdc_demo_slot@30821688")]
    [InlineData("@1:0")]
    [InlineData("cdc_demo_slot@x:0")]
    [InlineData("cdc_demo_slot@1:-1")]
    public void An_unreadable_position_is_refused_with_a_format_exception_naming_the_event(string position)
    {
        var e = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventJson(
            $$"""{"specversion":"1.0","id":"evt-6","type":"OrderPlaced","cdcposition":"{{position}}"}"""));

        Assert.Contains("evt-6", e.Message, StringComparison.Ordinal);
        Assert.Contains(position, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Positions_order_by_major_then_minor_as_numbers_within_one_stream()
    {
        // Kafka streams are topic/partition: a topic name may hold dots and dashes, never '@'.
        var a = CdcPosition.Parse("orders.v1-x/3@9:10");
        var b = CdcPosition.Parse("orders.v1-x/3@10:0");
        var c = CdcPosition.Parse("orders.v1-x/3@10:2");

        Assert.Equal(("orders.v1-x/3", 9L, 10L), (a.Stream, a.Major, a.Minor));
        Assert.True(a < b && b < c && c > a && a <= CdcPosition.Parse("orders.v1-x/3@9:10"));
        Assert.Equal([a, b, c], new[] { c, a, b }.Order());
        var other = CdcPosition.Parse("cdc_demo_slot@1:0");
        var e = Assert.Throws<InvalidOperationException>(() => a.CompareTo(other));
        Assert.Contains("cdc_demo_slot", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_service_reading_binary_mode_headers_sets_the_extensions_itself()
    {
        // Kafka ce_* headers, RabbitMQ cloudEvents:* properties, webhook ce-* headers: the service reads them and builds the event.
        using var data = System.Text.Json.JsonDocument.Parse("{}");
        var evt = new ConsumedEvent("evt-7", "OrderPlaced", data.RootElement.Clone())
        {
            Kind = "event",
            Aggregate = "Order",
            Rule = "tb_ord_mst#OrderPlaced",
            Position = CdcPosition.TryParse("cdc_demo_slot@5:1", out var p) ? p : null,
        };

        Assert.Equal(("event", "Order", "tb_ord_mst#OrderPlaced", new CdcPosition("cdc_demo_slot", 5, 1)), (evt.Kind, evt.Aggregate, evt.Rule, evt.Position));
        Assert.False(CdcPosition.TryParse("not a position", out _));
    }
}
