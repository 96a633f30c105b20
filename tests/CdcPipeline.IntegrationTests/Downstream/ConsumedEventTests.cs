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
    // RFC 3339 requires the offset: without it, .NET takes the machine's zone, and the event's instant depends on where it is read.
    [InlineData("""{"specversion":"1.0","id":"evt-22","type":"OrderPlaced","time":"2026-01-02T03:04:05"}""", "'time' that is not an RFC 3339 timestamp: '2026-01-02T03:04:05'")]
    [InlineData("""{"specversion":"1.0","id":"evt-23","type":"OrderPlaced","time":"01/02/2026 03:04:05 +00:00"}""", "'time' that is not an RFC 3339 timestamp")]
    [InlineData("""{"specversion":"1.0","id":"evt-24","type":"OrderPlaced","time":"2026-01-02"}""", "'time' that is not an RFC 3339 timestamp")]
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
    public void An_event_exposes_its_own_extension_attributes_by_name_as_their_canonical_text()
    {
        // An outbox's additionalPlacement headers, or another producer's extensions (CloudEvents JSON allows strings, numbers
        // and booleans). The pipeline's own have properties; a value no extension can have (an object, an array) is left out.
        var evt = ConsumedEvent.FromCloudEventJson(
            """{"specversion":"1.0","id":"evt-20","type":"OrderPlaced","source":"/legacy","datacontenttype":"application/json","dataschema":"urn:x","cdcposition":"s@1:0","cdcrule":"outbox","tenant":"acme","correlationid":"c-9","priority":5,"urgent":true,"none":null,"nested":{"a":1},"data":{}}""");

        Assert.Equal(
            [new("correlationid", "c-9"), new("priority", "5"), new("tenant", "acme"), new("urgent", "true")],
            evt.Extensions.OrderBy(x => x.Key, StringComparer.Ordinal));
        Assert.Equal("outbox", evt.Rule);
    }

    [Fact]
    public void A_binary_mode_event_exposes_its_own_extension_attributes_named_in_lower_case_whatever_a_proxy_made_of_them()
    {
        var http = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, string> { ["Ce-Id"] = "evt-21", ["Ce-Type"] = "OrderPlaced", ["Ce-Tenant"] = "acme%20eu", ["ce-cdcrule"] = "outbox", ["Content-Type"] = "application/json" },
            "{}"u8.ToArray());
        var amqp = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, object?> { ["cloudEvents:id"] = "evt-21"u8.ToArray(), ["cloudEvents:type"] = "OrderPlaced"u8.ToArray(), ["cloudEvents:tenant"] = "acme eu"u8.ToArray(), ["cloudEvents:priority"] = 5 },
            "{}"u8.ToArray(),
            "application/json");

        Assert.Equal([new("tenant", "acme eu")], http.Extensions);
        Assert.Equal([new("priority", "5"), new("tenant", "acme eu")], amqp.Extensions.OrderBy(x => x.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void An_event_without_the_extensions_has_none()
    {
        var evt = ConsumedEvent.FromCloudEventJson("""{"specversion":"1.0","id":"evt-5","type":"OrderPlaced"}""");

        Assert.Equal((null, null, null, null, null), (evt.Kind, evt.Target, evt.Aggregate, evt.Rule, evt.Position));
        Assert.Empty(evt.Extensions);
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

    /// <summary>The attributes of a malformed event as binary-mode headers: what the JSON cases above carry, and what only headers can get wrong.</summary>
    public static TheoryData<string[], string, string> MalformedBinaryEvents => new()
    {
        { ["ce_id", "", "ce_type", "OrderPlaced"], "{}", "'id'" },
        { ["ce_type", "OrderPlaced"], "{}", "'id'" },
        { ["ce_id", "evt-1", "ce_type", ""], "{}", "evt-1" },
        { ["ce_id", "evt-2", "ce_type", "OrderPlaced", "ce_time", "yesterday"], "{}", "'time' that is not an RFC 3339 timestamp: 'yesterday'" },
        { ["ce_id", "evt-25", "ce_type", "OrderPlaced", "ce_time", "2026-01-02T03:04:05.5"], "{}", "'time' that is not an RFC 3339 timestamp: '2026-01-02T03:04:05.5'" },
        { ["ce_id", "evt-4", "ce_type", "OrderPlaced", "ce_cdcposition", "42"], "{}", "'cdcposition' that is not {stream}@{major}:{minor}: '42'" },
        { ["ce_id", "evt-8", "ce_type", "OrderPlaced"], "{\"orderId\":", "'evt-8' (OrderPlaced) has data that is not JSON" },
        { ["content-type", "application/json", "x-trace", "t1"], "{}", "no header starts with ce_ (Kafka), cloudEvents: (AMQP) or ce- (HTTP)" },
        { ["ce_id", "evt-9", "ce-type", "OrderPlaced"], "{}", "mixes Kafka ce_* and HTTP ce-*" },
        { ["ce_id", "evt-10", "ce_id", "evt-11", "ce_type", "OrderPlaced"], "{}", "'id' twice, as 'evt-10' and 'evt-11'" },
    };

    [Theory]
    [MemberData(nameof(MalformedBinaryEvents))]
    public void A_malformed_binary_mode_event_is_refused_with_the_format_exception_of_the_json_form(string[] headers, string data, string named)
    {
        var pairs = Enumerable.Range(0, headers.Length / 2).Select(i => KeyValuePair.Create(headers[2 * i], headers[(2 * i) + 1])).ToList();

        var text = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventBinary(pairs, System.Text.Encoding.UTF8.GetBytes(data)));
        var bytes = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventBinary(
            pairs.Select(p => KeyValuePair.Create(p.Key, System.Text.Encoding.UTF8.GetBytes(p.Value))), System.Text.Encoding.UTF8.GetBytes(data)));

        Assert.Contains(named, text.Message, StringComparison.Ordinal);
        Assert.Equal(text.Message, bytes.Message);
    }

    [Theory]
    [InlineData("""{"specversion":"1.0","id":"","type":"OrderPlaced"}""", new[] { "ce_id", "", "ce_type", "OrderPlaced" })]
    [InlineData("""{"specversion":"1.0","id":"evt-1","type":""}""", new[] { "ce_id", "evt-1", "ce_type", "" })]
    [InlineData("""{"specversion":"1.0","id":"evt-2","type":"OrderPlaced","time":"yesterday"}""", new[] { "ce_id", "evt-2", "ce_type", "OrderPlaced", "ce_time", "yesterday" })]
    [InlineData("""{"specversion":"1.0","id":"evt-6","type":"OrderPlaced","cdcposition":"cdc_demo_slot@x:0"}""", new[] { "ce_id", "evt-6", "ce_type", "OrderPlaced", "ce_cdcposition", "cdc_demo_slot@x:0" })]
    public void A_binary_mode_event_and_its_json_form_are_refused_with_the_same_message(string json, string[] headers)
    {
        var pairs = Enumerable.Range(0, headers.Length / 2).Select(i => KeyValuePair.Create(headers[2 * i], headers[(2 * i) + 1]));

        var fromJson = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventJson(json));
        var fromHeaders = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventBinary(pairs, default));

        Assert.Equal(fromJson.Message, fromHeaders.Message);
    }

    [Fact]
    public void A_binary_mode_event_reads_the_extensions_from_the_headers_of_each_binding()
    {
        var body = """{"orderId":"1001"}"""u8.ToArray();
        var kafka = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, byte[]>
            {
                ["ce_specversion"] = "1.0"u8.ToArray(), ["ce_id"] = "evt-7"u8.ToArray(), ["ce_type"] = "ShipOrder"u8.ToArray(),
                ["ce_source"] = "/legacy"u8.ToArray(), ["ce_subject"] = "Bestellung 1001 – ü"u8.ToArray(), ["ce_time"] = "2026-01-02T01:04:05.500000Z"u8.ToArray(),
                ["ce_cdckind"] = "command"u8.ToArray(), ["ce_cdctarget"] = "warehouse"u8.ToArray(), ["ce_cdcaggregate"] = "Order"u8.ToArray(),
                ["ce_cdcrule"] = "tb_ord_mst#ShipOrder"u8.ToArray(), ["ce_cdcposition"] = "cdc_demo_slot@30821688:2"u8.ToArray(),
                ["content-type"] = "application/json"u8.ToArray(), ["traceparent"] = [0xff, 0xfe],
            },
            body);
        // A webhook's headers: any case, values percent-encoded where not printable ASCII.
        var http = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, string>
            {
                ["Ce-Id"] = "evt-7", ["ce-type"] = "ShipOrder", ["CE-SOURCE"] = "/legacy", ["ce-subject"] = Uri.EscapeDataString("Bestellung 1001 – ü"),
                ["ce-time"] = "2026-01-02T01:04:05.500000Z", ["ce-cdckind"] = "command", ["ce-cdctarget"] = "warehouse", ["ce-cdcaggregate"] = "Order",
                ["ce-cdcrule"] = "tb_ord_mst%23ShipOrder", ["ce-cdcposition"] = "cdc_demo_slot@30821688:2", ["Content-Type"] = "application/json",
            },
            body);
        // RabbitMQ.Client's application properties: text as UTF-8 bytes, other AMQP values beside them.
        var amqp = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, object?>
            {
                ["cloudEvents:id"] = "evt-7"u8.ToArray(), ["cloudEvents:type"] = "ShipOrder"u8.ToArray(), ["cloudEvents:source"] = "/legacy",
                ["cloudEvents:subject"] = "Bestellung 1001 – ü"u8.ToArray(), ["cloudEvents:time"] = "2026-01-02T01:04:05.500000Z"u8.ToArray(),
                ["cloudEvents:cdckind"] = "command"u8.ToArray(), ["cloudEvents:cdctarget"] = "warehouse"u8.ToArray(), ["cloudEvents:cdcaggregate"] = "Order"u8.ToArray(),
                ["cloudEvents:cdcrule"] = "tb_ord_mst#ShipOrder"u8.ToArray(), ["cloudEvents:cdcposition"] = "cdc_demo_slot@30821688:2"u8.ToArray(),
                ["x-delivery-count"] = 2L, ["x-empty"] = null,
            },
            body,
            contentType: "application/json");

        foreach (var evt in new[] { kafka, http, amqp })
        {
            Assert.Equal(("evt-7", "ShipOrder", "/legacy", "Bestellung 1001 – ü"), (evt.Id, evt.Type, evt.Source, evt.Subject));
            Assert.Equal(new DateTimeOffset(2026, 1, 2, 1, 4, 5, 500, TimeSpan.Zero), evt.Time);
            Assert.Equal(("command", "warehouse", "Order", "tb_ord_mst#ShipOrder"), (evt.Kind, evt.Target, evt.Aggregate, evt.Rule));
            Assert.Equal(new CdcPosition("cdc_demo_slot", 30821688, 2), evt.Position);
            Assert.Equal("1001", evt.Data.GetProperty("orderId").GetString());
        }
    }

    [Fact]
    public void A_binary_mode_event_reads_the_amqp_bindings_later_cloudevents_underscore_prefix()
    {
        // The AMQP binding's later revisions prefer cloudEvents_ to cloudEvents:, and receivers may meet either.
        var evt = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, object?> { ["cloudEvents_id"] = "evt-15"u8.ToArray(), ["cloudEvents:type"] = "OrderPlaced"u8.ToArray(), ["cloudEvents_cdcposition"] = "s@2:1"u8.ToArray() },
            default);

        Assert.Equal(("evt-15", "OrderPlaced", new CdcPosition("s", 2, 1)), (evt.Id, evt.Type, evt.Position));
    }

    [Fact]
    public void A_binary_mode_event_without_a_body_has_no_data()
    {
        var evt = ConsumedEvent.FromCloudEventBinary(new Dictionary<string, string> { ["ce-id"] = "evt-12", ["ce-type"] = "OrderPlaced" }, ReadOnlyMemory<byte>.Empty);

        Assert.Equal(System.Text.Json.JsonValueKind.Undefined, evt.Data.ValueKind);
        Assert.Equal((null, null, null, null), (evt.Source, evt.Subject, evt.Kind, evt.Position));
    }

    [Fact]
    public void A_structured_mode_message_is_read_from_its_body_whatever_its_headers_say()
    {
        // The sinks' default: the body is the whole event, the headers repeat its attributes. Read as data, the event would be
        // its own data.
        var body = """{"specversion":"1.0","id":"evt-13","type":"OrderPlaced","cdcposition":"s@1:0","data":{"orderId":"7"}}"""u8.ToArray();

        var kafka = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, byte[]> { ["ce_id"] = "evt-13"u8.ToArray(), ["ce_type"] = "OrderPlaced"u8.ToArray(), ["content-type"] = "application/cloudevents+json; charset=UTF-8"u8.ToArray() },
            body);
        var amqp = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, object?> { ["cloudEvents:id"] = "evt-13"u8.ToArray(), ["cloudEvents:type"] = "OrderPlaced"u8.ToArray() },
            body,
            contentType: "application/cloudevents+json");

        Assert.All([kafka, amqp], evt => Assert.Equal(("evt-13", "7", new CdcPosition("s", 1, 0)), (evt.Id, evt.Data.GetProperty("orderId").GetString(), evt.Position)));
    }

    /// <summary>The content type of a binary-mode message's data, in each place a binding carries it: the AMQP content-type
    /// property (<c>contentType</c>), a Kafka or HTTP <c>content-type</c> header, or the <c>datacontenttype</c> attribute.</summary>
    public static TheoryData<string, string?, string[]> NonJsonData => new()
    {
        // Bytes that happen to parse as JSON (a number, a boolean) were read as that JSON value.
        { "application/octet-stream", "application/octet-stream", [] },
        { "text/plain; charset=utf-8", "text/plain; charset=utf-8", [] },
        { "application/octet-stream", null, ["content-type", "application/octet-stream"] },
        { "application/x-protobuf", null, ["ce_datacontenttype", "application/x-protobuf"] },
    };

    [Theory]
    [MemberData(nameof(NonJsonData))]
    public void A_binary_mode_event_whose_data_is_not_json_is_refused_naming_its_content_type(string named, string? contentType, string[] headers)
    {
        var pairs = new List<KeyValuePair<string, string>> { new("ce_id", "evt-17"), new("ce_type", "OrderPlaced") };
        pairs.AddRange(Enumerable.Range(0, headers.Length / 2).Select(i => KeyValuePair.Create(headers[2 * i], headers[(2 * i) + 1])));

        var e = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventBinary(pairs, "12345"u8.ToArray(), contentType));

        Assert.Contains($"'evt-17' (OrderPlaced) has data of content type '{named}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("application/json")]
    [InlineData("Application/JSON; charset=utf-8")]
    [InlineData("text/json")]
    [InlineData("application/vnd.billing+json")]
    // The pipeline's Kafka format: avro record: its content-type header names the record, whose data field (the body passed) is JSON text.
    [InlineData("application/avro")]
    public void A_binary_mode_event_whose_data_is_json_or_of_no_content_type_reads_its_data_as_json(string? contentType)
    {
        var evt = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, string> { ["ce_id"] = "evt-18", ["ce_type"] = "OrderPlaced" }, "12345"u8.ToArray(), contentType);

        Assert.Equal(12345, evt.Data.GetInt32());
    }

    [Fact]
    public void A_structured_event_with_binary_data_is_refused_rather_than_read_as_one_without_data()
    {
        // CloudEvents JSON format 3.1: data that is not JSON or text travels Base64-encoded in data_base64, not in data.
        var e = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventJson(
            """{"specversion":"1.0","id":"evt-19","type":"InvoicePdf","datacontenttype":"application/pdf","data_base64":"JVBERi0xLjQ="}"""));

        Assert.Contains("'evt-19' (InvoicePdf) has binary data (data_base64) of content type 'application/pdf'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_binary_mode_attribute_that_is_not_utf8_is_refused_naming_the_header()
    {
        var bytes = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, byte[]> { ["ce_id"] = [0xff, 0xfe], ["ce_type"] = "OrderPlaced"u8.ToArray() },
            default));

        Assert.Contains("'ce_id' is not UTF-8", bytes.Message, StringComparison.Ordinal);
    }

    /// <summary>An AMQP event of another producer: its id and type as text, one more application property as given.</summary>
    private static ConsumedEvent Amqp(string name, object? value) => ConsumedEvent.FromCloudEventBinary(
        new Dictionary<string, object?> { ["cloudEvents:id"] = "evt-16"u8.ToArray(), ["cloudEvents:type"] = "OrderPlaced"u8.ToArray(), [name] = value },
        default);

    /// <summary>Typed AMQP values another producer may send for an extension (CloudEvents AMQP binding 3.1.3.2: Integer as
    /// long, other integer types allowed to a receiver; Boolean as boolean; Timestamp as timestamp; Binary as binary), each with the canonical
    /// string a text property carries for it.</summary>
    public static TheoryData<object, string> TypedExtensionValues => new()
    {
        { 42, "42" },
        { -9_000_000_000L, "-9000000000" },
        { (short)-7, "-7" },
        { (ushort)7, "7" },
        { (sbyte)-1, "-1" },
        { (byte)255, "255" },
        { 4_000_000_000u, "4000000000" },
        { ulong.MaxValue, "18446744073709551615" },
        { true, "true" },
        { false, "false" },
        { new RabbitMQ.Client.AmqpTimestamp(1767323045), "2026-01-02T03:04:05Z" },
        // An AMQP binary (a header table's 'x'; a 0-9-1 long string comes as bytes, read as UTF-8 text): Base64.
        { new RabbitMQ.Client.BinaryTableValue([0x00, 0xfe, 0x41]), "AP5B" },
        { new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc), "2026-01-02T03:04:05Z" },
        { new DateTimeOffset(2026, 1, 2, 5, 4, 5, 500, TimeSpan.FromHours(2)), "2026-01-02T03:04:05.5Z" },
    };

    [Theory]
    [MemberData(nameof(TypedExtensionValues), DisableDiscoveryEnumeration = true)]
    public void A_typed_amqp_extension_value_is_read_as_the_text_a_string_property_would_carry(object value, string text)
    {
        var typed = Amqp("cloudEvents:cdcaggregate", value);
        var asText = Amqp("cloudEvents:cdcaggregate", System.Text.Encoding.UTF8.GetBytes(text));

        Assert.Equal(text, typed.Aggregate);
        Assert.Equal(asText.Aggregate, typed.Aggregate);
    }

    /// <summary>An AMQP timestamp as each client delivers it: RabbitMQ.Client's (seconds), an AMQP 1.0 client's DateTime or DateTimeOffset.</summary>
    public static TheoryData<object, DateTimeOffset> TypedTimes => new()
    {
        { new RabbitMQ.Client.AmqpTimestamp(1767323045), new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero) },
        { new DateTime(2026, 1, 2, 3, 4, 5, 250, DateTimeKind.Utc), new DateTimeOffset(2026, 1, 2, 3, 4, 5, 250, TimeSpan.Zero) },
        { new DateTimeOffset(2026, 1, 2, 5, 4, 5, 250, TimeSpan.FromHours(2)), new DateTimeOffset(2026, 1, 2, 3, 4, 5, 250, TimeSpan.Zero) },
    };

    [Theory]
    [MemberData(nameof(TypedTimes), DisableDiscoveryEnumeration = true)]
    public void A_typed_amqp_time_is_read_as_the_utc_timestamp_it_holds(object value, DateTimeOffset expected)
    {
        var time = Amqp("cloudEvents:time", value).Time;

        Assert.Equal(expected, time);
        Assert.Equal(TimeSpan.Zero, time!.Value.Offset);
    }

    /// <summary>Typed values the binding gives no attribute of that name: the core attributes other than time are Strings,
    /// URIs or URI-references (AMQP string only), time a Timestamp, and no CloudEvents type is a fraction, a map or a list.</summary>
    public static TheoryData<string, object, string> RefusedTypedValues => new()
    {
        { "cloudEvents:id", 42, "the message's header 'cloudEvents:id' is an AMQP int (Int32), but the CloudEvents attribute 'id' is a String, sent as an AMQP string" },
        { "cloudEvents_type", 7L, "'cloudEvents_type' is an AMQP long (Int64), but the CloudEvents attribute 'type' is a String, sent as an AMQP string" },
        { "cloudEvents:source", true, "'cloudEvents:source' is an AMQP boolean (Boolean), but the CloudEvents attribute 'source' is a URI-reference, sent as an AMQP string" },
        { "cloudEvents:subject", new RabbitMQ.Client.AmqpTimestamp(1767323045), "'cloudEvents:subject' is an AMQP timestamp (AmqpTimestamp), but the CloudEvents attribute 'subject' is a String" },
        { "cloudEvents:time", 1767323045L, "'cloudEvents:time' is an AMQP long (Int64), but the CloudEvents attribute 'time' is a Timestamp, sent as an AMQP timestamp or an RFC 3339 string" },
        { "cloudEvents:time", true, "'cloudEvents:time' is an AMQP boolean (Boolean), but the CloudEvents attribute 'time' is a Timestamp" },
        { "cloudEvents:time", new RabbitMQ.Client.AmqpTimestamp(long.MaxValue), "'cloudEvents:time' is an AMQP timestamp outside the years 1 to 9999 (((time_t)9223372036854775807))" },
        { "cloudEvents:id", new RabbitMQ.Client.BinaryTableValue("evt-16"u8.ToArray()), "'cloudEvents:id' is an AMQP binary (BinaryTableValue), but the CloudEvents attribute 'id' is a String" },
        { "cloudEvents:cdcaggregate", 1.5, "'cloudEvents:cdcaggregate' is an AMQP double (Double), but the CloudEvents attribute 'cdcaggregate' is an extension, sent as an AMQP string, boolean, integer (byte to long), timestamp or binary" },
        { "cloudEvents:cdcaggregate", 1.5f, "is an AMQP float (Single), but the CloudEvents attribute 'cdcaggregate' is an extension" },
        { "cloudEvents:cdcaggregate", 1.5m, "is an AMQP decimal (Decimal), but the CloudEvents attribute 'cdcaggregate' is an extension" },
        { "cloudEvents:cdcaggregate", new Dictionary<string, object?> { ["name"] = "Order"u8.ToArray() }, "is an AMQP map (Dictionary`2), but the CloudEvents attribute 'cdcaggregate' is an extension" },
        { "cloudEvents:cdcaggregate", new List<object?> { "Order"u8.ToArray() }, "is an AMQP list (List`1), but the CloudEvents attribute 'cdcaggregate' is an extension" },
    };

    [Theory]
    [MemberData(nameof(RefusedTypedValues), DisableDiscoveryEnumeration = true)]
    public void A_typed_amqp_value_no_cloudevents_type_maps_to_is_refused_naming_the_header_its_type_and_what_is_accepted(string name, object value, string named)
    {
        var e = Assert.Throws<FormatException>(() => Amqp(name, value));

        Assert.Contains(named, e.Message, StringComparison.Ordinal);
        Assert.Contains("CloudEvents AMQP protocol binding 3.1.3.2", e.Message, StringComparison.Ordinal);
    }
}
