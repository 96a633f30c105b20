using System.Buffers;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using static CdcPipeline.Tests.Translation.TestChanges;

namespace CdcPipeline.Tests.Translation;

public class CloudEventJsonTests
{
    private static DomainEvent Event(DomainEventKind kind = DomainEventKind.Event, string? target = null, IReadOnlyDictionary<string, string>? extensions = null)
    {
        var change = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), commitLsn: 99, index: 1);
        return new DomainEvent
        {
            Id = EventIds.For(change.Position, "orders#OrderPlaced"),
            Type = "OrderPlaced",
            Source = "/cdcpipeline/legacy-orders/public.tb_ord_mst",
            Subject = "1000001",
            AggregateType = "Order",
            Time = new UtcTimestamp(1_704_189_600_123_456).ToDateTimeOffset(),
            Kind = kind,
            Target = target,
            Data = Row.From(("orderId", new ExactDecimal(1000001, 0)), ("total", Dec("149.90")), ("orderedOn", new Date(19724)), ("note", null)),
            RuleId = "orders#OrderPlaced",
            Position = change.Position,
            Change = change,
            Extensions = extensions,
        };
    }

    [Fact]
    public void A_domain_event_is_structured_cloudevents_json_with_canonical_data()
    {
        var e = Event();
        var json = EventJson.Serialize(e);
        var root = JsonDocument.Parse(json).RootElement;

        Assert.DoesNotContain('\n', json);
        Assert.Equal("1.0", root.GetProperty("specversion").GetString());
        Assert.Equal(e.Id, root.GetProperty("id").GetString());
        Assert.Equal("/cdcpipeline/legacy-orders/public.tb_ord_mst", root.GetProperty("source").GetString());
        Assert.Equal("OrderPlaced", root.GetProperty("type").GetString());
        Assert.Equal("1000001", root.GetProperty("subject").GetString());
        Assert.Equal("2024-01-02T10:00:00.123456Z", root.GetProperty("time").GetString());
        Assert.Equal("application/json", root.GetProperty("datacontenttype").GetString());
        Assert.Equal("event", root.GetProperty("cdckind").GetString());
        Assert.Equal("Order", root.GetProperty("cdcaggregate").GetString());
        Assert.Equal("orders#OrderPlaced", root.GetProperty("cdcrule").GetString());
        Assert.Equal("cdc_slot@99:1", root.GetProperty("cdcposition").GetString());
        Assert.False(root.TryGetProperty("cdctarget", out _));
        Assert.Equal("""{"orderId":"1000001","total":"149.90","orderedOn":"2024-01-02","note":null}""", root.GetProperty("data").GetRawText());

        foreach (var attribute in root.EnumerateObject())
        {
            Assert.Matches("^[a-z0-9]+$", attribute.Name);
        }
    }

    [Fact]
    public void A_command_carries_kind_and_target_and_extensions_are_checked()
    {
        var json = EventJson.Serialize(Event(DomainEventKind.Command, "warehouse", new Dictionary<string, string> { ["traceparent"] = "00-ab-cd-01" }));
        var root = JsonDocument.Parse(json).RootElement;
        Assert.Equal("command", root.GetProperty("cdckind").GetString());
        Assert.Equal("warehouse", root.GetProperty("cdctarget").GetString());
        Assert.Equal("00-ab-cd-01", root.GetProperty("traceparent").GetString());

        Assert.Throws<ArgumentException>(() => EventJson.Serialize(Event(extensions: new Dictionary<string, string> { ["Trace-Id"] = "x" })));
        Assert.Throws<ArgumentException>(() => EventJson.Serialize(Event(extensions: new Dictionary<string, string> { ["subject"] = "x" })));
    }

    [Fact]
    public void A_raw_change_is_written_in_the_canonical_change_form()
    {
        var change = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), key: Row.From(("ord_no", new ExactDecimal(1000001, 0))));
        var raw = new List<DomainEvent>();
        new PassthroughTranslator("legacy-orders").Translate(change, raw);

        Assert.Equal(CanonicalJson.Serialize(change), EventJson.Serialize(Assert.Single(raw)));
    }

    [Fact]
    public void Writing_to_a_buffer_appends_and_reuses_the_writer()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var e = Event();
        EventJson.Write(buffer, e);
        buffer.Write("\n"u8);
        EventJson.Write(buffer, e);

        var lines = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal(lines[0], lines[1]);
        Assert.Equal(EventJson.Serialize(e), lines[0]);
        Assert.Equal(EventJson.SerializeToUtf8(e), System.Text.Encoding.UTF8.GetBytes(lines[0]));
    }

    /// <summary>
    /// The time attribute is formatted digit by digit now (JSON, Kafka headers, Avro, HTTP and AMQP attributes); its text must
    /// stay what the format string <c>yyyy-MM-ddTHH:mm:ss.ffffffZ</c> made: UTC, ticks below the microsecond cut off (also
    /// before 1970, where dividing ticks relative to the epoch would round them up instead), four-digit years.
    /// </summary>
    [Fact]
    public void The_time_attribute_is_the_utc_instant_to_the_microsecond_in_every_form()
    {
        var times = new List<DateTimeOffset>
        {
            DateTimeOffset.MinValue,
            DateTimeOffset.MaxValue,
            DateTimeOffset.UnixEpoch,
            DateTimeOffset.UnixEpoch.AddTicks(-1),
            DateTimeOffset.UnixEpoch.AddTicks(-11),
            DateTimeOffset.UnixEpoch.AddTicks(9),
            new(1969, 12, 31, 23, 59, 59, TimeSpan.Zero),
            new DateTimeOffset(0999, 3, 4, 5, 6, 7, TimeSpan.Zero).AddTicks(1_234_567),
            new DateTimeOffset(2024, 1, 2, 10, 0, 0, TimeSpan.FromHours(5.5)).AddTicks(1_234_567),
        };
        var random = new Random(4711);
        for (var i = 0; i < 2_000; i++)
        {
            times.Add(new DateTimeOffset(random.NextInt64(DateTimeOffset.MinValue.Ticks, DateTimeOffset.MaxValue.Ticks), TimeSpan.Zero)
                .ToOffset(TimeSpan.FromMinutes(random.Next(-14 * 60, 14 * 60))));
        }

        var change = Change(ChangeOperation.Create, "orders", after: Order("P"), commitLsn: 99, index: 1);
        foreach (var time in times)
        {
            var expected = time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(expected, CloudEventJson.FormatTime(time));
            var e = new DomainEvent { Id = "x", Type = "T", Source = "/s", Time = time, Position = change.Position, Change = change };
            Assert.Equal(expected, JsonDocument.Parse(EventJson.Serialize(e)).RootElement.GetProperty("time").GetString());
        }
    }
}
