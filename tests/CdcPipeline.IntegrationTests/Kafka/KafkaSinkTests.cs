using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.SchemaRegistry;
using CdcPipeline.Kafka.Sink;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class KafkaSinkTests(KafkaFixture kafka)
{
    internal static DomainEvent Event(string type, string subject, long offset, object? data = null, string stream = "legacy.public.tb_ord_mst/0")
    {
        var position = new SourcePosition(stream, offset);
        return new DomainEvent
        {
            Id = EventIds.For(position, "rule"),
            Type = type,
            Source = "/cdc/legacy-orders/public.tb_ord_mst",
            Subject = subject,
            AggregateType = "Order",
            Time = new DateTimeOffset(2024, 3, 1, 8, 0, 0, TimeSpan.Zero).AddSeconds(offset),
            Data = data ?? Row.From(("orderId", subject), ("n", offset)),
            Position = position,
            Change = new ChangeEvent { Kind = ChangeKind.Change, Operation = ChangeOperation.Create, Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst" }, Position = position },
        };
    }

    [Fact]
    public async Task Events_land_on_their_type_topic_keyed_by_aggregate_with_CloudEvents_headers_once_DeliverAsync_returns()
    {
        var prefix = kafka.Unique("domain");
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = prefix + ".{type}" };
        await using var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(options.Topic, "p"));
        var batch = Enumerable.Range(0, 20).Select(i => Event(i % 2 == 0 ? "OrderPlaced" : "OrderShipped", "100000" + (i % 3), i)).ToList();

        await sink.DeliverAsync(batch, TestContext.Current.CancellationToken);

        var placed = kafka.ReadAll(prefix + ".OrderPlaced", 10);
        Assert.Equal(10, placed.Count);
        Assert.Equal(10, kafka.ReadAll(prefix + ".OrderShipped", 10).Count);
        foreach (var record in placed)
        {
            string Header(string name) => Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));
            var sent = batch.Single(e => e.Id == Header("ce_id"));
            Assert.Equal(sent.Subject, Encoding.UTF8.GetString(record.Message.Key!));
            Assert.Equal("1.0", Header("ce_specversion"));
            Assert.Equal("OrderPlaced", Header("ce_type"));
            Assert.Equal(sent.Source, Header("ce_source"));
            Assert.Equal(sent.Subject, Header("ce_subject"));
            Assert.Equal(sent.Time!.Value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture), Header("ce_time"));
            using var json = JsonDocument.Parse(record.Message.Value!);
            Assert.Equal(sent.Id, json.RootElement.GetProperty("id").GetString());
            Assert.Equal(sent.Subject, json.RootElement.GetProperty("data").GetProperty("orderId").GetString());
        }

        // Same aggregate → same partition, in order.
        foreach (var aggregate in placed.GroupBy(r => Encoding.UTF8.GetString(r.Message.Key!)))
        {
            Assert.Single(aggregate.Select(r => r.Partition.Value).Distinct());
            var ids = aggregate.OrderBy(r => r.Offset.Value).Select(r => Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes("ce_id"))).ToList();
            Assert.Equal(batch.Where(e => e.Type == "OrderPlaced" && e.Subject == aggregate.Key).Select(e => e.Id).ToList(), ids);
        }

        // A host disposes a pipeline's sinks twice at shutdown (its worker, then its service container).
        await sink.DisposeAsync();
        await sink.DisposeAsync();
    }

    [Fact]
    public async Task A_message_the_broker_can_never_take_is_a_permanent_delivery_failure()
    {
        var options = new KafkaSinkOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            Topic = kafka.Unique("big"),
            Producer = new() { ["message.max.bytes"] = "2000" },
        };
        await using var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(options.Topic, "p"));
        var huge = Event("OrderPlaced", "1", 0, Row.From(("memo", new string('x', 10_000))));

        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => sink.DeliverAsync([Event("OrderPlaced", "1", 1), huge], TestContext.Current.CancellationToken).AsTask());
        Assert.Same(huge, error.Event);
    }

    [Fact]
    public async Task An_event_whose_topic_would_be_longer_than_Kafka_allows_is_a_permanent_failure_naming_the_topic()
    {
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = kafka.Unique("long") + ".{type}" };
        await using var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(options.Topic, "p"), deliveryTimeout: TimeSpan.FromSeconds(20));
        var fine = Event("OrderPlaced", "1", 1);
        var tooLong = Event("Order" + new string('X', 250), "1", 2);

        // Kafka refuses topic names over 249 characters; a real broker never creates it, so this event can never be delivered.
        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => sink.DeliverAsync([fine, tooLong], TestContext.Current.CancellationToken).AsTask());
        Assert.Same(tooLong, error.Event);
        Assert.Contains("249", error.Message, StringComparison.Ordinal);
        Assert.Contains(options.Topic, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Avro_values_are_CloudEvents_records_registered_in_the_schema_registry()
    {
        var topic = kafka.Unique("avro");
        var registry = new InMemorySchemaRegistryClient();
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = topic, Format = "avro" };
        await using (var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(topic, "p"), avro: true, schemaRegistry: registry))
        {
            await sink.DeliverAsync([Event("OrderPlaced", "42", 7)], TestContext.Current.CancellationToken);
        }

        var record = Assert.Single(kafka.ReadAll(topic, 1));
        Assert.Equal("application/avro", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes("content-type")));
        var deserializer = new AvroDeserializer<Avro.Generic.GenericRecord>(registry);
        var value = await deserializer.DeserializeAsync(record.Message.Value, false, new SerializationContext(MessageComponentType.Value, topic));
        Assert.Equal("OrderPlaced", value["type"]);
        Assert.Equal("42", value["subject"]);
        Assert.Equal(EventIds.For(new SourcePosition("legacy.public.tb_ord_mst/0", 7), "rule"), value["id"]);
        using var data = JsonDocument.Parse((string)value["data"]);
        Assert.Equal(7, data.RootElement.GetProperty("n").GetInt64());
        Assert.Contains(topic + "-value", await registry.GetAllSubjectsAsync());
    }

    [Theory]
    [InlineData(409)] // Confluent Schema Registry's code for years
    [InlineData(40901)] // its current source's
    public async Task A_schema_the_registry_refuses_as_incompatible_is_a_permanent_delivery_failure(int errorCode)
    {
        var topic = kafka.Unique("avro");
        var registry = FaultySchemaRegistry.Wrap(new InMemorySchemaRegistryClient(), (method, _) =>
            method.Name.StartsWith("RegisterSchema", StringComparison.Ordinal)
                ? new Confluent.SchemaRegistry.SchemaRegistryException(
                    $"Schema being registered is incompatible with an earlier schema for subject \"{topic}-value\"", System.Net.HttpStatusCode.Conflict, errorCode)
                : null);
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = topic, Format = "avro" };
        await using var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(topic, "p"), avro: true, schemaRegistry: registry);
        var e = Event("OrderPlaced", "42", 7);

        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => sink.DeliverAsync([e], TestContext.Current.CancellationToken).AsTask());
        Assert.Same(e, error.Event);
        Assert.Contains("incompatible", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_auto_register_off_an_avro_sink_uses_the_schema_registered_ahead_and_never_registers()
    {
        // A registry where CI registers the schemas and the pipeline's principal may only read: every registration is refused.
        var topic = kafka.Unique("avro");
        var inner = new InMemorySchemaRegistryClient();
        var id = await inner.RegisterSchemaAsync(topic + "-value", new Confluent.SchemaRegistry.Schema(CloudEventAvro.Schema.ToString(), Confluent.SchemaRegistry.SchemaType.Avro));
        var registry = FaultySchemaRegistry.Wrap(inner, (method, _) =>
            method.Name.StartsWith("RegisterSchema", StringComparison.Ordinal)
                ? new Confluent.SchemaRegistry.SchemaRegistryException($"User is denied operation Write on Subject: {topic}-value", System.Net.HttpStatusCode.Forbidden, 40301)
                : null);
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = topic, Format = "avro" };
        await using (var sink = new KafkaSink(
            "domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(topic, "p"), avro: true, schemaRegistry: registry,
            avroSerializer: new AvroSerializerConfig { AutoRegisterSchemas = false }))
        {
            await sink.DeliverAsync([Event("OrderPlaced", "42", 7)], TestContext.Current.CancellationToken);
        }

        var record = Assert.Single(kafka.ReadAll(topic, 1));
        Assert.Equal(id, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(record.Message.Value.AsSpan(1, 4)));
        var value = await new AvroDeserializer<Avro.Generic.GenericRecord>(registry).DeserializeAsync(record.Message.Value, false, new SerializationContext(MessageComponentType.Value, topic));
        Assert.Equal("OrderPlaced", value["type"]);
    }

    [Fact]
    public async Task An_avro_value_carries_every_attribute_the_json_value_carries()
    {
        var topic = kafka.Unique("avro");
        var registry = new InMemorySchemaRegistryClient();
        var e = Event("OrderPlaced", "42", 7);
        e = new DomainEvent
        {
            Id = e.Id, Type = e.Type, Source = e.Source, Subject = e.Subject, AggregateType = e.AggregateType, Time = e.Time, Data = e.Data,
            RuleId = "tb_ord_mst#0", Position = e.Position, Change = e.Change,
            Extensions = new Dictionary<string, string> { ["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
        };
        var options = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = topic, Format = "avro" };
        await using (var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(options, "p", "domain"), new TopicTemplate(topic, "p"), avro: true, schemaRegistry: registry))
        {
            await sink.DeliverAsync([e], TestContext.Current.CancellationToken);
        }

        var record = Assert.Single(kafka.ReadAll(topic, 1));
        var value = await new AvroDeserializer<Avro.Generic.GenericRecord>(registry).DeserializeAsync(record.Message.Value, false, new SerializationContext(MessageComponentType.Value, topic));

        // What a consumer of the Avro topic reads, attribute by attribute, as the JSON form's attributes.
        var avro = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var field in value.Schema.Fields.Where(f => f.Name is not "data" and not "extensions"))
        {
            avro[field.Name] = (string?)value[field.Name];
        }

        if (value.TryGetValue("extensions", out var extensions))
        {
            foreach (var (name, text) in (IDictionary<string, object>)extensions)
            {
                avro[name] = (string)text;
            }
        }

        using var json = JsonDocument.Parse(Core.Json.EventJson.SerializeToUtf8(e));
        var expected = json.RootElement.EnumerateObject().Where(p => p.Name != "data").ToDictionary(p => p.Name, p => (string?)p.Value.GetString(), StringComparer.Ordinal);
        Assert.Equal(expected.OrderBy(p => p.Key), avro.Where(p => p.Value is not null).OrderBy(p => p.Key));
    }
}
