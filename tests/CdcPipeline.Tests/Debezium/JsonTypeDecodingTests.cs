using System.Numerics;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using static CdcPipeline.Tests.Debezium.DebeziumJson;

namespace CdcPipeline.Tests.Debezium;

/// <summary>Every semantic type of Debezium's PostgreSQL mapping, JSON converter with schemas.</summary>
public class JsonTypeDecodingTests
{
    private const string Decimal2 = """{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"12"}}""";

    [Theory]
    [InlineData("""{"type":"int8","optional":true}""", "-128", "-128")]
    [InlineData("""{"type":"int16","optional":false}""", "32767", "32767")]
    [InlineData("""{"type":"int32","optional":false}""", "-2147483648", "-2147483648")]
    [InlineData("""{"type":"int64","optional":false}""", "9223372036854775807", "9223372036854775807")]
    [InlineData("""{"type":"float","optional":false}""", "1.5", "1.5")]
    [InlineData("""{"type":"double","optional":false}""", "-0.25", "-0.25")]
    [InlineData("""{"type":"double","optional":false}""", "\"NaN\"", "\"NaN\"")]
    [InlineData("""{"type":"double","optional":false}""", "\"Infinity\"", "\"Infinity\"")]
    [InlineData("""{"type":"float","optional":false}""", "\"-Infinity\"", "\"-Infinity\"")]
    [InlineData("""{"type":"boolean","optional":false}""", "true", "true")]
    [InlineData("""{"type":"string","optional":false}""", "\"C01     \"", "\"C01     \"")]
    [InlineData("""{"type":"int32","optional":true}""", "null", "null")]
    public void Connect_primitives_keep_their_value(string schema, string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn(schema, payload));

    [Theory]
    [InlineData("int64", "1E+2", "100")]
    [InlineData("int64", "1.0", "1")]
    [InlineData("int64", "-2.5e1", "-25")]
    [InlineData("int32", "2147483647.000", "2147483647")]
    [InlineData("int64", "9.223372036854775807E18", "9223372036854775807")]
    [InlineData("int64", "-0", "0")]
    [InlineData("int64", "-0.0E0", "0")]
    public void Whole_numbers_written_with_exponent_or_fraction_decode_into_integer_fields(string type, string payload, string expected) =>
        // Kafka's JsonConverter reads an integer field with Jackson's longValue(): any JSON number spelling of a whole number is that number.
        Assert.Equal(expected, DecodeColumn($$$"""{"type":"{{{type}}}","optional":false}""", payload));

    [Theory]
    [InlineData("int64", "1.5", "1.5 is not a whole number for a int64 schema")]
    [InlineData("int64", "1E-1", "1E-1 is not a whole number for a int64 schema")]
    [InlineData("int64", "9223372036854775808", "9223372036854775808 does not fit the schema's type int64")]
    [InlineData("int64", "1E+19", "1E+19 does not fit the schema's type int64")]
    [InlineData("int16", "4E+4", "40000 does not fit the schema's type int16")]
    public void Numbers_that_are_not_a_whole_number_of_the_field_type_fail(string type, string payload, string reason) =>
        Assert.Equal(
            $"field 'after.v': {reason}",
            Assert.Throws<DebeziumDecodeException>(() => Decode(Value($$$"""{"type":"{{{type}}}","optional":false}""", payload))).Message);

    [Fact]
    public void Integers_become_long_and_floats_keep_their_width()
    {
        var after = Decode(Value("""{"type":"int16","optional":false}""", "7")).After!;
        Assert.IsType<long>(after["v"]);
        Assert.IsType<float>(Decode(Value("""{"type":"float","optional":false}""", "1.5")).After!["v"]);
        Assert.IsType<double>(Decode(Value("""{"type":"double","optional":false}""", "\"NaN\"")).After!["v"]);
    }

    [Theory]
    [InlineData("-1250", "2", "\"-12.50\"")]
    [InlineData("1000001", "0", "\"1000001\"")]
    [InlineData("0", "2", "\"0.00\"")]
    [InlineData("5", "3", "\"0.005\"")]
    [InlineData("-128", "0", "\"-128\"")]
    [InlineData("12345678901234567890123456789012345", "3", "\"12345678901234567890123456789012.345\"")]
    public void Decimal_is_exact_with_its_scale_and_sign(string unscaled, string scale, string expected)
    {
        var schema = $$$"""{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"{{{scale}}}","connect.decimal.precision":"40"}}""";
        var value = Decode(Value(schema, $"\"{Base64Unscaled(BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture))}\"")).After!["v"];
        Assert.IsType<ExactDecimal>(value);
        Assert.Equal(expected, DecodeColumn(schema, $"\"{Base64Unscaled(BigInteger.Parse(unscaled, System.Globalization.CultureInfo.InvariantCulture))}\""));
    }

    [Fact]
    public void Decimal_written_as_a_json_number_keeps_the_schema_scale() =>
        Assert.Equal("\"12.50\"", DecodeColumn(Decimal2, "12.5"));

    [Fact]
    public void VariableScaleDecimal_uses_the_scale_carried_with_each_value()
    {
        const string schema = """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal"}""";
        Assert.Equal("\"12.345\"", DecodeColumn(schema, $$"""{"scale":3,"value":"{{Base64Unscaled(12345)}}"}"""));
        Assert.Equal("\"-7\"", DecodeColumn(schema, $$"""{"scale":0,"value":"{{Base64Unscaled(-7)}}"}"""));
        Assert.Equal("null", DecodeColumn(schema, "null"));
    }

    [Theory]
    [InlineData("io.debezium.time.Date", "19723", "\"2024-01-01\"")]
    [InlineData("io.debezium.time.Date", "-1", "\"1969-12-31\"")]
    [InlineData("io.debezium.time.Date", "-719162", "\"0001-01-01\"")]
    [InlineData("io.debezium.time.Date", "-2147472693", "\"infinity\"")]
    [InlineData("io.debezium.time.Date", "-2147472692", "\"-infinity\"")]
    [InlineData("org.apache.kafka.connect.data.Date", "19723", "\"2024-01-01\"")]
    public void Dates_are_days_since_the_epoch(string name, string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn($$"""{"type":"int32","optional":false,"name":"{{name}}","version":1}""", payload));

    [Theory]
    [InlineData("io.debezium.time.Time", "int32", "3723004", "\"01:02:03.004000\"")]
    [InlineData("org.apache.kafka.connect.data.Time", "int32", "3723004", "\"01:02:03.004000\"")]
    [InlineData("io.debezium.time.MicroTime", "int64", "3723004005", "\"01:02:03.004005\"")]
    [InlineData("io.debezium.time.MicroTime", "int64", "86400000000", "\"24:00:00.000000\"")]
    [InlineData("io.debezium.time.NanoTime", "int64", "3723004005006", "\"01:02:03.004005\"")]
    public void Times_are_units_since_midnight(string name, string type, string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn($$"""{"type":"{{type}}","optional":false,"name":"{{name}}","version":1}""", payload));

    [Theory]
    [InlineData("io.debezium.time.Timestamp", "1704067200123", "\"2024-01-01T00:00:00.123000\"")]
    [InlineData("org.apache.kafka.connect.data.Timestamp", "1704067200123", "\"2024-01-01T00:00:00.123000\"")]
    [InlineData("io.debezium.time.MicroTimestamp", "1704067200123456", "\"2024-01-01T00:00:00.123456\"")]
    [InlineData("io.debezium.time.MicroTimestamp", "-1", "\"1969-12-31T23:59:59.999999\"")]
    [InlineData("io.debezium.time.MicroTimestamp", "-62135596800000000", "\"0001-01-01T00:00:00.000000\"")]
    [InlineData("io.debezium.time.NanoTimestamp", "1704067200123456789", "\"2024-01-01T00:00:00.123456\"")]
    [InlineData("io.debezium.time.NanoTimestamp", "-1", "\"1969-12-31T23:59:59.999999\"")]
    [InlineData("io.debezium.time.MicroTimestamp", "9223372036825200000", "\"infinity\"")]
    [InlineData("io.debezium.time.MicroTimestamp", "-9223372036832400000", "\"-infinity\"")]
    [InlineData("io.debezium.time.Timestamp", "9223372036825200", "\"infinity\"")]
    [InlineData("io.debezium.time.Timestamp", "-9223372036832400", "\"-infinity\"")]
    public void Timestamps_without_zone_are_local_date_times(string name, string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn($$"""{"type":"int64","optional":false,"name":"{{name}}","version":1}""", payload));

    [Theory]
    // A legacy database holds years past 9999 and BC; the embedded capture renders them as ISO expanded years, and the
    // same rows recorded by Debezium must decode to the same values, not fail the line.
    [InlineData("int32", "io.debezium.time.Date", "2932897", "\"+10000-01-01\"")]
    [InlineData("int32", "io.debezium.time.Date", "-719528", "\"0000-01-01\"")]
    [InlineData("int64", "io.debezium.time.MicroTimestamp", "253402300800000000", "\"+10000-01-01T00:00:00.000000\"")]
    [InlineData("int64", "io.debezium.time.MicroTimestamp", "-62167219200000000", "\"0000-01-01T00:00:00.000000\"")]
    [InlineData("int64", "io.debezium.time.Timestamp", "253402300800001", "\"+10000-01-01T00:00:00.001000\"")]
    public void Dates_and_timestamps_beyond_year_9999_or_before_year_1_decode_as_expanded_years(string type, string name, string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn($$"""{"type":"{{type}}","optional":false,"name":"{{name}}","version":1}""", payload));

    [Theory]
    [InlineData("\"2024-01-02T03:04:05.123456Z\"", "\"2024-01-02T03:04:05.123456Z\"")]
    [InlineData("\"2024-01-02T03:04:05Z\"", "\"2024-01-02T03:04:05.000000Z\"")]
    [InlineData("\"2024-01-02T05:04:05.5+02:00\"", "\"2024-01-02T03:04:05.500000Z\"")]
    [InlineData("\"1969-12-31T23:59:59.999999Z\"", "\"1969-12-31T23:59:59.999999Z\"")]
    // java.time's expanded years, as Debezium prints a timestamptz past 9999 or BC
    [InlineData("\"+10000-01-01T00:00:00.5Z\"", "\"+10000-01-01T00:00:00.500000Z\"")]
    [InlineData("\"0000-12-31T23:30:00Z\"", "\"0000-12-31T23:30:00.000000Z\"")]
    [InlineData("\"-4712-01-01T00:00:00Z\"", "\"-4712-01-01T00:00:00.000000Z\"")]
    [InlineData("\"+294247-01-10T04:00:54.775806Z\"", "\"+294247-01-10T04:00:54.775806Z\"")]
    [InlineData("\"infinity\"", "\"infinity\"")]
    [InlineData("\"-infinity\"", "\"-infinity\"")]
    public void ZonedTimestamp_is_the_utc_instant(string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn("""{"type":"string","optional":false,"name":"io.debezium.time.ZonedTimestamp","version":1}""", payload));

    [Theory]
    [InlineData("\"10:15:30.5Z\"", "\"10:15:30.500000Z\"")]
    [InlineData("\"10:15:30Z\"", "\"10:15:30.000000Z\"")]
    [InlineData("\"01:00:00+02:00\"", "\"23:00:00.000000Z\"")]
    public void ZonedTime_is_the_utc_time(string payload, string expected) =>
        Assert.Equal(expected, DecodeColumn("""{"type":"string","optional":false,"name":"io.debezium.time.ZonedTime","version":1}""", payload));

    [Fact]
    public void Intervals_stay_microseconds_or_their_iso_text()
    {
        Assert.Equal("90061000001", DecodeColumn("""{"type":"int64","optional":false,"name":"io.debezium.time.MicroDuration","version":1}""", "90061000001"));
        Assert.Equal("\"P1Y2M3DT4H5M6.78S\"", DecodeColumn("""{"type":"string","optional":false,"name":"io.debezium.time.Interval","version":1}""", "\"P1Y2M3DT4H5M6.78S\""));
    }

    [Fact]
    public void Json_columns_are_the_json_value_itself()
    {
        var value = Decode(Value("""{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}""", "\"{\\\"a\\\":[1,2],\\\"b\\\":null}\"")).After!["v"];
        Assert.Equal(new RawJson("{\"a\":[1,2],\"b\":null}"), value);
        Assert.Equal("{\"a\":[1,2],\"b\":null}", DecodeColumn("""{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}""", "\"{\\\"a\\\":[1,2],\\\"b\\\":null}\""));
    }

    [Theory]
    [InlineData("io.debezium.data.Uuid", "\"5f0c8a3e-2b7d-4c1a-9e8f-0123456789ab\"")]
    [InlineData("io.debezium.data.Enum", "\"shipped\"")]
    [InlineData("io.debezium.data.EnumSet", "\"a,c\"")]
    [InlineData("io.debezium.data.Xml", "\"<a x=\\\"1\\\"/>\"")]
    [InlineData("io.debezium.data.Ltree", "\"Top.Science\"")]
    public void Textual_logical_types_stay_strings(string name, string payload) =>
        Assert.Equal(payload, DecodeColumn($$$"""{"type":"string","optional":false,"name":"{{{name}}}","version":1,"parameters":{"allowed":"placed,shipped"}}""", payload));

    [Theory]
    [InlineData("10", new byte[] { 0x03, 0x02 }, "\"1000000011\"")]
    [InlineData("10", new byte[] { 0x01 }, "\"0000000001\"")]
    [InlineData("3", new byte[] { 0x05 }, "\"101\"")]
    [InlineData("16", new byte[] { 0x34, 0x12 }, "\"0001001000110100\"")]
    public void Bits_are_little_endian_bitset_bytes(string length, byte[] bytes, string expected)
    {
        var schema = $$$"""{"type":"bytes","optional":false,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"{{{length}}}"}}""";
        Assert.Equal(expected, DecodeColumn(schema, $"\"{Convert.ToBase64String(bytes)}\""));
        Assert.IsType<BitString>(Decode(Value(schema, $"\"{Convert.ToBase64String(bytes)}\"")).After!["v"]);
    }

    // A BIT VARYING without a length: Debezium's schema says length 2147483647 (pgjdbc's TypeInfoCache.getPrecision gives
    // unknownLength, Integer.MAX_VALUE, for VARBIT with typmod -1; PostgresType.getDefaultLength passes it on), and its
    // PostgresValueConverter.convertBits sizes the bytes by BitSet.length(), the highest 1 bit: B'101', B'00101' and
    // B'00000101' are all [0x05], B'' and B'000' both []. What the record carries is the bits from the first 1, so that is
    // the value ('' when none is set): the embedded capture's string whenever the value starts with 1 (README, type section).
    [Theory]
    [InlineData("2147483647", new byte[] { 0x05 }, "\"101\"")]
    [InlineData("2147483647", new byte[] { 0x00, 0x01 }, "\"100000000\"")]
    [InlineData("2147483647", new byte[] { 0x34, 0x12 }, "\"1001000110100\"")]
    [InlineData("2147483647", new byte[0], "\"\"")]
    [InlineData("2147483647", new byte[] { 0x01 }, "\"1\"")]
    public void Bits_of_a_bit_varying_without_length_are_the_bits_from_the_first_one(string length, byte[] bytes, string expected) =>
        Assert.Equal(expected, DecodeColumn(
            $$$"""{"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"{{{length}}}"}}""",
            $"\"{Convert.ToBase64String(bytes)}\""));

    [Fact]
    public void Bytes_are_base64_in_json_and_byte_arrays_in_the_model()
    {
        var value = Decode(Value("""{"type":"bytes","optional":true}""", "\"AQID/w==\"")).After!["v"];
        Assert.Equal(new byte[] { 1, 2, 3, 255 }, Assert.IsType<byte[]>(value));
    }

    [Theory]
    [InlineData(BinaryHandlingMode.Hex, "\"010203ff\"")]
    [InlineData(BinaryHandlingMode.Base64, "\"AQID/w==\"")]
    [InlineData(BinaryHandlingMode.Base64UrlSafe, "\"AQID_w\"")]
    public void Bytea_sent_as_a_string_is_decoded_when_the_source_type_is_propagated(BinaryHandlingMode mode, string payload)
    {
        const string schema = """{"type":"string","optional":true,"parameters":{"__debezium.source.column.type":"BYTEA"}}""";
        var value = Decode(Value(schema, payload), new DebeziumDecoderOptions { BinaryHandlingMode = mode }).After!["v"];
        Assert.Equal(new byte[] { 1, 2, 3, 255 }, Assert.IsType<byte[]>(value));
    }

    [Fact]
    public void Decimal_handling_modes_string_and_double()
    {
        Assert.Equal("\"12.50\"", DecodeColumn("""{"type":"string","optional":false,"parameters":{"__debezium.source.column.type":"NUMERIC","__debezium.source.column.length":"12","__debezium.source.column.scale":"2"}}""", "\"12.50\""));
        Assert.IsType<ExactDecimal>(Decode(Value("""{"type":"string","optional":false,"parameters":{"__debezium.source.column.type":"NUMERIC"}}""", "\"NaN\"")).After!["v"]);
        // Without propagated source types a decimal in string mode is indistinguishable from text: it stays a string (same canonical JSON).
        Assert.IsType<string>(Decode(Value("""{"type":"string","optional":false}""", "\"12.50\"")).After!["v"]);
        Assert.Equal("12.5", DecodeColumn("""{"type":"double","optional":false}""", "12.5"));
    }

    [Fact]
    public void Arrays_are_lists_of_converted_elements()
    {
        Assert.Equal("[1,null,3]", DecodeColumn("""{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "[1,null,3]"));
        Assert.Equal("[\"12.50\",\"-0.01\"]", DecodeColumn($$"""{"type":"array","items":{{Decimal2}},"optional":true}""", $"[\"{Base64Unscaled(1250)}\",\"{Base64Unscaled(-1)}\"]"));
        Assert.Equal("[\"2024-01-01\"]", DecodeColumn("""{"type":"array","items":{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1},"optional":true}""", "[19723]"));
        Assert.IsAssignableFrom<IReadOnlyList<object?>>(Decode(Value("""{"type":"array","items":{"type":"string","optional":true},"optional":true}""", "[\"a\"]")).After!["v"]);
    }

    [Fact]
    public void Geometry_structs_and_hstore_maps_are_rows()
    {
        const string point = """{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Point","version":1}""";
        Assert.Equal("""{"x":1.5,"y":-2,"wkb":"AQE=","srid":null}""", DecodeColumn(point, """{"x":1.5,"y":-2.0,"wkb":"AQE=","srid":null}"""));
        Assert.IsType<Row>(Decode(Value(point, """{"x":1.5,"y":-2.0,"wkb":null,"srid":4326}""")).After!["v"]);
        Assert.Equal("""{"a":"1","b":null}""", DecodeColumn("""{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":true}""", """{"a":"1","b":null}"""));
    }

    [Fact]
    public void An_unknown_logical_name_decodes_as_its_base_type() =>
        Assert.Equal("42", DecodeColumn("""{"type":"int64","optional":false,"name":"com.acme.Cents","version":1}""", "42"));

    [Theory]
    [InlineData("""{"type":"string","optional":true}""", "\"__debezium_unavailable_value\"")]
    [InlineData("""{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}""", "\"__debezium_unavailable_value\"")]
    [InlineData("""{"type":"bytes","optional":true}""", "\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"")]
    [InlineData("""{"type":"array","items":{"type":"string","optional":true},"optional":true}""", "[\"__debezium_unavailable_value\"]")]
    [InlineData("""{"type":"array","items":{"type":"bytes","optional":true},"optional":true}""", "[\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"]")]
    [InlineData("""{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,108,117,101]")]
    [InlineData("""{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":true}""", """{"__debezium_unavailable_value":"__debezium_unavailable_value"}""")]
    public void The_unchanged_toast_placeholder_never_leaks(string schema, string payload)
    {
        Assert.Same(Unavailable.Value, Decode(Value(schema, payload)).After!["v"]);
        Assert.Equal("{\"$unavailable\":true}", DecodeColumn(schema, payload));
    }

    [Fact]
    public void A_configured_placeholder_is_recognised_instead_of_the_default()
    {
        var options = new DebeziumDecoderOptions { UnavailablePlaceholder = "<toast>" };
        Assert.Same(Unavailable.Value, Decode(Value("""{"type":"string","optional":true}""", "\"<toast>\""), options).After!["v"]);
        Assert.Equal("__debezium_unavailable_value", Decode(Value("""{"type":"string","optional":true}""", "\"__debezium_unavailable_value\""), options).After!["v"]);
    }

    [Fact]
    public void Rows_decoded_with_the_same_schema_share_one_shape()
    {
        var decoder = new DebeziumJsonDecoder();
        var a = decoder.DecodeValue(System.Text.Encoding.UTF8.GetBytes(Value("""{"type":"int32","optional":false}""", "1")), 1);
        var b = decoder.DecodeValue(System.Text.Encoding.UTF8.GetBytes(Value("""{"type":"int32","optional":false}""", "2")), 2);
        Assert.Same(a.After!.Shape, b.After!.Shape);
        Assert.Equal(1, decoder.Schemas.Count);
    }

    /// <summary>
    /// One decoder (one schema cache) hands out the same string instance for a short text its field had just before: each record
    /// must still get exactly its own text, whether it differs by a character, by length, by an escape or by a non-ASCII letter.
    /// </summary>
    [Fact]
    public void Strings_repeated_from_record_to_record_decode_to_each_records_own_text()
    {
        const string column = """{"type":"string","optional":true}""";
        var decoder = new DebeziumJsonDecoder();
        string[] payloads = ["\"P\"", "\"P\"", "\"S\"", "\"SS\"", "\"S\\u0053\"", "\"SS\"", "\"Sé\"", "\"SS\"", "\"\"", "null", "\"P\"", "\"\\ud83d\\ude00\"", "\"P\""];
        string?[] expected = ["P", "P", "S", "SS", "SS", "SS", "Sé", "SS", "", null, "P", "\ud83d\ude00", "P"];
        for (var i = 0; i < payloads.Length; i++)
        {
            var change = decoder.DecodeValue(System.Text.Encoding.UTF8.GetBytes(Value(column, payloads[i])), i + 1, "srv.public.t");
            Assert.Equal(expected[i], change.After!["v"]);
            Assert.Equal("srv", change.Source.Name);
            Assert.Equal("t", change.Source.Table);
        }

        var other = decoder.DecodeValue(System.Text.Encoding.UTF8.GetBytes(Value(column, "\"P\"").Replace("\"table\":\"t\"", "\"table\":\"u\"", StringComparison.Ordinal)), 99, "srv.public.t");
        Assert.Equal("u", other.Source.Table);
    }
}
