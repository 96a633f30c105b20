using System.Globalization;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Postgres.Types;

namespace CdcPipeline.Tests.Postgres;

/// <summary>PostgreSQL text output → the canonical values the Debezium decoding yields.</summary>
public sealed class PgTextValuesTests
{
    private static object? Convert(uint oid, string text) => PgTextValues.TryGetBuiltIn(oid)!(text);

    private static string Json(object? value) => CanonicalJson.Serialize(Row.From(("v", value)));

    [Theory]
    // Debezium MicroDuration: months count 365.25/12 days, everything in doubles, truncated
    [InlineData("PT0S", 0L)]
    [InlineData("P1M2DT3H4M5S", 2813645000000L)]
    [InlineData("P1Y", 31557600000000L)]
    [InlineData("P-1Y-2DT1.5S", -31730398500000L)]
    [InlineData("PT-0.000001S", -1L)]
    [InlineData("P3DT27H", 356400000000L)]
    [InlineData("PT1.123457S", 1123457L)]
    public void Interval_is_microseconds_by_Debezium_formula(string iso, long micros) =>
        Assert.Equal(micros, PgTextValues.ParseIntervalMicros(iso));

    [Theory]
    [InlineData(1184u, "2024-01-02 03:04:05.5+02", "2024-01-02T01:04:05.500000Z")]
    [InlineData(1184u, "2024-01-02 00:30:00-05:30", "2024-01-02T06:00:00.000000Z")]
    [InlineData(1184u, "infinity", "infinity")]
    [InlineData(1266u, "01:02:03+02", "23:02:03.000000Z")]
    [InlineData(1266u, "23:00:00-02", "01:00:00.000000Z")]
    // timetz reaches 24:00:00; Debezium parses it as midnight (java.time SMART resolving) and shifts it to UTC
    [InlineData(1266u, "24:00:00+02", "22:00:00.000000Z")]
    [InlineData(1266u, "24:00:00+00", "00:00:00.000000Z")]
    [InlineData(1266u, "24:00:00-02", "02:00:00.000000Z")]
    [InlineData(1083u, "24:00:00", "24:00:00.000000")]
    [InlineData(1082u, "1970-01-01", "1970-01-01")]
    [InlineData(1700u, "-0.0100", "-0.0100")]
    [InlineData(1700u, "Infinity", "Infinity")]
    [InlineData(1042u, "ab   ", "ab   ")]
    [InlineData(790u, "$1,234.5", "1234.50")]
    [InlineData(790u, "-$0.05", "-0.05")]
    public void Temporal_and_exact_values_render_canonically(uint oid, string text, string expected)
    {
        var json = Json(Convert(oid, text));
        Assert.Equal("{\"v\":\"" + expected + "\"}", json);
    }

    [Theory]
    // A legacy database holds dates .NET's DateTime cannot (years past 9999, BC): ISO-8601's expanded years, as
    // java.time prints them (1 BC is year 0000, 2 BC is -0001), instead of an exception when the row is written.
    [InlineData(1082u, "10000-01-01", "+10000-01-01")]
    [InlineData(1082u, "0001-01-01 BC", "0000-01-01")]
    [InlineData(1082u, "0002-12-31 BC", "-0001-12-31")]
    [InlineData(1082u, "9999-12-31", "9999-12-31")]
    [InlineData(1114u, "100000-06-30 23:59:59.999999", "+100000-06-30T23:59:59.999999")]
    [InlineData(1114u, "4713-01-01 00:00:00 BC", "-4712-01-01T00:00:00.000000")]
    [InlineData(1114u, "0001-01-01 00:00:00", "0001-01-01T00:00:00.000000")]
    [InlineData(1184u, "0001-01-01 00:30:00+01", "0000-12-31T23:30:00.000000Z")]
    [InlineData(1184u, "10000-01-01 00:00:00.5+00", "+10000-01-01T00:00:00.500000Z")]
    public void Dates_and_timestamps_beyond_DateTime_render_as_ISO_expanded_years(uint oid, string text, string expected) =>
        Assert.Equal("{\"v\":\"" + expected + "\"}", Json(Convert(oid, text)));

    [Theory]
    // PostgreSQL's interval keeps its time part as int64 microseconds: up to 2562047788 hours, beyond Int32.
    [InlineData("PT2562047788H", 9_223_372_036_800_000_000L)]
    [InlineData("PT-2562047788H", -9_223_372_036_800_000_000L)]
    [InlineData("P1DT2147483648H", 7_730_941_219_200_000_000L)]
    public void Interval_hours_beyond_Int32_are_microseconds(string iso, long micros) =>
        Assert.Equal(micros, PgTextValues.ParseIntervalMicros(iso));

    [Theory]
    // Microseconds since 1970 in an int64 (Debezium's MicroTimestamp) end at 294247-01-10T04:00:54.775807; PostgreSQL
    // goes on to 294276 AD. Beyond the int64, the value must not wrap into a wrong date.
    [InlineData(1114u, "294276-12-31 23:59:59")]
    [InlineData(1114u, "294247-01-10 04:00:54.775807")]
    [InlineData(1184u, "294276-12-31 23:59:59+00")]
    [InlineData(1184u, "294247-01-10 04:00:54.775806-01")]
    public void Timestamps_beyond_int64_microseconds_fail_naming_the_value(uint oid, string text)
    {
        var e = Assert.ThrowsAny<Exception>(() => Convert(oid, text));
        Assert.True(e is OverflowException or FormatException, e.GetType().Name);
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_last_timestamp_int64_microseconds_hold_is_exact()
    {
        Assert.Equal(new LocalTimestamp(long.MaxValue - 1), Convert(1114, "294247-01-10 04:00:54.775806"));
        Assert.Equal("{\"v\":\"+294247-01-10T04:00:54.775806\"}", Json(Convert(1114, "294247-01-10 04:00:54.775806")));
    }

    [Fact]
    public void Date_and_timestamp_use_days_and_micros_since_epoch()
    {
        Assert.Equal(new Date(-1), Convert(1082, "1969-12-31"));
        Assert.Equal(new LocalTimestamp(86_400_000_001), Convert(1114, "1970-01-02 00:00:00.000001"));
        Assert.Equal(new UtcTimestamp(-3_600_000_000), Convert(1184, "1970-01-01 00:00:00+01"));
        // 1 BC is year 0 of the proleptic Gregorian calendar: 0001-01-01 minus 366 days
        Assert.Equal(new Date(-719162 - 366), Convert(1082, "0001-01-01 BC"));
    }

    [Fact]
    public void Infinite_dates_are_dates_as_the_Debezium_decoding_makes_them()
    {
        // A rule comparing dates (after.valid_to > date(...)) must work on both capture paths.
        Assert.Equal(Date.PositiveInfinity, Convert(1082, "infinity"));
        Assert.Equal(Date.NegativeInfinity, Convert(1082, "-infinity"));
        Assert.Equal("{\"v\":\"infinity\"}", Json(Convert(1082, "infinity")));
    }

    [Theory]
    // Expected orders are what java.util.HashMap (JDK 17) iterates after putting the keys in PostgreSQL's print order.
    [InlineData("""
        "a"=>NULL, "c"=>"3", "bb"=>"2", "zz"=>"1", "id2"=>"4"
        """, """{"bb":"2","zz":"1","a":null,"c":"3","id2":"4"}""")]
    // 9 keys in one of 16 buckets: Java doubles the table instead of building a tree
    [InlineData("""
        "x"=>"1", "y"=>"2", "AF"=>"", "AV"=>"", "Af"=>"", "Av"=>"", "BG"=>"", "BW"=>"", "Bg"=>"", "Bw"=>"", "CH"=>""
        """, """{"AF":"","Af":"","BG":"","Bg":"","CH":"","AV":"","Av":"","BW":"","Bw":"","x":"1","y":"2"}""")]
    [InlineData("", "{}")]
    public void Hstore_is_the_JSON_Debezium_writes_in_Java_HashMap_order(string hstore, string json) =>
        Assert.Equal(new RawJson(json), PgTextValues.HstoreAsJson(hstore));

    [Fact]
    public void Hstore_escapes_are_undone_and_Jackson_escapes_are_applied()
    {
        // hstore_out escapes only " and \ (by \); Jackson escapes " \ and control characters, \u00XX in upper case.
        const string Text = "\"nl\"=>\"a\tb\n\u001f\", \"q\\\"t\"=>\"\\\\\", \"é/日本\"=>\"\u007f\", \"back\\\\slash\"=>NULL";
        const string Json = "{\"q\\\"t\":\"\\\\\",\"back\\\\slash\":null,\"é/日本\":\"\u007f\",\"nl\":\"a\\tb\\n\\u001F\"}";

        Assert.Equal(new RawJson(Json), PgTextValues.HstoreAsJson(Text));
    }

    [Fact]
    public void Hstore_keys_past_three_quarters_of_the_table_follow_Java_HashMap_resizing()
    {
        // key0..key39 in PostgreSQL's order (shorter first): the table grows 16 → 32 → 64.
        var keys = Enumerable.Range(0, 40).Select(i => "key" + i).OrderBy(k => k.Length).ThenBy(k => k, StringComparer.Ordinal).ToList();
        var text = string.Join(", ", keys.Select(k => $"\"{k}\"=>\"v\""));
        const string JavaOrder = "key1,key2,key0,key5,key6,key3,key4,key9,key7,key8,key22,key21,key20,key15,key37,key14,key36,key13,key35,"
            + "key12,key34,key19,key18,key17,key39,key16,key38,key11,key33,key10,key32,key31,key30,key26,key25,key24,key23,key29,key28,key27";

        var json = ((RawJson)PgTextValues.HstoreAsJson(text)!).Text;

        Assert.Equal("{" + string.Join(",", JavaOrder.Split(',').Select(k => $"\"{k}\":\"v\"")) + "}", json);
    }

    [Theory]
    // OGC WKB as Debezium's Point builds it: 01 (little-endian), 01000000 (Point), x and y as little-endian doubles.
    [InlineData("(1,1)", 1.0, 1.0, "0101000000000000000000F03F000000000000F03F")]
    [InlineData("(1.5,-2)", 1.5, -2.0, "0101000000000000000000F83F00000000000000C0")]
    [InlineData("(-0.1,1e+300)", -0.1, 1e300, "01010000009A9999999999B9BF9C7500883CE4377E")]
    public void Point_is_the_value_the_Kafka_path_decodes_from_Debeziums_Point_struct(string text, double x, double y, string wkbHex)
    {
        const string PointSchema = """{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)"}""";
        var payload = string.Create(CultureInfo.InvariantCulture, $$"""{"x":{{x:R}},"y":{{y:R}},"wkb":"{{System.Convert.ToBase64String(System.Convert.FromHexString(wkbHex))}}","srid":null}""");

        var embedded = Convert(600, text);

        Assert.Equal("{\"v\":" + Debezium.DebeziumJson.DecodeColumn(PointSchema, payload) + "}", Json(embedded));
        var point = Assert.IsType<Row>(embedded);
        Assert.Equal(wkbHex, System.Convert.ToHexString((byte[])point["wkb"]!));
    }

    [Theory]
    // BigDecimal.stripTrailingZeros, a negative scale set back to 0: what Debezium puts in a VariableScaleDecimal
    [InlineData("1.500", "1.5")]
    [InlineData("100", "100")]
    [InlineData("1200.00", "1200")]
    [InlineData("0.000", "0")]
    [InlineData("-0.0100", "-0.01")]
    [InlineData("123456789012345678901234567890.10", "123456789012345678901234567890.1")]
    [InlineData("NaN", "NaN")]
    public void Numeric_without_scale_strips_trailing_zeros_as_Debeziums_VariableScaleDecimal(string text, string expected) =>
        Assert.Equal("{\"v\":\"" + expected + "\"}", Json(PgTextValues.VariableScaleNumeric(text)));

    [Fact]
    public void Arrays_nest_unquote_and_keep_nulls()
    {
        var ints = PgTextValues.ParseArray("{{1,2},{NULL,4}}", PgTextValues.TryGetBuiltIn(23)!, ',');
        var texts = PgTextValues.ParseArray("""{"a,b","c\"d",NULL,"NULL",e}""", PgTextValues.AsText, ',');
        var bounded = PgTextValues.ParseArray("[0:1]={7,8}", PgTextValues.TryGetBuiltIn(23)!, ',');
        var empty = PgTextValues.ParseArray("{}", PgTextValues.AsText, ',');

        Assert.Equal("{\"v\":[[1,2],[null,4]]}", Json(ints));
        Assert.Equal("{\"v\":[\"a,b\",\"c\\\"d\",null,\"NULL\",\"e\"]}", Json(texts));
        Assert.Equal("{\"v\":[7,8]}", Json(bounded));
        Assert.Empty(empty);
    }

    [Fact]
    public void Scalars_keep_their_types()
    {
        Assert.Equal(true, Convert(16, "t"));
        Assert.Equal(-5L, Convert(21, "-5"));
        Assert.Equal(float.NegativeInfinity, Convert(700, "-Infinity"));
        Assert.Equal(double.NaN, Convert(701, "NaN"));
        Assert.Equal(new byte[] { 0, 255 }, Convert(17, "\\x00ff"));
        Assert.Equal(new BitString("0101"), Convert(1560, "0101"));
        Assert.Equal(new RawJson("{\"a\": 1}"), Convert(3802, "{\"a\": 1}"));
        Assert.Null(PgTextValues.TryGetBuiltIn(869)); // inet: not built in, rendered as its text by the catalog
    }
}
