using System.Text;
using CdcPipeline.Core.Debezium;
using static CdcPipeline.Tests.Debezium.DebeziumJson;

namespace CdcPipeline.Tests.Debezium;

/// <summary>Bad input fails with an error that names what is wrong and where.</summary>
public class MalformedInputTests
{
    private static DebeziumDecodeException Fails(string json, DebeziumDecoderOptions? options = null) =>
        Assert.Throws<DebeziumDecodeException>(() => Decode(json, options));

    [Fact]
    public void Truncated_json()
    {
        var json = Value("""{"type":"int32","optional":false}""", "1");
        var e = Fails(json[..(json.Length / 2)]);
        Assert.Contains("malformed JSON in the value", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_json_after_its_schema_was_seen_before()
    {
        var decoder = new DebeziumJsonDecoder();
        var json = Value("""{"type":"int32","optional":false}""", "1");
        decoder.DecodeValue(Encoding.UTF8.GetBytes(json), 1);
        var truncated = json[..^40] + "}";
        var e = Assert.Throws<DebeziumDecodeException>(() => decoder.DecodeValue(Encoding.UTF8.GetBytes(truncated), 2));
        Assert.Contains("malformed JSON in the value", e.Message, StringComparison.Ordinal);
        var trailing = json[..^1] + ",\"x\":1}";
        Assert.Throws<DebeziumDecodeException>(() => decoder.DecodeValue(Encoding.UTF8.GetBytes(trailing), 3));
    }

    [Fact]
    public void Payload_not_matching_the_schema_names_the_field()
    {
        var e = Fails(Value("""{"type":"int32","optional":false}""", "\"abc\""));
        Assert.Equal("field 'after.v': schema/payload mismatch: a string for a int32 schema", e.Message);
        Assert.Equal("after.v", e.FieldPath);
    }

    [Fact]
    public void An_integer_out_of_its_schema_range()
    {
        var e = Fails(Value("""{"type":"int16","optional":false}""", "70000"));
        Assert.Equal("field 'after.v': 70000 does not fit the schema's type int16", e.Message);
    }

    [Fact]
    public void A_payload_field_the_schema_does_not_declare()
    {
        var json = Value("""{"type":"int32","optional":false}""", "1").Replace("\"after\":{\"v\":1}", "\"after\":{\"v\":1,\"w\":2}", StringComparison.Ordinal);
        var e = Fails(json);
        Assert.Contains("field 'after': schema/payload mismatch: the payload has a field 'w'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_logical_name_with_a_payload_not_of_its_base_type()
    {
        var e = Fails(Value("""{"type":"int64","optional":false,"name":"com.acme.Cents"}""", "\"12\""));
        Assert.Equal("field 'after.v': schema/payload mismatch: a string for a int64 com.acme.Cents schema", e.Message);
    }

    [Fact]
    public void An_unknown_connect_type()
    {
        var e = Fails(Value("""{"type":"int128","optional":false}""", "1"));
        Assert.Contains("unknown Connect schema type 'int128'", e.Message, StringComparison.Ordinal);
        Assert.Contains("schema.before.v", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decimal_without_scale()
    {
        var e = Fails(Value("""{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"connect.decimal.precision":"12"}}""", "\"BNI=\""));
        Assert.Equal("field 'after.v': Decimal schema without 'scale' parameter", e.Message);
    }

    [Fact]
    public void Decimal_without_scale_is_harmless_while_the_value_is_null() =>
        Assert.Null(Decode(Value("""{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1}""", "null")).After!["v"]);

    [Fact]
    public void Bad_base64()
    {
        var e = Fails(Value("""{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}""", "\"!!not base64!!\""));
        Assert.Equal("field 'after.v': bad base64 in a bytes org.apache.kafka.connect.data.Decimal value", e.Message);
    }

    [Fact]
    public void Invalid_json_in_a_json_column()
    {
        var e = Fails(Value("""{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}""", "\"{\\\"a\\\":\""));
        Assert.StartsWith("field 'after.v': Json value \"{\"a\":\" is not valid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_zoned_timestamp()
    {
        var e = Fails(Value("""{"type":"string","optional":false,"name":"io.debezium.time.ZonedTimestamp","version":1}""", "\"2024-13-01T00:00:00Z\""));
        Assert.Equal("field 'after.v': \"2024-13-01T00:00:00Z\" is not an ISO date (yyyy-MM-dd)", e.Message);
    }

    [Fact]
    public void A_value_without_op()
    {
        var e = Fails("""{"before":null,"after":{"id":1}}""");
        Assert.Contains("no 'op'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_op()
    {
        var e = Fails(Value("""{"type":"int32","optional":false}""", "1", "x"));
        Assert.Equal("field 'op': unknown operation 'x' (expected one of c u d r t m)", e.Message);
    }

    [Fact]
    public void An_unknown_snapshot_marker()
    {
        var e = Fails(Value("""{"type":"int32","optional":false}""", "1").Replace("\"snapshot\":\"false\"", "\"snapshot\":\"sometimes\"", StringComparison.Ordinal));
        Assert.Equal("field 'source.snapshot': unknown snapshot marker 'sometimes'", e.Message);
    }

    [Fact]
    public void A_value_that_is_not_an_object()
    {
        var e = Fails("[1,2]");
        Assert.Equal("the value is not a JSON object", e.Message);
    }

    [Fact]
    public void Trailing_garbage_after_the_value()
    {
        var e = Fails(Value("""{"type":"int32","optional":false}""", "1") + " x");
        Assert.Contains("malformed JSON in the value", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("io.debezium.time.NanoDuration", "int64", "5")]
    [InlineData("io.debezium.time.SomethingNew", "int64", "5")]
    [InlineData("io.debezium.data.SomethingNew", "bytes", "\"AQ==\"")]
    [InlineData("org.apache.kafka.connect.data.SomethingNew", "int32", "5")]
    public void An_unknown_debezium_logical_type_is_not_passed_off_as_its_base_value(string name, string type, string payload)
    {
        // Debezium's own names carry an encoding (a unit, an epoch) this decoder does not know: the bare number is not the value.
        var e = Fails(Value($$$"""{"type":"{{{type}}}","optional":false,"name":"{{{name}}}","version":1}""", payload));
        Assert.StartsWith($"field 'after.v': unknown logical type '{name}'", e.Message, StringComparison.Ordinal);
        Assert.Null(Decode(Value($$$"""{"type":"{{{type}}}","optional":true,"name":"{{{name}}}","version":1}""", "null")).After!["v"]);
    }

    [Theory]
    [InlineData("io.debezium.data.Tsvector")] // tsvector, as Debezium 2.x spells its logical name
    [InlineData("io.debezium.data.SomethingNew")]
    [InlineData("org.apache.kafka.connect.data.SomethingNew")]
    public void A_string_with_a_debezium_logical_name_is_its_text(string name)
    {
        // A string stays readable whatever its name says (tsvector, a newer connector's text type): stopping every record of
        // the table for it would be worse than passing the text on.
        var change = Decode(Value($$$"""{"type":"string","optional":false,"name":"{{{name}}}","version":1}""", "\"'a':1 'b':2\""));
        Assert.Equal("'a':1 'b':2", change.After!["v"]);
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"a\\udc00b\"")]
    public void A_string_with_an_unpaired_surrogate_escape_names_the_field(string payload)
    {
        var e = Fails(Value("""{"type":"string","optional":false}""", payload));
        Assert.StartsWith("field 'after.v': the string has an unpaired UTF-16 surrogate", e.Message, StringComparison.Ordinal);
        var name = Fails(Value("""{"type":"int32","optional":false}""", "1").Replace("\"after\":{\"v\":1}", "\"after\":{\"\\ud800\":1}", StringComparison.Ordinal));
        Assert.StartsWith("field 'after': the field name has an unpaired UTF-16 surrogate", name.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_with_its_payload_twice_fails_whether_or_not_its_schema_was_seen_before()
    {
        // Jackson keeps the last of duplicated keys: a second "payload":null would make the change a tombstone, silently.
        var json = Value("""{"type":"int32","optional":false}""", "1");
        var twice = json[..^1] + ",\"payload\":null}";
        Assert.Equal("the value has 'payload' twice", Fails(twice).Message);

        var decoder = new DebeziumJsonDecoder();
        decoder.DecodeValue(Encoding.UTF8.GetBytes(json), 1);
        var warm = Assert.Throws<DebeziumDecodeException>(() => decoder.DecodeValue(Encoding.UTF8.GetBytes(twice), 2));
        Assert.Equal("the value has 'payload' twice", warm.Message);
        var schemaTwice = "{\"schema\":null," + json[1..];
        Assert.Equal("the value has 'schema' twice", Fails(schemaTwice).Message);
    }

    /// <summary>
    /// README's kcat line, run against the compose stack, whose connector writes Avro: kcat -J passes the Confluent wire
    /// format (magic byte 0, a 4-byte schema id, Avro) as it is. Told as JSON that does not parse, the reader would not
    /// learn the topic's converter is the cause.
    /// </summary>
    [Theory]
    [InlineData("\\u0000\\u0000\\u0000\\u0000\\u0007\\u0010", "key", 7)]
    [InlineData("{\\\"ord_no\\\":1}", "value", 300)]
    public void A_kcat_line_of_an_Avro_topic_says_it_is_Avro_not_JSON(string key, string part, int schemaId)
    {
        var line = $$"""{"topic":"legacy.public.tb_ord_mst","partition":0,"offset":42,"key":"{{key}}","payload":"\u0000\u0000\u0000\u0001\u002c\u0002\u0010C0000001"}""";

        var e = Assert.Throws<DebeziumDecodeException>(() => new DebeziumJsonDecoder().DecodeLine(Encoding.UTF8.GetBytes(line), 1));

        Assert.StartsWith($"the {part} is Avro in Schema Registry's wire format (schema id {schemaId}), not JSON:", e.Message, StringComparison.Ordinal);
        Assert.Contains("source.kafka.format: avro", e.Message, StringComparison.Ordinal);
    }

    /// <summary>kcat -J escapes control characters but writes every other byte as it is: Avro's bytes are no UTF-8 text.</summary>
    [Fact]
    public void A_kcat_line_with_the_raw_bytes_of_an_Avro_record_says_it_is_Avro_not_JSON()
    {
        byte[] line =
        [
            .. """{"topic":"legacy.public.tb_ord_mst","partition":0,"offset":42,"key":"\u0000\u0000\u0000\u0000\u0007"""u8,
            0xc8, 0xff, 0xfe,
            .. """\"x","payload":null}"""u8,
        ];

        var e = Assert.Throws<DebeziumDecodeException>(() => new DebeziumJsonDecoder().DecodeLine(line, 1));

        Assert.StartsWith("the key is Avro in Schema Registry's wire format (schema id 7), not JSON:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_kcat_line()
    {
        var e = Assert.Throws<DebeziumDecodeException>(() => new DebeziumJsonDecoder().DecodeLine(Encoding.UTF8.GetBytes("""{"topic":"a","partition":"zero"}"""), 3));
        Assert.Equal("kcat field 'partition' is not an integer", e.Message);
    }
}
