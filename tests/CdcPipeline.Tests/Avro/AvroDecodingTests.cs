using System.Numerics;
using Avro;
using Avro.Generic;
using Avro.IO;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Kafka.Avro;
using CdcPipeline.Kafka.Source;
using Confluent.Kafka;
using Schema = Avro.Schema;
using SchemaRegistryException = Confluent.SchemaRegistry.SchemaRegistryException;

namespace CdcPipeline.Tests.Avro;

/// <summary>Every type encoding through Debezium's AvroConverter shapes, the Confluent wire format and the in-memory registry.</summary>
public class AvroDecodingTests
{
    private readonly DebeziumAvro _avro = new();

    private static Func<Schema, object?> Is(object? value) => _ => value;

    private static Schema NonNull(Schema s) => s is UnionSchema u ? u.Schemas.First(b => b.Tag != Schema.Type.Null) : s;

    public static TheoryData<string, string, object?, string> Cases() => new()
    {
        { "int16", """{"type":"int","connect.type":"int16"}""", 7, "7" },
        { "int32", "\"int\"", -2147483648, "-2147483648" },
        { "int64", "\"long\"", long.MaxValue, "9223372036854775807" },
        { "float32", "\"float\"", 1.5f, "1.5" },
        { "float64 NaN", "\"double\"", double.NaN, "\"NaN\"" },
        { "boolean", "\"boolean\"", true, "true" },
        { "char(8)", "\"string\"", "C01     ", "\"C01     \"" },
        { "optional null", """["null",{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}]""", null, "null" },
        { "Date", """{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}""", 19723, "\"2024-01-01\"" },
        { "Date before 1970", """{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}""", -1, "\"1969-12-31\"" },
        { "Date year 1", """{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}""", -719162, "\"0001-01-01\"" },
        { "Time", """{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Time"}""", 3723004, "\"01:02:03.004000\"" },
        { "MicroTime", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTime"}""", 3723004005L, "\"01:02:03.004005\"" },
        { "NanoTime", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.NanoTime"}""", 3723004005006L, "\"01:02:03.004005\"" },
        { "Timestamp", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.Timestamp"}""", 1704067200123L, "\"2024-01-01T00:00:00.123000\"" },
        { "MicroTimestamp", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}""", 1704067200123456L, "\"2024-01-01T00:00:00.123456\"" },
        { "MicroTimestamp infinity", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}""", 9223372036825200000L, "\"infinity\"" },
        { "NanoTimestamp", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.NanoTimestamp"}""", 1704067200123456789L, "\"2024-01-01T00:00:00.123456\"" },
        { "ZonedTimestamp", """{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}""", "2024-01-02T03:04:05.123456Z", "\"2024-01-02T03:04:05.123456Z\"" },
        { "ZonedTimestamp -infinity", """{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}""", "-infinity", "\"-infinity\"" },
        { "ZonedTime", """{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTime"}""", "01:00:00+02:00", "\"23:00:00.000000Z\"" },
        { "MicroDuration", """{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroDuration"}""", 90061000001L, "90061000001" },
        { "Interval", """{"type":"string","connect.version":1,"connect.name":"io.debezium.time.Interval"}""", "P1DT2H", "\"P1DT2H\"" },
        { "Json", """{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}""", "{\"a\":[1,2]}", "{\"a\":[1,2]}" },
        { "Uuid", """{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Uuid"}""", "5f0c8a3e-2b7d-4c1a-9e8f-0123456789ab", "\"5f0c8a3e-2b7d-4c1a-9e8f-0123456789ab\"" },
        { "Xml", """{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Xml"}""", "<a/>", "\"<a/>\"" },
        { "Enum as string", """{"type":"string","connect.version":1,"connect.parameters":{"allowed":"placed,shipped"},"connect.name":"io.debezium.data.Enum"}""", "shipped", "\"shipped\"" },
        { "Bits", """{"type":"bytes","connect.version":1,"connect.parameters":{"length":"10"},"connect.name":"io.debezium.data.Bits"}""", new byte[] { 0x03, 0x02 }, "\"1000000011\"" },
        { "Bits of a BIT VARYING without length", """{"type":"bytes","connect.version":1,"connect.parameters":{"length":"2147483647"},"connect.name":"io.debezium.data.Bits"}""", new byte[] { 0x05 }, "\"101\"" },
        { "bytes", "\"bytes\"", new byte[] { 1, 2, 3 }, "\"AQID\"" },
        { "unknown logical name", """{"type":"long","connect.version":1,"connect.name":"com.acme.Cents"}""", 42L, "42" },
        { "placeholder text", """["null","string"]""", "__debezium_unavailable_value", "{\"$unavailable\":true}" },
        { "placeholder bytea", """["null","bytes"]""", "__debezium_unavailable_value"u8.ToArray(), "{\"$unavailable\":true}" },
        { "placeholder json", """["null",{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}]""", "__debezium_unavailable_value", "{\"$unavailable\":true}" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Connect_types_decode_like_the_json_path(string what, string columnSchema, object? value, string expected)
    {
        Assert.NotEmpty(what);
        Assert.Equal(expected, await _avro.DecodeColumnAsync(columnSchema, Is(value)));
    }

    [Theory]
    [InlineData("-1250", 2, "\"-12.50\"")]
    [InlineData("1000001", 0, "\"1000001\"")]
    [InlineData("12345678901234567890123456789012345", 3, "\"12345678901234567890123456789012.345\"")]
    public async Task Decimal_is_avro_bytes_with_the_decimal_logical_type(string unscaled, int scale, string expected)
    {
        var schema = $$"""{"type":"bytes","scale":{{scale}},"precision":40,"connect.version":1,"connect.parameters":{"scale":"{{scale}}","connect.decimal.precision":"40"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}""";
        var value = new AvroDecimal(BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture), scale);
        Assert.Equal(expected, await _avro.DecodeColumnAsync(schema, Is(value)));
        var change = await _avro.DecodeAsync(DebeziumAvro.Envelope(schema, Is(value)));
        Assert.IsType<ExactDecimal>(change.After!["v"]);
    }

    [Theory]
    [InlineData(3, 5, "123", "\"0.00123\"")] // PostgreSQL 15+: NUMERIC(3,5) holds 0.00123
    [InlineData(1, 3, "-5", "\"-0.005\"")]
    public async Task A_decimal_whose_avro_logical_type_is_invalid_decodes_by_its_connect_scale(int precision, int scale, string unscaled, string expected)
    {
        // AvroData writes the column's precision and scale as they are; Java's Avro (the registry's, the converter's)
        // ignores a decimal logical type whose scale exceeds its precision, as the Avro specification says to.
        var written = $$"""{"type":"bytes","connect.version":1,"connect.parameters":{"scale":"{{scale}}","connect.decimal.precision":"{{precision}}"},"connect.name":"org.apache.kafka.connect.data.Decimal"}""";
        var unscaledBytes = BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture).ToByteArray(isUnsigned: false, isBigEndian: true);
        var bytes = await _avro.SerializeAsync(DebeziumAvro.Envelope(written, Is(unscaledBytes)));
        var envelope = DebeziumAvro.EnvelopeSchema(written).ToString().Replace(
            """{"type":"bytes","connect.version":1""", $$"""{"type":"bytes","scale":{{scale}},"precision":{{precision}},"logicalType":"decimal","connect.version":1""", StringComparison.Ordinal);
        Assert.Contains("\"logicalType\":\"decimal\"", envelope, StringComparison.Ordinal);
        var id = await _avro.Registry.RegisterSchemaAsync("srv.public.t-value", envelope);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1, 4), id);

        var change = await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(
            new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 0, Offset = 1, Value = bytes }, TestContext.Current.CancellationToken);
        Assert.Equal(expected, Core.Json.CanonicalJson.Serialize(change.After!)["{\"v\":".Length..^1]);
    }

    [Fact]
    public async Task Stopping_while_the_schema_registry_does_not_answer_does_not_wait_out_its_timeout()
    {
        // A registry that accepts the connection and never answers: Confluent's client waits its request timeout (30 s by
        // default) and takes no cancellation token, so a pipeline asked to stop (SIGTERM; docker stop allows 10 s) hung on it.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start(16);
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}";
        using var registry = new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = url });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        stop.CancelAfter(TimeSpan.FromMilliseconds(300));
        var record = new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 0, Offset = 1, Value = new byte[] { 0, 0, 0, 0, 42, 2 } };
        var watch = System.Diagnostics.Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await new DebeziumAvroDecoder(registry).DecodeAsync(record, stop.Token));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"stopping took {watch.Elapsed}");
    }

    [Fact]
    public async Task Connect_logical_types_with_avro_logical_types()
    {
        Assert.Equal("\"2024-01-01\"", await _avro.DecodeColumnAsync(
            """{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}""",
            Is(new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc))));
        Assert.Equal("\"2024-01-01T00:00:00.123000\"", await _avro.DecodeColumnAsync(
            """{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}""",
            Is(new DateTime(2024, 1, 1, 0, 0, 0, 123, DateTimeKind.Utc))));
        Assert.Equal("\"01:02:03.004000\"", await _avro.DecodeColumnAsync(
            """{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}""",
            Is(new TimeSpan(0, 1, 2, 3, 4))));
    }

    [Fact]
    public async Task VariableScaleDecimal_is_a_record_of_scale_and_value()
    {
        const string schema = """{"type":"record","name":"VariableScaleDecimal","namespace":"io.debezium.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}],"connect.doc":"Variable scaled decimal","connect.version":1,"connect.name":"io.debezium.data.VariableScaleDecimal"}""";
        Assert.Equal("\"12.345\"", await _avro.DecodeColumnAsync(schema, s =>
        {
            var r = new GenericRecord((RecordSchema)s);
            r.Add("scale", 3);
            r.Add("value", new BigInteger(12345).ToByteArray(isUnsigned: false, isBigEndian: true));
            return r;
        }));
    }

    [Fact]
    public async Task Avro_enums_arrays_maps_and_structs()
    {
        Assert.Equal("\"sad\"", await _avro.DecodeColumnAsync(
            """{"type":"enum","name":"mood","namespace":"srv","symbols":["happy","sad"],"connect.parameters":{"allowed":"happy,sad"},"connect.name":"io.debezium.data.Enum"}""",
            s => new GenericEnum((EnumSchema)s, "sad")));
        Assert.Equal("[1,null,3]", await _avro.DecodeColumnAsync("""{"type":"array","items":["null","int"]}""", Is(new object?[] { 1, null, 3 })));
        Assert.Equal("[\"2024-01-01\"]", await _avro.DecodeColumnAsync(
            """{"type":"array","items":["null",{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}]}""", Is(new object?[] { 19723 })));
        Assert.Equal("{\"$unavailable\":true}", await _avro.DecodeColumnAsync("""{"type":"array","items":["null","string"]}""", Is(new object?[] { "__debezium_unavailable_value" })));
        Assert.Equal("{\"a\":\"1\"}", await _avro.DecodeColumnAsync("""{"type":"map","values":["null","string"]}""", Is(new Dictionary<string, object?> { ["a"] = "1" })));
        Assert.Equal("""{"x":1.5,"y":-2,"wkb":null,"srid":4326}""", await _avro.DecodeColumnAsync(
            """{"type":"record","name":"Point","namespace":"io.debezium.data.geometry","fields":[{"name":"x","type":"double"},{"name":"y","type":"double"},{"name":"wkb","type":["null","bytes"],"default":null},{"name":"srid","type":["null","int"],"default":null}],"connect.version":1,"connect.name":"io.debezium.data.geometry.Point"}""",
            s =>
            {
                var r = new GenericRecord((RecordSchema)NonNull(s));
                r.Add("x", 1.5);
                r.Add("y", -2.0);
                r.Add("wkb", null);
                r.Add("srid", 4326);
                return r;
            }));
    }

    [Fact]
    public async Task The_envelope_source_key_and_position_decode()
    {
        var keySchema = (RecordSchema)Schema.Parse("""{"type":"record","name":"Key","namespace":"srv.public.t","fields":[{"name":"id","type":"int"}],"connect.name":"srv.public.t.Key"}""");
        var key = new GenericRecord(keySchema);
        key.Add("id", 7);
        var keyBytes = await _avro.SerializeAsync(key, MessageComponentType.Key);
        var valueBytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1), "u"));
        var decoder = new DebeziumAvroDecoder(_avro.Registry);

        var change = await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 2, Offset = 9, Key = keyBytes, Value = valueBytes }, TestContext.Current.CancellationToken);
        Assert.Equal(ChangeKind.Change, change.Kind);
        Assert.Equal(ChangeOperation.Update, change.Operation);
        Assert.Equal(7L, change.Key!["id"]);
        Assert.Equal(SnapshotMarker.First, change.Source.Snapshot);
        Assert.Equal(24023040, change.Source.Lsn);
        Assert.Equal(770, change.Source.TxId);
        Assert.Equal(new UtcTimestamp(1709280000412345), change.Source.CommitTime);
        Assert.Equal(SourcePosition.ForKafka(DebeziumAvro.Topic, 2, 9), change.Position);

        var tombstone = await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 2, Offset = 10, Key = keyBytes, Value = null }, TestContext.Current.CancellationToken);
        Assert.Equal(ChangeKind.Tombstone, tombstone.Kind);
        Assert.Equal(7L, tombstone.Key!["id"]);

        var moved = await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Key = keyBytes, Value = valueBytes, Headers = [new("__debezium.newkey", keyBytes)] }, TestContext.Current.CancellationToken);
        Assert.Equal(7L, moved.NewKey!["id"]);
    }

    [Fact]
    public async Task The_sample_order_table_as_debezium_2_5_and_the_avro_converter_write_it()
    {
        // tb_ord_mst (samples/legacy-orders/schema.sql) as AvroData renders Debezium's Connect schemas: NUMERIC(10)
        // key and NUMERIC(12,2) as decimals with connect.parameters, a column default as the union's first branch
        // (connect.default), the transaction block, and the key as its own record under <topic>-key.
        const string decimal10 = """{"type":"bytes","scale":0,"precision":10,"connect.version":1,"connect.parameters":{"scale":"0","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}""";
        var keySchema = (RecordSchema)Schema.Parse($$"""{"type":"record","name":"Key","namespace":"legacy.public.tb_ord_mst","fields":[{"name":"ord_no","type":{{decimal10}}}],"connect.name":"legacy.public.tb_ord_mst.Key"}""");
        var envelope = (RecordSchema)Schema.Parse($$$"""
            {"type":"record","name":"Envelope","namespace":"legacy.public.tb_ord_mst","fields":[
              {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
                {"name":"ord_no","type":{{{decimal10}}}},
                {"name":"cust_no","type":"string"},
                {"name":"ord_dt","type":"string"},
                {"name":"ord_sts_cd","type":{"type":"string","connect.default":"P"},"default":"P"},
                {"name":"ord_amt","type":{"type":"bytes","scale":2,"precision":12,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"12"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
                {"name":"shp_dt","type":{"type":"string","connect.default":"        "},"default":"        "},
                {"name":"ord_memo","type":["null","string"],"default":null},
                {"name":"upd_ts","type":[{"type":"long","connect.version":1,"connect.default":0,"connect.name":"io.debezium.time.MicroTimestamp"},"null"],"default":0}],
               "connect.name":"legacy.public.tb_ord_mst.Value"}],"default":null},
              {"name":"after","type":["null","Value"],"default":null},
              {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
                {"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},
                {"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},
                {"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},{"name":"schema","type":"string"},{"name":"table","type":"string"},
                {"name":"txId","type":["null","long"],"default":null},{"name":"lsn","type":["null","long"],"default":null},{"name":"xmin","type":["null","long"],"default":null}],
               "connect.name":"io.debezium.connector.postgresql.Source"}},
              {"name":"op","type":"string"},
              {"name":"ts_ms","type":["null","long"],"default":null},
              {"name":"transaction","type":["null",{"type":"record","name":"block","namespace":"event","fields":[{"name":"id","type":"string"},{"name":"total_order","type":"long"},{"name":"data_collection_order","type":"long"}],"connect.version":1,"connect.name":"event.block"}],"default":null}],
             "connect.version":1,"connect.name":"legacy.public.tb_ord_mst.Envelope"}
            """);
        var key = new GenericRecord(keySchema);
        key.Add("ord_no", new AvroDecimal(1000002m));
        var before = Row(envelope, "P", "        ");
        var after = Row(envelope, "S", "20240301");
        var source = new GenericRecord((RecordSchema)envelope["source"].Schema);
        foreach (var (name, field) in new (string, object?)[]
                 {
                     ("version", "2.5.4.Final"), ("connector", "postgresql"), ("name", "legacy"), ("ts_ms", 1709280000412L), ("snapshot", "false"), ("db", "legacy"),
                     ("sequence", "[\"24023000\",\"24023040\"]"), ("schema", "public"), ("table", "tb_ord_mst"), ("txId", 770L), ("lsn", 24023040L), ("xmin", null),
                 })
        {
            source.Add(name, field);
        }

        var block = new GenericRecord((RecordSchema)((UnionSchema)envelope["transaction"].Schema).Schemas[1]);
        block.Add("id", "770:24023040");
        block.Add("total_order", 1L);
        block.Add("data_collection_order", 1L);
        var value = new GenericRecord(envelope);
        value.Add("before", before);
        value.Add("after", after);
        value.Add("source", source);
        value.Add("op", "u");
        value.Add("ts_ms", 1709280000500L);
        value.Add("transaction", block);

        var keyBytes = await _avro.SerializeAsync(key, MessageComponentType.Key);
        var valueBytes = await _avro.SerializeAsync(value);
        var change = await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(
            new DebeziumRecord { Topic = "legacy.public.tb_ord_mst", Partition = 0, Offset = 3, Key = keyBytes, Value = valueBytes }, TestContext.Current.CancellationToken);

        Assert.Equal("""{"ord_no":"1000002"}""", Core.Json.CanonicalJson.Serialize(change.Key!));
        Assert.Equal(
            """{"ord_no":"1000002","cust_no":"C0000001","ord_dt":"20240229","ord_sts_cd":"S","ord_amt":"12345.60","shp_dt":"20240301","ord_memo":null,"upd_ts":"2024-03-01T08:00:00.123456"}""",
            Core.Json.CanonicalJson.Serialize(change.After!));
        Assert.Equal("P", change.Before!["ord_sts_cd"]);
        Assert.Equal(ChangeOperation.Update, change.Operation);
        Assert.Equal(770, change.Source.TxId);
        Assert.Equal(("public", "tb_ord_mst"), (change.Source.Schema, change.Source.Table));

        static GenericRecord Row(RecordSchema envelope, string status, string shipped)
        {
            var row = new GenericRecord((RecordSchema)((UnionSchema)envelope["after"].Schema).Schemas[1]);
            row.Add("ord_no", new AvroDecimal(1000002m));
            row.Add("cust_no", "C0000001");
            row.Add("ord_dt", "20240229");
            row.Add("ord_sts_cd", status);
            row.Add("ord_amt", new AvroDecimal(12345.60m));
            row.Add("shp_dt", shipped);
            row.Add("ord_memo", null);
            row.Add("upd_ts", 1709280000123456L);
            return row;
        }
    }

    [Fact]
    public async Task The_kafka_sources_avro_decoder_keeps_the_value_and_key_bytes_for_dead_letters()
    {
        var keySchema = (RecordSchema)Schema.Parse("""{"type":"record","name":"Key","namespace":"srv.public.t","fields":[{"name":"id","type":"int"}],"connect.name":"srv.public.t.Key"}""");
        var key = new GenericRecord(keySchema);
        key.Add("id", 7);
        var keyBytes = await _avro.SerializeAsync(key, MessageComponentType.Key);
        var valueBytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1), "u"));

        var change = await new AvroRecordDecoder(_avro.Registry).DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 2, Offset = 9, Key = keyBytes, Value = valueBytes }, TestContext.Current.CancellationToken);
        Assert.Equal(valueBytes, change.Raw!.Value.ToArray());
        Assert.Equal(keyBytes, change.RawKey!.Value.ToArray());
    }

    [Theory]
    [InlineData("""{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"srv.public.t.Key"},"payload":{"id":7}}""")]
    [InlineData("""{"id":7}""")]
    public async Task A_json_key_beside_an_avro_value_decodes(string key)
    {
        // key.converter=JsonConverter (with or without schemas), value.converter=AvroConverter: a converter each.
        var valueBytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1), "u"));

        var change = await new AvroRecordDecoder(_avro.Registry).DecodeAsync(
            new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 0, Offset = 1, Key = System.Text.Encoding.UTF8.GetBytes(key), Value = valueBytes },
            TestContext.Current.CancellationToken);

        Assert.Equal("""{"id":7}""", Core.Json.CanonicalJson.Serialize(change.Key!));
        Assert.Equal("""{"v":1}""", Core.Json.CanonicalJson.Serialize(change.After!));
    }

    [Fact]
    public async Task A_key_neither_avro_nor_json_names_the_key()
    {
        var valueBytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1)));
        var e = await Assert.ThrowsAsync<DebeziumDecodeException>(async () => await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(
            new DebeziumRecord { Topic = DebeziumAvro.Topic, Key = "Struct{id=7}"u8.ToArray(), Value = valueBytes }, TestContext.Current.CancellationToken));
        Assert.StartsWith("the key starts with byte 0x53, not the Confluent wire format's magic byte 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Heartbeats_decode_from_avro()
    {
        var schema = (RecordSchema)Schema.Parse("""{"type":"record","name":"Heartbeat","namespace":"io.debezium.connector.common","fields":[{"name":"ts_ms","type":"long"}],"connect.name":"io.debezium.connector.common.Heartbeat"}""");
        var value = new GenericRecord(schema);
        value.Add("ts_ms", 1709280010000L);
        var bytes = await _avro.SerializeAsync(value);
        var change = await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(new DebeziumRecord { Topic = "__debezium-heartbeat.srv", Value = bytes }, TestContext.Current.CancellationToken);
        Assert.Equal(ChangeKind.Heartbeat, change.Kind);
        Assert.Equal(new UtcTimestamp(1709280010000000), change.CapturedAt);
    }

    [Fact]
    public async Task Transaction_metadata_decodes_from_avro()
    {
        // Debezium's unnamed data_collections struct becomes AvroData's io.confluent.connect.avro.ConnectDefault.
        var schema = (RecordSchema)Schema.Parse("""
            {"type":"record","name":"TransactionMetadataValue","namespace":"io.debezium.connector.common","fields":[
              {"name":"status","type":"string"},{"name":"id","type":"string"},{"name":"event_count","type":["null","long"],"default":null},
              {"name":"data_collections","type":["null",{"type":"array","items":{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[
                {"name":"data_collection","type":"string"},{"name":"event_count","type":"long"}]}}],"default":null},
              {"name":"ts_ms","type":"long"}],
             "connect.version":1,"connect.name":"io.debezium.connector.common.TransactionMetadataValue"}
            """);
        var collection = new GenericRecord((RecordSchema)((ArraySchema)((UnionSchema)schema["data_collections"].Schema).Schemas[1]).ItemSchema);
        collection.Add("data_collection", "public.tb_ord_mst");
        collection.Add("event_count", 2L);
        var value = new GenericRecord(schema);
        value.Add("status", "END");
        value.Add("id", "770:24023040");
        value.Add("event_count", 2L);
        value.Add("data_collections", new object[] { collection });
        value.Add("ts_ms", 1709280000412L);
        var bytes = await _avro.SerializeAsync(value);

        var change = await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(new DebeziumRecord { Topic = "legacy.transaction", Partition = 0, Offset = 4, Value = bytes }, TestContext.Current.CancellationToken);
        Assert.Equal(ChangeKind.Transaction, change.Kind);
        Assert.Equal("END", change.Transaction!.Status);
        Assert.Equal(770, change.Source.TxId);
        Assert.Equal("legacy", change.Source.Name);
        Assert.Equal(2L, change.Transaction.DataCollections!["public.tb_ord_mst"]);
    }

    [Fact]
    public async Task A_column_added_mid_stream_is_a_new_writer_schema_and_older_records_still_decode()
    {
        // ALTER TABLE … ADD COLUMN: the converter registers a second value schema (a new id) under the same subject;
        // records written before it, read again later (a replay), keep their own id.
        var before = DebeziumAvro.Envelope("\"int\"", Is(1));
        var v1 = await _avro.SerializeAsync(before);
        var added = (RecordSchema)Schema.Parse(DebeziumAvro.EnvelopeSchema("\"int\"").ToString().Replace(
            """{"name":"v","type":"int"}""", """{"name":"v","type":"int"},{"name":"memo","type":["null","string"],"default":null}""", StringComparison.Ordinal));
        var after = new GenericRecord(added);
        foreach (var field in added.Fields)
        {
            after.Add(field.Name, before[field.Name]);
        }

        var row = new GenericRecord(DebeziumAvro.ValueSchema(added));
        row.Add("v", 2);
        row.Add("memo", "new column");
        after.Add("after", row);
        var v2 = await _avro.SerializeAsync(after);
        Assert.NotEqual(v1[..5], v2[..5]);

        var decoder = new DebeziumAvroDecoder(_avro.Registry);
        async Task<string> Decode(byte[] bytes) => Core.Json.CanonicalJson.Serialize((await decoder.DecodeAsync(
            new DebeziumRecord { Topic = DebeziumAvro.Topic, Partition = 0, Offset = 1, Value = bytes }, TestContext.Current.CancellationToken)).After!);
        Assert.Equal("""{"v":1}""", await Decode(v1));
        Assert.Equal("""{"v":2,"memo":"new column"}""", await Decode(v2));
        Assert.Equal("""{"v":1}""", await Decode(v1));
    }

    [Fact]
    public async Task Wrong_magic_byte()
    {
        var bytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1)));
        bytes[0] = (byte)'{';
        var e = await Assert.ThrowsAsync<DebeziumDecodeException>(async () =>
            await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Value = bytes }, TestContext.Current.CancellationToken));
        Assert.Equal("the value starts with byte 0x7b, not the Confluent wire format's magic byte 0 (is the topic written by the JSON converter?)", e.Message);
    }

    [Fact]
    public async Task Unknown_schema_id()
    {
        var bytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1)));
        bytes[1] = 0;
        bytes[2] = 0;
        bytes[3] = 3;
        bytes[4] = 231; // id 999
        var e = await Assert.ThrowsAsync<DebeziumDecodeException>(async () =>
            await new DebeziumAvroDecoder(_avro.Registry).DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Value = bytes }, TestContext.Current.CancellationToken));
        Assert.StartsWith("unknown schema id 999 for the value: the Schema Registry says: Schema 999 not found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Truncated_avro_data_and_too_short_frames()
    {
        var bytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"string\"", Is("hello")));
        var decoder = new DebeziumAvroDecoder(_avro.Registry);
        var e = await Assert.ThrowsAsync<DebeziumDecodeException>(async () =>
            await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Value = bytes[..^20] }, TestContext.Current.CancellationToken));
        Assert.StartsWith("the value is truncated or not Avro data of schema id 1", e.Message, StringComparison.Ordinal);

        e = await Assert.ThrowsAsync<DebeziumDecodeException>(async () =>
            await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Value = new byte[] { 0, 0, 1 } }, TestContext.Current.CancellationToken));
        Assert.Equal("the value is 3 bytes: too short for the Confluent wire format (magic byte + 4-byte schema id)", e.Message);
    }

    [Fact]
    public async Task Data_not_of_its_schema_claiming_a_huge_string_fails_without_allocating_it()
    {
        // A registry of another environment (same ids, other schemas) or corrupt bytes: a string length read from
        // the wrong bytes claims up to 2 GB, which Apache.Avro's ReadString allocated before finding the data short.
        var bytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"string\"", Is("hello")));
        var at = bytes.AsSpan().IndexOf("hello"u8) - 1;
        Assert.Equal(10, bytes[at]); // zigzag length 5
        var huge = new MemoryStream();
        new BinaryEncoder(huge).WriteLong(1_500_000_000L);
        bytes = [.. bytes[..at], .. huge.ToArray(), .. bytes[(at + 1)..]];
        var decoder = new DebeziumAvroDecoder(_avro.Registry);
        await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Value = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"string\"", Is("warm"))) }, TestContext.Current.CancellationToken);

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var e = await Assert.ThrowsAsync<DebeziumDecodeException>(async () =>
            await decoder.DecodeAsync(new DebeziumRecord { Topic = DebeziumAvro.Topic, Value = bytes }, TestContext.Current.CancellationToken));
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.StartsWith("field 'after.v': a string of 1500000000 bytes where ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(" are left: the data is not of its schema, or corrupt", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < 10_000_000, $"{allocated} bytes allocated");
    }

    [Fact]
    public async Task Decimal_without_scale_names_the_field()
    {
        var e = await Assert.ThrowsAsync<DebeziumDecodeException>(() => _avro.DecodeAsync(DebeziumAvro.Envelope(
            """{"type":"bytes","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Decimal"}""", Is(new byte[] { 1 }))));
        Assert.Equal("field 'after.v': Decimal schema without 'scale' parameter", e.Message);
    }

    [Fact]
    public async Task The_in_memory_registry_serves_what_the_serdes_need()
    {
        var registry = _avro.Registry;
        var bytes = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(1)));
        var again = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"int\"", Is(2)));
        Assert.Equal(bytes[..5], again[..5]); // same schema, same id
        var latest = await registry.GetLatestSchemaAsync("srv.public.t-value");
        Assert.Equal(1, latest.Id);
        Assert.Equal(1, latest.Version);
        Assert.Equal(["srv.public.t-value"], await registry.GetAllSubjectsAsync());
        var other = await _avro.SerializeAsync(DebeziumAvro.Envelope("\"long\"", Is(2L)));
        Assert.Equal(2, (await registry.GetLatestSchemaAsync("srv.public.t-value")).Version);
        Assert.Equal(2, other[4]);

        // Confluent's own deserializer reads what the registry holds.
        var deserializer = new Confluent.SchemaRegistry.Serdes.AvroDeserializer<GenericRecord>(registry);
        var record = await deserializer.DeserializeAsync(bytes, false, new SerializationContext(MessageComponentType.Value, DebeziumAvro.Topic));
        Assert.Equal("c", record["op"]);

        Assert.Equal(40403, (await Assert.ThrowsAsync<SchemaRegistryException>(() => registry.GetSchemaAsync(42))).ErrorCode);

        // As the registry's lookup (POST /subjects/{subject}): an unknown subject is 40401, an unknown schema under a known one 40403.
        var unknownSubject = await Assert.ThrowsAsync<SchemaRegistryException>(() => registry.LookupSchemaAsync("nope-value", new Confluent.SchemaRegistry.Schema("\"int\"", Confluent.SchemaRegistry.SchemaType.Avro), ignoreDeletedSchemas: true));
        Assert.Equal(40401, unknownSubject.ErrorCode);
        var unknownSchema = await Assert.ThrowsAsync<SchemaRegistryException>(() => registry.LookupSchemaAsync("srv.public.t-value", new Confluent.SchemaRegistry.Schema("\"int\"", Confluent.SchemaRegistry.SchemaType.Avro), ignoreDeletedSchemas: true));
        Assert.Equal(40403, unknownSchema.ErrorCode);
        var unsupported = await Assert.ThrowsAsync<NotSupportedException>(() => registry.GetCompatibilityAsync("x"));
        Assert.Contains("GetCompatibilityAsync", unsupported.Message, StringComparison.Ordinal);
    }
}
