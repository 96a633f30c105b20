using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using static CdcPipeline.Tests.Debezium.DebeziumJson;

namespace CdcPipeline.Tests.Debezium;

public class EnvelopeDecodingTests
{
    private const string IntColumn = """{"type":"int32","optional":false}""";
    private const string Key = """{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"srv.public.t.Key"},"payload":{"id":7}}""";

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("c", ChangeOperation.Create)]
    [InlineData("u", ChangeOperation.Update)]
    [InlineData("d", ChangeOperation.Delete)]
    [InlineData("r", ChangeOperation.Read)]
    [InlineData("t", ChangeOperation.Truncate)]
    public void Every_op_code_decodes(string code, ChangeOperation op)
    {
        var change = Decode(Value(IntColumn, "1", code));
        Assert.Equal(ChangeKind.Change, change.Kind);
        Assert.Equal(op, change.Operation);
    }

    [Fact]
    public void The_source_block_fills_source_info()
    {
        var change = Decode(Value(IntColumn, "1"));
        var s = change.Source;
        Assert.Equal("postgresql", s.Connector);
        Assert.Equal("srv", s.Name);
        Assert.Equal("legacy", s.Database);
        Assert.Equal("public.t", s.QualifiedTable);
        Assert.Equal(24023040, s.Lsn);
        Assert.Equal(770, s.TxId);
        Assert.Equal(new UtcTimestamp(1709280000412345), s.CommitTime); // ts_us wins over ts_ms
        Assert.Equal(SnapshotMarker.False, s.Snapshot);
        Assert.Equal(new UtcTimestamp(1709280000500000), change.CapturedAt);
    }

    [Theory]
    [InlineData("\"true\"", SnapshotMarker.True)]
    [InlineData("\"first\"", SnapshotMarker.First)]
    [InlineData("\"first_in_data_collection\"", SnapshotMarker.FirstInDataCollection)]
    [InlineData("\"last_in_data_collection\"", SnapshotMarker.LastInDataCollection)]
    [InlineData("\"last\"", SnapshotMarker.Last)]
    [InlineData("\"incremental\"", SnapshotMarker.Incremental)]
    [InlineData("\"false\"", SnapshotMarker.False)]
    [InlineData("null", SnapshotMarker.False)]
    public void Snapshot_markers_decode_from_the_enum_strings(string snapshot, SnapshotMarker expected)
    {
        var json = Value(IntColumn, "1", "r").Replace("\"snapshot\":\"false\"", $"\"snapshot\":{snapshot}", StringComparison.Ordinal);
        Assert.Equal(expected, Decode(json).Source.Snapshot);
    }

    [Theory]
    [InlineData("true", SnapshotMarker.True)]
    [InlineData("false", SnapshotMarker.False)]
    public void Snapshot_markers_decode_from_the_old_boolean(string snapshot, SnapshotMarker expected)
    {
        var json = Value(IntColumn, "1", "r")
            .Replace("\"snapshot\":\"false\"", $"\"snapshot\":{snapshot}", StringComparison.Ordinal)
            .Replace("""{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"}""",
                """{"type":"boolean","optional":true,"default":false,"field":"snapshot"}""", StringComparison.Ordinal);
        Assert.Equal(expected, Decode(json).Source.Snapshot);
    }

    [Fact]
    public void A_kafka_record_gets_its_key_and_kafka_position()
    {
        var change = new DebeziumJsonDecoder().Decode(new DebeziumRecord
        {
            Topic = "srv.public.t",
            Partition = 3,
            Offset = 42,
            Key = U(Key),
            Value = U(Value(IntColumn, "1")),
        });
        Assert.Equal(SourcePosition.ForKafka("srv.public.t", 3, 42), change.Position);
        Assert.Equal(7L, change.Key!["id"]);
        Assert.Equal("srv.public.t", change.Source.Topic);
    }

    [Fact]
    public void Retained_raw_bytes_include_the_key_so_a_dead_letter_keeps_its_partitioning()
    {
        var record = new DebeziumRecord { Topic = "srv.public.t", Partition = 3, Offset = 42, Key = U(Key), Value = U(Value(IntColumn, "1")) };
        var retained = new DebeziumJsonDecoder(new DebeziumDecoderOptions { RetainRaw = true }).Decode(record);
        Assert.Equal(U(Value(IntColumn, "1")), retained.Raw!.Value.ToArray());
        Assert.Equal(U(Key), retained.RawKey!.Value.ToArray());

        var plain = new DebeziumJsonDecoder().Decode(record);
        Assert.Null(plain.Raw);
        Assert.Null(plain.RawKey);
    }

    [Fact]
    public void A_bare_value_line_is_positioned_by_its_line_number()
    {
        var change = new DebeziumJsonDecoder().DecodeLine(U(Value(IntColumn, "1")), 12);
        Assert.Equal(new SourcePosition("line", 12), change.Position);
    }

    [Fact]
    public void A_null_value_after_a_delete_is_a_tombstone_with_the_key()
    {
        var change = new DebeziumJsonDecoder().Decode(new DebeziumRecord { Topic = "srv.public.t", Partition = 0, Offset = 9, Key = U(Key), Value = null });
        Assert.Equal(ChangeKind.Tombstone, change.Kind);
        Assert.Equal(7L, change.Key!["id"]);
        Assert.Equal("public", change.Source.Schema);
        Assert.Equal("t", change.Source.Table);
        Assert.Equal("""{"kind":"tombstone","schema":"public","table":"t","lsn":null,"txId":null,"snapshot":false,"key":{"id":7}}""", CanonicalJson.Serialize(change));
    }

    [Fact]
    public void A_tombstone_after_a_delete_in_a_table_without_key_has_neither_key_nor_value()
    {
        // Debezium writes the tombstone with the delete's key whatever it is: a keyless table (REPLICA IDENTITY FULL,
        // tb_aud_log in connector-config) gets a record with a null key and a null value after each delete.
        var change = new DebeziumJsonDecoder().Decode(new DebeziumRecord { Topic = "srv.public.t", Partition = 0, Offset = 9, Key = null, Value = null });
        Assert.Equal(ChangeKind.Tombstone, change.Kind);
        Assert.Null(change.Key);
        Assert.Equal("public.t", change.Source.QualifiedTable);
        Assert.Equal(SourcePosition.ForKafka("srv.public.t", 0, 9), change.Position);
    }

    [Fact]
    public void A_kcat_line_with_a_null_payload_is_a_tombstone()
    {
        var line = $$"""{"topic":"srv.public.t","partition":0,"offset":5,"tstype":"create","ts":1,"broker":1,"key":{{System.Text.Json.JsonSerializer.Serialize(Key)}},"payload":null}""";
        var change = new DebeziumJsonDecoder().DecodeLine(U(line), 1);
        Assert.Equal(ChangeKind.Tombstone, change.Kind);
        Assert.Equal(SourcePosition.ForKafka("srv.public.t", 0, 5), change.Position);
    }

    [Fact]
    public void Heartbeat_records_decode_to_heartbeats()
    {
        const string key = """{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"serverName"}],"optional":false,"name":"io.debezium.connector.common.ServerNameKey"},"payload":{"serverName":"srv"}}""";
        const string value = """{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat"},"payload":{"ts_ms":1709280010000}}""";
        var change = new DebeziumJsonDecoder().Decode(new DebeziumRecord { Topic = "__debezium-heartbeat.srv", Partition = 0, Offset = 1, Key = U(key), Value = U(value) });
        Assert.Equal(ChangeKind.Heartbeat, change.Kind);
        Assert.Equal("srv", change.Source.Name);
        Assert.Equal(new UtcTimestamp(1709280010000000), change.CapturedAt);

        var schemaless = new DebeziumJsonDecoder().Decode(new DebeziumRecord { Topic = "__debezium-heartbeat.srv", Value = U("""{"ts_ms":1709280010000}""") });
        Assert.Equal(ChangeKind.Heartbeat, schemaless.Kind);
        Assert.Equal("srv", schemaless.Source.Name);
    }

    [Fact]
    public void Transaction_metadata_records_decode_to_transactions()
    {
        const string schema = """{"type":"struct","fields":[{"type":"string","optional":false,"field":"status"},{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":true,"field":"event_count"},{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"data_collection"},{"type":"int64","optional":false,"field":"event_count"}],"optional":false},"optional":true,"field":"data_collections"},{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue","version":1}""";
        var decoder = new DebeziumJsonDecoder();
        var begin = decoder.Decode(new DebeziumRecord { Topic = "srv.transaction", Value = U($$$"""{"schema":{{{schema}}},"payload":{"status":"BEGIN","id":"773:24024400","event_count":null,"data_collections":null,"ts_ms":1}}""") });
        var end = decoder.Decode(new DebeziumRecord { Topic = "srv.transaction", Value = U($$$"""{"schema":{{{schema}}},"payload":{"status":"END","id":"773:24024400","event_count":3,"data_collections":[{"data_collection":"public.a","event_count":2},{"data_collection":"public.b","event_count":1}],"ts_ms":2}}""") });
        Assert.Equal(ChangeKind.Transaction, begin.Kind);
        Assert.Equal("BEGIN", begin.Transaction!.Status);
        Assert.Null(begin.Transaction.EventCount);
        Assert.Equal(773, begin.Source.TxId);
        Assert.Equal("srv", begin.Source.Name);
        Assert.Equal("END", end.Transaction!.Status);
        Assert.Equal(3, end.Transaction.EventCount);
        Assert.Equal(2, end.Transaction.DataCollections!["public.a"]);
        Assert.Equal(1, end.Transaction.DataCollections["public.b"]);
        Assert.Equal("""{"kind":"transaction","schema":null,"table":null,"lsn":null,"txId":773,"snapshot":false,"status":"END","id":"773:24024400","eventCount":3}""", CanonicalJson.Serialize(end));
    }

    [Fact]
    public void Logical_messages_decode_with_prefix_and_content()
    {
        const string schema = """{"type":"struct","fields":[{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},SOURCE,{"type":"struct","fields":[{"type":"string","optional":false,"field":"prefix"},{"type":"bytes","optional":true,"field":"content"}],"optional":false,"name":"io.debezium.connector.postgresql.Message","field":"message"}],"optional":false,"name":"io.debezium.connector.postgresql.MessageValue"}""";
        var json = "{\"schema\":" + schema.Replace("SOURCE", SourceSchema, StringComparison.Ordinal) + ",\"payload\":{\"op\":\"m\",\"ts_ms\":1,\"source\":" + Source + ",\"message\":{\"prefix\":\"audit\",\"content\":\"aGVsbG8=\"}}}";
        var change = Decode(json);
        Assert.Equal(ChangeKind.Message, change.Kind);
        Assert.Equal(ChangeOperation.Message, change.Operation);
        Assert.Equal("audit", change.Message!.Prefix);
        Assert.Equal("hello"u8.ToArray(), change.Message.Content);
        Assert.True(change.Message.Transactional);

        var nonTransactional = Decode(json.Replace("\"txId\":770", "\"txId\":null", StringComparison.Ordinal));
        Assert.False(nonTransactional.Message!.Transactional);
    }

    [Fact]
    public void Primary_key_change_headers_become_new_and_old_keys()
    {
        const string newKey = """{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"srv.public.t.Key"},"payload":{"id":8}}""";
        var line = $$"""{"topic":"srv.public.t","partition":0,"offset":5,"tstype":"create","ts":1,"broker":1,"headers":["__debezium.newkey",{{System.Text.Json.JsonSerializer.Serialize(newKey)}}],"key":{{System.Text.Json.JsonSerializer.Serialize(Key)}},"payload":{{System.Text.Json.JsonSerializer.Serialize(Value(IntColumn, "1", "d"))}}}""";
        var delete = new DebeziumJsonDecoder().DecodeLine(U(line), 1);
        Assert.Equal(8L, delete.NewKey!["id"]);
        Assert.Null(delete.OldKey);

        var create = new DebeziumJsonDecoder().Decode(new DebeziumRecord
        {
            Topic = "srv.public.t",
            Value = U(Value(IntColumn, "1")),
            Headers = [new("__debezium.oldkey", U("""{"id":7}"""))],
        });
        Assert.Equal(7L, create.OldKey!["id"]);
    }

    [Fact]
    public void Schemaless_json_decodes_best_effort()
    {
        const string json = """{"before":null,"after":{"id":1,"amount":"BNI=","ratio":0.5,"big":12345678901234567890,"name":"x  ","memo":"__debezium_unavailable_value","tags":["a"],"at":1704067200123456},"source":{"version":"2.7.3.Final","connector":"postgresql","name":"srv","ts_ms":1709280000412,"snapshot":"last","db":"legacy","schema":"public","table":"t","txId":770,"lsn":24023040},"op":"r","ts_ms":1709280000500}""";
        var change = Decode(json);
        var after = change.After!;
        Assert.Equal(1L, after["id"]);
        Assert.Equal("BNI=", after["amount"]); // a base64 Decimal cannot be recognised without its schema
        Assert.Equal(0.5, after["ratio"]);
        Assert.IsType<double>(after["big"]);
        Assert.Equal("x  ", after["name"]);
        Assert.Same(Unavailable.Value, after["memo"]);
        Assert.Equal(1704067200123456L, after["at"]); // the unit of a temporal integer cannot be known either
        Assert.Equal(SnapshotMarker.Last, change.Source.Snapshot);
        Assert.Equal(24023040, change.Source.Lsn);
        Assert.Equal(ChangeOperation.Read, change.Operation);
    }

    [Fact]
    public void Schemas_enable_with_a_null_schema_is_schemaless()
    {
        var change = Decode("""{"schema":null,"payload":{"before":null,"after":{"id":1},"source":{"schema":"public","table":"t"},"op":"c","ts_ms":1}}""");
        Assert.Equal(1L, change.After!["id"]);
    }
}
