using System.Text;
using CdcPipeline.Consumer;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.IntegrationTests.Kafka;
using CdcPipeline.IntegrationTests.Sinks;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Kafka.SchemaRegistry;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Sinks.Webhook;
using CdcPipeline.Tests.Support;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>
/// What the sinks really send in binary mode (Kafka <c>ce_*</c> headers, RabbitMQ <c>cloudEvents:*</c> properties, webhook
/// <c>ce-*</c> headers), read by <see cref="ConsumedEvent.FromCloudEventBinary(IEnumerable{KeyValuePair{string, string}}, ReadOnlyMemory{byte}, string)"/>:
/// the same event as its structured JSON form, so the idempotent consumer takes the one for a duplicate of the other.
/// </summary>
public sealed class BinaryModeEventTests(KafkaFixture kafka, PostgresFixture postgres) : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private NpgsqlDataSource _dataSource = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _db = await postgres.CreateDatabaseAsync("binarymode");
        _dataSource = NpgsqlDataSource.Create(_db.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _db.DisposeAsync();
    }

    /// <summary>A command with every extension the pipeline sets, and a subject a header cannot carry as it is (a space, non-ASCII).</summary>
    private static DomainEvent Command(long lsn)
    {
        var position = new SourcePosition("cdc_demo_slot", lsn, 2);
        return new DomainEvent
        {
            Id = EventIds.For(position, "tb_ord_mst#ShipOrder"),
            Type = "ShipOrder",
            Source = "/cdcpipeline/legacy-orders/public.tb_ord_mst",
            Subject = "Bestellung 1001 – ü",
            AggregateType = "Order",
            Kind = DomainEventKind.Command,
            Target = "warehouse",
            RuleId = "tb_ord_mst#ShipOrder",
            Time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1_234_560),
            Data = Row.From(("orderId", "1001"), ("total", "152.40")),
            // An outbox's additionalPlacement headers (tenant:header, correlation_id:header:correlationid).
            Extensions = new Dictionary<string, string> { ["tenant"] = "acme", ["correlationid"] = "c-9" },
            Position = position,
            Change = new ChangeEvent { Kind = ChangeKind.Change, Operation = ChangeOperation.Update, Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst" }, Position = position },
        };
    }

    private static DomainEvent RawChange(long i)
    {
        var raw = new List<DomainEvent>();
        new PassthroughTranslator("p").Translate(InMemoryChangeSource.Change(i, "K" + i, "PAID"), raw);
        return Assert.Single(raw);
    }

    private static void AssertSameEvent(ConsumedEvent expected, ConsumedEvent actual)
    {
        Assert.Equal((expected.Id, expected.Type, expected.Source, expected.Subject, expected.Time), (actual.Id, actual.Type, actual.Source, actual.Subject, actual.Time));
        Assert.Equal((expected.Kind, expected.Target, expected.Aggregate, expected.Rule, expected.Position), (actual.Kind, actual.Target, actual.Aggregate, actual.Rule, actual.Position));
        Assert.Equal(expected.Data.GetRawText(), actual.Data.GetRawText());
        Assert.Equal(expected.Extensions.OrderBy(x => x.Key, StringComparer.Ordinal), actual.Extensions.OrderBy(x => x.Key, StringComparer.Ordinal));
    }

    /// <summary>The event's own extension attributes (<see cref="Command"/>'s outbox headers), not the pipeline's, which have properties.</summary>
    private static void AssertOwnExtensions(ConsumedEvent e) =>
        Assert.Equal([new("correlationid", "c-9"), new("tenant", "acme")], e.Extensions.OrderBy(x => x.Key, StringComparer.Ordinal));

    /// <summary>The binary-mode event first (applied), then its structured form (a duplicate): one event to the consumer.</summary>
    private async Task AssertOneEventToTheConsumerAsync(ConsumedEvent binary, string structuredJson, string consumerName)
    {
        var consumer = new IdempotentConsumer(_dataSource, consumerName);
        await consumer.EnsureSchemaAsync(Ct);
        var handled = new List<ConsumedEvent>();
        Task Handle(NpgsqlConnection conn, NpgsqlTransaction tx, ConsumedEvent evt, CancellationToken ct)
        {
            handled.Add(evt);
            return Task.CompletedTask;
        }

        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(binary, Handle, Ct));
        Assert.Equal(HandleResult.Duplicate, await consumer.HandleAsync(structuredJson, Handle, Ct));
        Assert.Same(binary, Assert.Single(handled));
    }

    [Fact]
    public async Task A_kafka_avro_records_ce_headers_with_its_data_are_the_event_of_the_structured_form()
    {
        // format: avro is Kafka's binary mode: the value is an Avro record, the attributes are the ce_* headers.
        var topic = kafka.Unique("binary-avro");
        var registry = new InMemorySchemaRegistryClient();
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = topic, Format = "avro" };
        var e = Command(30821688);
        await using (var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(topic, "p"), avro: true, schemaRegistry: registry))
        {
            await sink.DeliverAsync([e], Ct);
        }

        var record = Assert.Single(kafka.ReadAll(topic, 1));
        var value = await new AvroDeserializer<Avro.Generic.GenericRecord>(registry).DeserializeAsync(record.Message.Value, false, new SerializationContext(MessageComponentType.Value, topic));
        var binary = ConsumedEvent.FromCloudEventBinary(
            record.Message.Headers.Select(h => KeyValuePair.Create(h.Key, h.GetValueBytes())), Encoding.UTF8.GetBytes((string)value["data"]));

        var structured = EventJson.Serialize(e);
        AssertSameEvent(ConsumedEvent.FromCloudEventJson(structured), binary);
        Assert.Equal(("command", "warehouse", "Bestellung 1001 – ü"), (binary.Kind, binary.Target, binary.Subject));
        AssertOwnExtensions(binary);
        await AssertOneEventToTheConsumerAsync(binary, structured, "kafka-avro");
    }

    [Fact]
    public async Task A_kafka_json_record_is_read_from_its_headers_and_value_in_either_mode()
    {
        var topic = kafka.Unique("binary-json");
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = topic };
        var command = Command(30821700);
        var raw = RawChange(3);
        await using (var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(topic, "p")))
        {
            await sink.DeliverAsync([command, raw], Ct);
        }

        var records = kafka.ReadAll(topic, 2);
        ConsumedEvent Read(DomainEvent sent)
        {
            var record = records.Single(r => Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes("ce_id")) == sent.Id);
            return ConsumedEvent.FromCloudEventBinary(record.Message.Headers.Select(h => KeyValuePair.Create(h.Key, h.GetValueBytes())), record.Message.Value);
        }

        // The command's value is the structured event (content-type application/cloudevents+json), not its data.
        AssertSameEvent(ConsumedEvent.FromCloudEventJson(EventJson.Serialize(command)), Read(command));
        AssertOwnExtensions(Read(command));
        // A raw change is binary mode: the value is the change, the data of an event the headers describe.
        var change = Read(raw);
        Assert.Equal((raw.Id, DomainEvent.RawChangeType, raw.Source, "event"), (change.Id, change.Type, change.Source, change.Kind));
        Assert.Equal(new CdcPosition(raw.Position.Stream, raw.Position.Major, raw.Position.Minor), change.Position);
        Assert.Equal(EventJson.Serialize(raw), change.Data.GetRawText());
    }

    [Fact]
    public async Task A_rabbitmq_message_is_read_from_its_cloudevents_properties_and_body()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await RabbitMqSinkTests.BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        var command = Command(30821720);
        var raw = RawChange(4);
        await using (var sink = RabbitMqSinkTests.Sink(uri, exchange))
        {
            await sink.DeliverAsync([command, raw], Ct);
        }

        var messages = await RabbitMqSinkTests.DrainAsync(channel, queue, 2, TimeSpan.FromSeconds(10));
        var commandMessage = messages.First(m => m.BasicProperties.MessageId == command.Id);
        var rawMessage = messages.First(m => m.BasicProperties.MessageId == raw.Id);

        // A raw change goes in binary mode (application/json): the properties are its attributes, the body its data.
        var change = ConsumedEvent.FromCloudEventBinary(rawMessage.BasicProperties.Headers!, rawMessage.Body, rawMessage.BasicProperties.ContentType);
        Assert.Equal((raw.Id, DomainEvent.RawChangeType, raw.Source, "event"), (change.Id, change.Type, change.Source, change.Kind));
        Assert.Equal(EventJson.Serialize(raw), change.Data.GetRawText());

        // A rule's event is structured, its properties repeating every attribute: read with its content type, the body is the
        // event; read from the properties with the body's data, it is the same event.
        var structured = EventJson.Serialize(command);
        var expected = ConsumedEvent.FromCloudEventJson(structured);
        AssertSameEvent(expected, ConsumedEvent.FromCloudEventBinary(commandMessage.BasicProperties.Headers!, commandMessage.Body, commandMessage.BasicProperties.ContentType));
        var fromProperties = ConsumedEvent.FromCloudEventBinary(commandMessage.BasicProperties.Headers!, Encoding.UTF8.GetBytes(expected.Data.GetRawText()));
        AssertSameEvent(expected, fromProperties);
        AssertOwnExtensions(fromProperties);
        AssertOwnExtensions(expected);
        await AssertOneEventToTheConsumerAsync(fromProperties, structured, "rabbitmq");
    }

    [Fact]
    public async Task A_rabbitmq_message_of_another_producer_is_read_with_its_attributes_as_typed_amqp_values()
    {
        // The CloudEvents AMQP binding (3.1.3.2) lets a producer send Timestamp, Integer and Boolean attributes as AMQP
        // timestamp, long, boolean and binary values; RabbitMQ.Client delivers them as AmqpTimestamp (seconds), int/long, bool and
        // BinaryTableValue (Binary's canonical string is Base64).
        // (RabbitMQ.Client refuses a DateTime in a header table: only an AmqpTimestamp goes over the wire.) The consumer exposes
        // only the pipeline's extensions, so they carry the typed values here.
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await RabbitMqSinkTests.BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        var time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var properties = new RabbitMQ.Client.BasicProperties
        {
            MessageId = "evt-typed-1",
            ContentType = "application/json",
            Headers = new Dictionary<string, object?>
            {
                ["cloudEvents:specversion"] = "1.0", ["cloudEvents:id"] = "evt-typed-1", ["cloudEvents:type"] = "OrderPlaced",
                ["cloudEvents:source"] = "/other-producer", ["cloudEvents:time"] = new RabbitMQ.Client.AmqpTimestamp(time.ToUnixTimeSeconds()),
                ["cloudEvents:cdcaggregate"] = 42, ["cloudEvents:cdcrule"] = -9_000_000_000L, ["cloudEvents:cdckind"] = true, ["cloudEvents:cdctarget"] = new RabbitMQ.Client.BinaryTableValue([0x00, 0xfe, 0x41]),
            },
        };
        await channel.BasicPublishAsync(exchange, "OrderPlaced", mandatory: true, properties, """{"orderId":"7"}"""u8.ToArray(), Ct);

        var message = Assert.Single(await RabbitMqSinkTests.DrainAsync(channel, queue, 1, TimeSpan.FromSeconds(10)));
        var evt = ConsumedEvent.FromCloudEventBinary(message.BasicProperties.Headers!, message.Body, message.BasicProperties.ContentType);

        Assert.Equal(("evt-typed-1", "OrderPlaced", "/other-producer"), (evt.Id, evt.Type, evt.Source));
        Assert.Equal(time, evt.Time);
        Assert.Equal(TimeSpan.Zero, evt.Time!.Value.Offset);
        Assert.Equal(("42", "-9000000000", "true", "AP5B"), (evt.Aggregate, evt.Rule, evt.Kind, evt.Target));
        // Exactly the event the same attributes as text (what our sink sends) make.
        var asText = ConsumedEvent.FromCloudEventBinary(
            new Dictionary<string, string>
            {
                ["cloudEvents:id"] = "evt-typed-1", ["cloudEvents:type"] = "OrderPlaced", ["cloudEvents:source"] = "/other-producer",
                ["cloudEvents:time"] = "2026-01-02T03:04:05Z", ["cloudEvents:cdcaggregate"] = "42", ["cloudEvents:cdcrule"] = "-9000000000",
                ["cloudEvents:cdckind"] = "true", ["cloudEvents:cdctarget"] = "AP5B",
            },
            message.Body);
        AssertSameEvent(asText, evt);
    }

    [Fact]
    public async Task A_rabbitmq_message_of_another_producer_whose_body_is_bytes_not_json_is_refused_naming_its_content_type()
    {
        // Another producer's binary-mode event with a byte[] body: application/octet-stream, or no content type (then JSON, as
        // the pipeline's sinks always name it). The octet-stream bytes happen to parse as JSON, and were read as the number.
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await RabbitMqSinkTests.BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        foreach (var (id, contentType) in new[] { ("evt-bytes-1", "application/octet-stream"), ("evt-bytes-2", (string?)null) })
        {
            var properties = new RabbitMQ.Client.BasicProperties
            {
                MessageId = id,
                ContentType = contentType,
                Headers = new Dictionary<string, object?>
                {
                    ["cloudEvents:specversion"] = "1.0", ["cloudEvents:id"] = id, ["cloudEvents:type"] = "InvoiceScanned", ["cloudEvents:source"] = "/scanner",
                },
            };
            await channel.BasicPublishAsync(exchange, "InvoiceScanned", mandatory: true, properties, "12345"u8.ToArray(), Ct);
        }

        var messages = await RabbitMqSinkTests.DrainAsync(channel, queue, 2, TimeSpan.FromSeconds(10));
        var bytes = messages.Single(m => m.BasicProperties.MessageId == "evt-bytes-1");
        var e = Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventBinary(bytes.BasicProperties.Headers!, bytes.Body, bytes.BasicProperties.ContentType));
        Assert.Contains("'evt-bytes-1' (InvoiceScanned) has data of content type 'application/octet-stream'", e.Message, StringComparison.Ordinal);

        var untyped = messages.Single(m => m.BasicProperties.MessageId == "evt-bytes-2");
        Assert.Null(untyped.BasicProperties.ContentType);
        var evt = ConsumedEvent.FromCloudEventBinary(untyped.BasicProperties.Headers!, untyped.Body, untyped.BasicProperties.ContentType);
        Assert.Equal(("evt-bytes-2", 12345), (evt.Id, evt.Data.GetInt32()));
    }

    [Fact]
    public async Task A_redis_stream_entrys_body_is_the_event_and_for_a_raw_change_the_change_its_fields_name()
    {
        var configuration = await DownstreamServers.RedisAsync();
        var stream = "cdctest:" + Guid.NewGuid().ToString("N")[..8];
        var command = Command(30821760);
        var raw = RawChange(5);
        var options = new CdcPipeline.Sinks.Redis.RedisSinkOptions { Configuration = configuration, Stream = stream };
        Assert.True(CdcPipeline.Sinks.Routing.EventTemplate.TryParse(options.Stream, "redis", out var template, out var error), error);
        await using (var sink = new CdcPipeline.Sinks.Redis.RedisSink("redis", options, template))
        {
            await sink.DeliverAsync([command, raw], Ct);
        }

        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(configuration);
        var entries = await redis.GetDatabase().StreamRangeAsync(stream);
        await redis.GetDatabase().KeyDeleteAsync(stream);
        Assert.Equal(2, entries.Length);

        // A rule's event: the body is the structured event.
        var structured = EventJson.Serialize(command);
        Assert.Equal(structured, (string)entries[0]["body"]!);
        AssertSameEvent(ConsumedEvent.FromCloudEventJson(structured), ConsumedEvent.FromCloudEventJson((string)entries[0]["body"]!));

        // A raw change: the body is the canonical change line, no CloudEvent (it has no id); the entry's fields name it
        // (README, Downstream services), and nothing carries its source, time or cdcposition.
        var body = (string)entries[1]["body"]!;
        Assert.Equal(EventJson.Serialize(raw), body);
        Assert.Contains("no 'id'", Assert.Throws<FormatException>(() => ConsumedEvent.FromCloudEventJson(body)).Message, StringComparison.Ordinal);
        using var change = System.Text.Json.JsonDocument.Parse(body);
        var evt = new ConsumedEvent((string)entries[1]["id"]!, (string)entries[1]["type"]!, change.RootElement.Clone(), subject: (string?)entries[1]["subject"] is { Length: > 0 } s ? s : null);
        Assert.Equal((raw.Id, DomainEvent.RawChangeType, raw.Subject), (evt.Id, evt.Type, evt.Subject));
        var consumer = new IdempotentConsumer(_dataSource, "redis-raw");
        await consumer.EnsureSchemaAsync(Ct);
        Assert.Equal(HandleResult.Applied, await consumer.HandleAsync(evt, (_, _, _, _) => Task.CompletedTask, Ct));
        Assert.Equal(HandleResult.Duplicate, await consumer.HandleAsync(evt, (_, _, _, _) => Task.CompletedTask, Ct));
    }

    [Fact]
    public async Task A_binary_mode_webhooks_ce_headers_and_body_are_the_event_of_the_structured_form()
    {
        await using var receiver = new WebhookReceiver();
        await using (var sink = new WebhookSink("hook", new HttpClient(), new WebhookSinkOptions { Url = receiver.Url, Mode = WebhookMode.Binary, Timeout = TimeSpan.FromSeconds(5) }))
        {
            await sink.DeliverAsync([Command(30821740)], Ct);
        }

        var request = Assert.Single(receiver.Requests);
        // The sink percent-encodes what a header cannot carry; the receiver's headers come as the server saw them.
        Assert.Equal(Uri.EscapeDataString("Bestellung 1001 – ü"), request.Header("ce-subject"));
        var binary = ConsumedEvent.FromCloudEventBinary(request.Headers, request.Body);

        var structured = EventJson.Serialize(Command(30821740));
        AssertSameEvent(ConsumedEvent.FromCloudEventJson(structured), binary);
        Assert.Equal("Bestellung 1001 – ü", binary.Subject);
        AssertOwnExtensions(binary);
        await AssertOneEventToTheConsumerAsync(binary, structured, "webhook");
    }
}
