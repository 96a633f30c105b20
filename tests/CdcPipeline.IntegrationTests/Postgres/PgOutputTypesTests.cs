using System.Globalization;
using System.Numerics;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>Every column type renders exactly as the Debezium decoding renders the same SQL.</summary>
public sealed class PgOutputTypesTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private const string CreateWide = """
        CREATE TYPE mood AS ENUM ('sad', 'happy');
        CREATE TABLE wide (
          id int PRIMARY KEY,
          c_int2 smallint, c_int4 int, c_int8 bigint,
          c_float4 real, c_float8 double precision, c_float8_nan double precision,
          c_numeric numeric(12,2), c_numeric_free numeric, c_numeric_nan numeric,
          c_text text, c_varchar varchar(10), c_bpchar char(5), c_bool boolean,
          c_date date, c_ts timestamp, c_tstz timestamptz, c_time time, c_timetz timetz,
          c_interval interval, c_interval_neg interval,
          c_json json, c_jsonb jsonb, c_uuid uuid, c_bytea bytea, c_bit bit(4), c_varbit varbit,
          c_enum mood, c_int_array int[], c_text_array text[], c_xml xml,
          c_ts_inf timestamp, c_tstz_ninf timestamptz, c_inet inet, c_money money, c_null text);
        """;

    private const string InsertWide = """
        INSERT INTO wide VALUES (1, -32768, 2147483647, 9223372036854775807,
          1.5, 2.25, 'NaN',
          12.5, 123456789012345678901234567890.123456789, 'NaN',
          'hello "world"', 'vc', 'ab', true,
          '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+02', '13:14:15.5', '01:02:03+02',
          '1 mon 2 days 03:04:05', '-1 year -2 days +00:00:01.5',
          '{"a": [1, 2]}', '{"b": 1, "a": 2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x0102ff', B'1010', B'101',
          'happy', '{1,NULL,3}', '{"a b","c\"d"}', '<x>1</x>',
          'infinity', '-infinity', '192.168.0.1/24', 1234.5, NULL)
        """;

    // What Debezium gives for the same SQL (decimal.handling.mode=precise, time.precision.mode=adaptive_time_microseconds,
    // interval.handling.mode=numeric): numeric keeps its scale, timestamptz and timetz are UTC with Z, the interval is
    // MicroDuration's approximation with 365.25/12 days per month, ±infinity timestamps are the infinity markers.
    // (written with ` for " to keep the literal readable)
    private static readonly string ExpectedAfter = string.Concat(
        "{`id`:1,`c_int2`:-32768,`c_int4`:2147483647,`c_int8`:9223372036854775807,",
        "`c_float4`:1.5,`c_float8`:2.25,`c_float8_nan`:`NaN`,",
        "`c_numeric`:`12.50`,`c_numeric_free`:`123456789012345678901234567890.123456789`,`c_numeric_nan`:`NaN`,",
        "`c_text`:`hello \\`world\\``,`c_varchar`:`vc`,`c_bpchar`:`ab   `,`c_bool`:true,",
        "`c_date`:`2024-02-29`,`c_ts`:`2024-01-02T03:04:05.123456`,`c_tstz`:`2024-01-02T01:04:05.500000Z`,",
        "`c_time`:`13:14:15.500000`,`c_timetz`:`23:02:03.000000Z`,",
        // 1 mon 2 days 03:04:05 = (((30.4375 + 2) days * 24 + 3) h * 60 + 4) min * 60 + 5 s = 2813645 s
        "`c_interval`:2813645000000,",
        // -1 year -2 days +00:00:01.5 = (-12 * 30.4375 - 2) days + 1.5 s = -31730398.5 s
        "`c_interval_neg`:-31730398500000,",
        "`c_json`:{`a`: [1, 2]},`c_jsonb`:{`a`: 2, `b`: 1},`c_uuid`:`a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`,",
        "`c_bytea`:`AQL/`,`c_bit`:`1010`,`c_varbit`:`101`,`c_enum`:`happy`,`c_int_array`:[1,null,3],",
        "`c_text_array`:[`a b`,`c\\`d`],`c_xml`:`<x>1</x>`,`c_ts_inf`:`infinity`,`c_tstz_ninf`:`-infinity`,",
        "`c_inet`:`192.168.0.1/24`,`c_money`:`1234.50`,`c_null`:null}").Replace('`', '"');

    [Fact]
    public async Task Streamed_insert_of_every_type_renders_as_Debezium_would()
    {
        await Db.ExecuteAsync(CreateWide);
        var reader = await OpenStreamingAsync(Options());
        await Db.ExecuteAsync(InsertWide);

        var insert = (await reader.TakeAsync(1)).Single(e => e.Kind == ChangeKind.Change);

        Assert.Equal(ChangeOperation.Create, insert.Operation);
        Assert.Equal(ExpectedAfter, CanonicalJson.Serialize(insert.After!));
        Assert.Equal("""{"id":1}""", CanonicalJson.Serialize(insert.Key!));
        Assert.Null(insert.Before);
        Assert.Equal("postgresql", insert.Source.Connector);
        Assert.Equal(("public", "wide", Db.Name), (insert.Source.Schema, insert.Source.Table, insert.Source.Database));
        Assert.NotNull(insert.Source.TxId);
        Assert.NotNull(insert.Source.CommitTime);
        Assert.True(insert.Source.Lsn > 0);
        Assert.Equal(0, insert.Position.Minor);
        Assert.Equal(Db.Slot, insert.Position.Stream);
    }

    // The same row as Debezium 2.5's PostgreSQL connector writes it with the JSON converter (schemas on) and its defaults:
    // decimal.handling.mode=precise, time.precision.mode=adaptive, interval.handling.mode=numeric, binary.handling.mode=bytes
    // (column, Connect field schema without "field", payload value). c_numeric_nan is NULL in this row: Debezium's precise mode
    // cannot carry a NUMERIC NaN (only string and double modes can). c_varbit (BIT VARYING without a length) is B'101': its
    // Bits schema says length 2147483647 (pgjdbc's TypeInfoCache.getPrecision: unknownLength for VARBIT with typmod -1) and
    // PostgresValueConverter.convertBits writes BitSet.toByteArray() sized by the highest 1 bit, so the record tells '101'
    // from '0101' not at all; the lines are the same for a value that starts with 1 (B'0101' would decode as '101'). A VARBIT(n)
    // column's Bits says length n whatever the value's own length, so decode gives it n digits (B'101' in a VARBIT(8) is
    // '00000101'), as for BIT(n): the lines differ for a VARBIT(n) value shorter than n (README says so).
    private static readonly (string Column, string Schema, string Value)[] DebeziumWide =
    [
        ("id", """{"type":"int32","optional":false}""", "1"),
        ("c_int2", """{"type":"int16","optional":true}""", "-32768"),
        ("c_int4", """{"type":"int32","optional":true}""", "2147483647"),
        ("c_int8", """{"type":"int64","optional":true}""", "9223372036854775807"),
        ("c_float4", """{"type":"float","optional":true}""", "1.5"),
        ("c_float8", """{"type":"double","optional":true}""", "2.25"),
        ("c_float8_nan", """{"type":"double","optional":true}""", "\"NaN\""),
        ("c_numeric", """{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"12"}}""",
            Quoted(Unscaled(1250))),
        ("c_numeric_free", """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal"}""",
            $$"""{"scale":9,"value":{{Quoted(Unscaled(BigInteger.Parse("123456789012345678901234567890123456789", CultureInfo.InvariantCulture)))}}}"""),
        ("c_numeric_nan", """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal"}""", "null"),
        ("c_text", """{"type":"string","optional":true}""", "\"hello \\\"world\\\"\""),
        ("c_varchar", """{"type":"string","optional":true}""", "\"vc\""),
        ("c_bpchar", """{"type":"string","optional":true}""", "\"ab   \""),
        ("c_bool", """{"type":"boolean","optional":true}""", "true"),
        ("c_date", """{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1}""",
            (new DateOnly(2024, 2, 29).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber).ToString(CultureInfo.InvariantCulture)),
        ("c_ts", """{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1}""",
            ((new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1_234_560) - DateTime.UnixEpoch).Ticks / 10).ToString(CultureInfo.InvariantCulture)),
        ("c_tstz", """{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1}""", "\"2024-01-02T01:04:05.5Z\""),
        ("c_time", """{"type":"int64","optional":true,"name":"io.debezium.time.MicroTime","version":1}""", "47655500000"),
        ("c_timetz", """{"type":"string","optional":true,"name":"io.debezium.time.ZonedTime","version":1}""", "\"23:02:03Z\""),
        ("c_interval", """{"type":"int64","optional":true,"name":"io.debezium.time.MicroDuration","version":1}""", "2813645000000"),
        ("c_interval_neg", """{"type":"int64","optional":true,"name":"io.debezium.time.MicroDuration","version":1}""", "-31730398500000"),
        ("c_json", """{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}""", "\"{\\\"a\\\": [1, 2]}\""),
        ("c_jsonb", """{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}""", "\"{\\\"a\\\": 2, \\\"b\\\": 1}\""),
        ("c_uuid", """{"type":"string","optional":true,"name":"io.debezium.data.Uuid","version":1}""", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""),
        ("c_bytea", """{"type":"bytes","optional":true}""", Quoted([0x01, 0x02, 0xff])),
        // java.util.BitSet.toByteArray() of B'1010': bit 0 is the last digit
        ("c_bit", """{"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"4"}}""", Quoted([0b1010])),
        ("c_varbit", """{"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"2147483647"}}""", Quoted([0b101])),
        ("c_enum", """{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"sad,happy"}}""", "\"happy\""),
        ("c_int_array", """{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "[1,null,3]"),
        ("c_text_array", """{"type":"array","items":{"type":"string","optional":true},"optional":true}""", "[\"a b\",\"c\\\"d\"]"),
        ("c_xml", """{"type":"string","optional":true,"name":"io.debezium.data.Xml","version":1}""", "\"<x>1</x>\""),
        // pgjdbc's DATE_POSITIVE_INFINITY in microseconds, as Debezium writes TIMESTAMP 'infinity'
        ("c_ts_inf", """{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1}""", "9223372036825200000"),
        ("c_tstz_ninf", """{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1}""", "\"-infinity\""),
        ("c_inet", """{"type":"string","optional":true}""", "\"192.168.0.1/24\""),
        ("c_money", """{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}""", Quoted(Unscaled(123450))),
        ("c_null", """{"type":"string","optional":true}""", "null"),
    ];

    [Fact]
    public async Task The_embedded_capture_and_decode_of_Debeziums_records_give_the_same_canonical_line_for_every_type()
    {
        await Db.ExecuteAsync(CreateWide);
        var reader = await OpenStreamingAsync(Options());
        var insertSql = InsertWide.Replace("123456789012345678901234567890.123456789, 'NaN'", "123456789012345678901234567890.123456789, NULL", StringComparison.Ordinal);
        Assert.NotEqual(InsertWide.Length, insertSql.Length);
        await Db.ExecuteAsync(insertSql);
        // c_text out of line (TOASTed), then an update that leaves it alone: pgoutput sends it as unchanged, Debezium as its placeholder
        await Db.ExecuteAsync("UPDATE wide SET c_text = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i) WHERE id = 1");
        await Db.ExecuteAsync("UPDATE wide SET c_int4 = -1 WHERE id = 1");
        await Db.ExecuteAsync("DELETE FROM wide WHERE id = 1");

        var changes = (await reader.TakeAsync(4, e => e.Kind == ChangeKind.Change)).Where(e => e.Kind == ChangeKind.Change).ToList();
        var (insert, update, delete) = (changes[0], changes[2], changes[3]);
        Assert.Equal([ChangeOperation.Create, ChangeOperation.Update, ChangeOperation.Update, ChangeOperation.Delete], changes.Select(e => e.Operation!.Value));

        var debeziumInsert = DecodeDebezium("c", insert, DebeziumWide);
        var debeziumUpdate = DecodeDebezium("u", update, DebeziumWide.Select(f => f.Column switch
        {
            "c_int4" => f with { Value = "-1" },
            "c_text" => f with { Value = "\"__debezium_unavailable_value\"" },
            _ => f,
        }));
        // REPLICA IDENTITY DEFAULT: Debezium's delete has the whole row's schema, the key's values and nulls for the rest
        var debeziumDelete = DecodeDebezium("d", delete, DebeziumWide.Select(f => f.Column == "id" ? f : f with { Value = "null" }));

        Assert.Equal(CanonicalJson.Serialize(debeziumInsert), CanonicalJson.Serialize(insert));
        Assert.Equal(CanonicalJson.Serialize(debeziumUpdate), CanonicalJson.Serialize(update));
        Assert.Equal(CanonicalJson.Serialize(debeziumDelete), CanonicalJson.Serialize(delete));
        // the comparison means something only if the lines carry the contract's forms
        Assert.Contains("\"c_numeric\":\"12.50\"", CanonicalJson.Serialize(insert), StringComparison.Ordinal);
        Assert.Contains("\"c_text\":{\"$unavailable\":true}", CanonicalJson.Serialize(update), StringComparison.Ordinal);
        Assert.Contains("\"c_varbit\":\"101\"", CanonicalJson.Serialize(insert), StringComparison.Ordinal);
    }

    // An array column as Debezium 2.5 writes it (JSON converter, schemas on, decimal.handling.mode=precise, adaptive time), per
    // debezium-connector-postgres/src/main/java/io/debezium/connector/postgresql/PostgresValueConverter.java: its schemaBuilder gives INT4_ARRAY SchemaBuilder.array(OPTIONAL_INT32_SCHEMA), TEXT_ARRAY an array of
    // OPTIONAL_STRING_SCHEMA, BOOL_ARRAY of OPTIONAL_BOOLEAN_SCHEMA, NUMERIC_ARRAY SchemaBuilder.array(numericSchema(column)) —
    // a Decimal with the column's scale and "connect.decimal.precision" for NUMERIC(p,s)[], a VariableScaleDecimal for NUMERIC[]
    // (isVariableScaleDecimal: no scale) —, DATE_ARRAY of the precision mode's date (io.debezium.time.Date), TIMESTAMPTZ_ARRAY of
    // ZonedTimestamp, UUID_ARRAY of Uuid, JSONB_ARRAY of Json; createArrayConverter converts each element with that element
    // schema's own converter (convertArray: a NULL element stays null, '{}' is []), so convertDecimal strips a NUMERIC[]
    // element's trailing zeros (stripTrailingZeros, negative scale set to 0) and gives a NUMERIC(10,2)[] element scale 2 (the
    // array column's typmod is its element's: pgoutput's ColumnMetaData takes length and scale from pgjdbc's TypeInfoCache,
    // whose getPrecision/getScale read an array OID as its element's).
    // (column, Connect field schema without "field", payload value)
    private static readonly (string Column, string Schema, string Value)[] DebeziumArrays =
    [
        ("id", """{"type":"int32","optional":false}""", "1"),
        ("a_int", """{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "[1,null,-3]"),
        ("a_text", """{"type":"array","items":{"type":"string","optional":true},"optional":true}""", "[\"a b\",null,\"NULL\",\"c\\\"d\",\"\"]"),
        ("a_num2", """{"type":"array","items":{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"}},"optional":true}""",
            $"[{Quoted(Unscaled(150))},{Quoted(Unscaled(-200))},null]"),
        ("a_num", """{"type":"array","items":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal"},"optional":true}""",
            $$"""[{"scale":1,"value":{{Quoted(Unscaled(15))}}},{"scale":0,"value":{{Quoted(Unscaled(100))}}},null,{"scale":2,"value":{{Quoted(Unscaled(-1))}}}]"""),
        ("a_tstz", """{"type":"array","items":{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1},"optional":true}""",
            "[\"2024-01-02T01:04:05.5Z\",null]"),
        ("a_date", """{"type":"array","items":{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1},"optional":true}""",
            $"[{(new DateOnly(2024, 2, 29).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber).ToString(CultureInfo.InvariantCulture)},null]"),
        ("a_uuid", """{"type":"array","items":{"type":"string","optional":true,"name":"io.debezium.data.Uuid","version":1},"optional":true}""",
            "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\",null]"),
        ("a_bool", """{"type":"array","items":{"type":"boolean","optional":true},"optional":true}""", "[true,false,null]"),
        ("a_jsonb", """{"type":"array","items":{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1},"optional":true}""",
            "[\"{\\\"a\\\": [2], \\\"b\\\": 1}\",null]"),
        ("a_empty", """{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "[]"),
        ("a_null", """{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "null"),
    ];

    [Fact]
    public async Task The_embedded_capture_and_decode_of_Debeziums_records_give_the_same_canonical_line_for_arrays()
    {
        await Db.ExecuteAsync("""
            CREATE TABLE arrs (id int PRIMARY KEY, a_int int4[], a_text text[], a_num2 numeric(10,2)[], a_num numeric[],
              a_tstz timestamptz[], a_date date[], a_uuid uuid[], a_bool bool[], a_jsonb jsonb[], a_empty int4[], a_null int4[])
            """);
        var reader = await OpenStreamingAsync(Options());
        await Db.ExecuteAsync("""
            INSERT INTO arrs VALUES (1, '{1,NULL,-3}', ARRAY['a b', NULL, 'NULL', 'c"d', ''], '{1.5,-2,NULL}', '{1.500,100,NULL,-0.0100}',
              '{"2024-01-02 03:04:05.5+02",NULL}', '{2024-02-29,NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', '{t,f,NULL}',
              ARRAY['{"b": 1, "a": [2]}'::jsonb, NULL], '{}', NULL)
            """);
        // a_int, a_text and a_jsonb out of line (TOASTed), then an update that leaves them alone: pgoutput sends them as unchanged,
        // Debezium as the placeholder UnchangedToastedReplicationMessageColumn.setUnchangedToastValue picks by the type's name
        // ("_text", "_jsonb": UNCHANGED_TEXT_ARRAY_TOAST_VALUE; "_int4": UNCHANGED_INT_ARRAY_TOAST_VALUE) and
        // UnchangedToastedPlaceholder fills in: a list of the placeholder string, or of the placeholder's bytes as integers.
        await Db.ExecuteAsync("""
            ALTER TABLE arrs ALTER a_int SET STORAGE EXTERNAL, ALTER a_text SET STORAGE EXTERNAL, ALTER a_jsonb SET STORAGE EXTERNAL;
            UPDATE arrs SET a_int = ARRAY(SELECT generate_series(1, 2000)), a_text = ARRAY(SELECT md5(i::text) FROM generate_series(1, 400) i),
              a_jsonb = ARRAY(SELECT jsonb_build_object('i', i) FROM generate_series(1, 400) i) WHERE id = 1;
            UPDATE arrs SET a_bool = '{f}' WHERE id = 1
            """);

        var changes = (await reader.TakeAsync(3, e => e.Kind == ChangeKind.Change)).Where(e => e.Kind == ChangeKind.Change).ToList();
        var (insert, update) = (changes[0], changes[2]);
        var debezium = DecodeDebezium("c", insert, DebeziumArrays, "arrs");
        var placeholderBytes = "[" + string.Join(",", "__debezium_unavailable_value"u8.ToArray()) + "]";
        var debeziumUpdate = DecodeDebezium("u", update, DebeziumArrays.Select(f => f.Column switch
        {
            "a_bool" => f with { Value = "[false]" },
            "a_int" => f with { Value = placeholderBytes },
            "a_text" or "a_jsonb" => f with { Value = "[\"__debezium_unavailable_value\"]" },
            _ => f,
        }), "arrs");

        Assert.Equal(CanonicalJson.Serialize(debezium), CanonicalJson.Serialize(insert));
        Assert.Equal(CanonicalJson.Serialize(debeziumUpdate), CanonicalJson.Serialize(update));
        Assert.Contains("\"a_int\":{\"$unavailable\":true},\"a_text\":{\"$unavailable\":true}", CanonicalJson.Serialize(update), StringComparison.Ordinal);
        Assert.Contains("\"a_jsonb\":{\"$unavailable\":true}", CanonicalJson.Serialize(update), StringComparison.Ordinal);
        // the comparison means something only if the line carries the contract's forms: arrays as arrays, elements by their type's rule
        Assert.Equal(
            """{"id":1,"a_int":[1,null,-3],"a_text":["a b",null,"NULL","c\"d",""],"a_num2":["1.50","-2.00",null],"a_num":["1.5","100",null,"-0.01"]"""
            + ""","a_tstz":["2024-01-02T01:04:05.500000Z",null],"a_date":["2024-02-29",null],"a_uuid":["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",null]"""
            + ""","a_bool":[true,false,null],"a_jsonb":[{"a": [2], "b": 1},null],"a_empty":[],"a_null":null}""",
            CanonicalJson.Serialize(insert.After!));
    }

    /// <summary>Decodes the Debezium record (key and value, JSON with schemas) of <paramref name="captured"/>'s row with these columns (the before row of a delete, else the after row).</summary>
    private ChangeEvent DecodeDebezium(string op, ChangeEvent captured, IEnumerable<(string Column, string Schema, string Value)> columns, string table = "wide")
    {
        var fields = string.Join(",", columns.Select(c => "{\"field\":\"" + c.Column + "\"," + c.Schema[1..]));
        var row = string.Join(",", columns.Select(c => "\"" + c.Column + "\":" + c.Value));
        const string SourceSchema = """{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"string","optional":false,"field":"schema"},{"type":"string","optional":false,"field":"table"},{"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"},{"type":"int64","optional":true,"field":"xmin"}],"optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}""";
        var source = string.Create(CultureInfo.InvariantCulture,
            $$"""{"version":"2.5.4.Final","connector":"postgresql","name":"srv","ts_ms":1709280000412,"snapshot":"false","db":"{{Db.Name}}","sequence":null,"schema":"public","table":"{{table}}","txId":{{captured.Source.TxId}},"lsn":{{captured.Source.Lsn}},"xmin":null}""");
        var (before, after) = op == "d" ? ($"{{{row}}}", "null") : ("null", $"{{{row}}}");
        var value = $$$"""{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{{{fields}}}],"optional":true,"name":"srv.public.{{{table}}}.Value","field":"before"},{"type":"struct","fields":[{{{fields}}}],"optional":true,"name":"srv.public.{{{table}}}.Value","field":"after"},{{{SourceSchema}}},{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],"optional":false,"name":"srv.public.{{{table}}}.Envelope","version":1},"payload":{"before":{{{before}}},"after":{{{after}}},"source":{{{source}}},"op":"{{{op}}}","ts_ms":1709280000500}}""";
        var key = $$$"""{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"srv.public.{{{table}}}.Key"},"payload":{"id":1}}""";
        return new DebeziumJsonDecoder().Decode(new DebeziumRecord
        {
            Topic = $"srv.public.{table}",
            Partition = 0,
            Offset = 0,
            Key = Encoding.UTF8.GetBytes(key),
            Value = Encoding.UTF8.GetBytes(value),
        });
    }

    private static byte[] Unscaled(BigInteger unscaled) => unscaled.ToByteArray(isUnsigned: false, isBigEndian: true);

    private static string Quoted(byte[] bytes) => "\"" + Convert.ToBase64String(bytes) + "\"";

    [Fact]
    public async Task Snapshot_rows_of_every_type_equal_streamed_rows()
    {
        await Db.ExecuteAsync(CreateWide);
        await Db.ExecuteAsync(InsertWide);
        var reader = Open(Options(snapshot: SnapshotMode.InitialOnly));

        var read = (await reader.TakeAsync(1)).Single();

        Assert.Equal(ChangeOperation.Read, read.Operation);
        Assert.NotEqual(SnapshotMarker.False, read.Source.Snapshot);
        Assert.Equal(ExpectedAfter, CanonicalJson.Serialize(read.After!));
    }

    [Fact]
    public async Task A_one_bit_column_is_a_boolean_in_the_stream_and_both_snapshots_as_in_Debezium()
    {
        // Debezium: BIT(1) and VARBIT(1) are BOOLEAN; BIT(n > 1) and VARBIT without a length stay Bits.
        await Db.ExecuteAsync("""
            CREATE TABLE flags (id int PRIMARY KEY, f bit(1), vf varbit(1), b2 bit(2), vb varbit);
            INSERT INTO flags VALUES (1, B'1', B'0', B'10', B'1'), (2, B'0', B'1', B'01', B'')
            """);
        const string Expected = """[{"id":1,"f":true,"vf":false,"b2":"10","vb":"1"},{"id":2,"f":false,"vf":true,"b2":"01","vb":""}]""";

        var reader = Open(Options(snapshot: SnapshotMode.Initial));
        var initialReads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(initialReads);
        Assert.Equal(Expected, Rows(initialReads));

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("flags");
        var incrementalReads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(incrementalReads);
        Assert.Equal(Expected, Rows(incrementalReads));

        await Db.ExecuteAsync("INSERT INTO flags VALUES (3, B'1', B'1', B'11', B'0101')");
        var insert = await reader.TakeAsync(1);
        Assert.Equal("""[{"id":3,"f":true,"vf":true,"b2":"11","vb":"0101"}]""", Rows(insert));
    }

    [Fact]
    public async Task A_domain_over_one_bit_is_a_boolean_in_the_stream_and_both_snapshots_as_in_Debezium()
    {
        // Debezium reads a domain column as its root type with the domain's own type modifier: BIT(1) underneath → BOOLEAN.
        await Db.ExecuteAsync("""
            CREATE DOMAIN flag AS bit(1);
            CREATE DOMAIN strict_flag AS flag NOT NULL;
            CREATE DOMAIN nibble AS bit(4);
            CREATE TABLE flagged (id int PRIMARY KEY, f flag, sf strict_flag, n nibble);
            INSERT INTO flagged VALUES (1, B'1', B'0', B'1010'), (2, NULL, B'1', B'0001')
            """);
        const string Expected = """[{"id":1,"f":true,"sf":false,"n":"1010"},{"id":2,"f":null,"sf":true,"n":"0001"}]""";

        var reader = Open(Options(snapshot: SnapshotMode.Initial));
        var initialReads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(initialReads);
        Assert.Equal(Expected, Rows(initialReads));

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("flagged");
        var incrementalReads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(incrementalReads);
        Assert.Equal(Expected, Rows(incrementalReads));

        await Db.ExecuteAsync("INSERT INTO flagged VALUES (3, B'0', B'1', B'1111')");
        var insert = await reader.TakeAsync(1);
        Assert.Equal("""[{"id":3,"f":false,"sf":true,"n":"1111"}]""", Rows(insert));
    }

    [Fact]
    public async Task An_hstore_is_the_JSON_Debezium_writes_in_the_stream_and_both_snapshots()
    {
        // hstore.handling.mode=json (the default): pgjdbc's HStoreConverter fills a java.util.HashMap in the order PostgreSQL
        // prints the pairs (shorter keys first), Jackson writes it compactly in the HashMap's iteration order; NULL stays null.
        await Db.ExecuteAsync("""
            CREATE EXTENSION IF NOT EXISTS hstore;
            CREATE TABLE tagged (id int PRIMARY KEY, h hstore, hs hstore[]);
            INSERT INTO tagged VALUES
              (1, 'zz=>1, bb=>2, a=>NULL, c=>3, id2=>4', ARRAY['a=>1'::hstore, NULL, '']),
              (2, hstore(ARRAY['q"t', 'back\slash', 'nl'], ARRAY['x', NULL, E'line\nbreak\ttab\u0001']), NULL),
              (3, '', NULL)
            """);
        const string Expected = """[{"id":1,"h":{"bb":"2","zz":"1","a":null,"c":"3","id2":"4"},"hs":[{"a":"1"},null,{}]},"""
            + """{"id":2,"h":{"q\"t":"x","back\\slash":null,"nl":"line\nbreak\ttab\u0001"},"hs":null},{"id":3,"h":{},"hs":null}]""";

        var reader = Open(Options(snapshot: SnapshotMode.Initial));
        var initialReads = await reader.TakeAsync(3);
        await reader.AcknowledgeAsync(initialReads);
        Assert.Equal(Expected, Rows(initialReads));

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("tagged");
        var incrementalReads = await reader.TakeAsync(3);
        await reader.AcknowledgeAsync(incrementalReads);
        Assert.Equal(Expected, Rows(incrementalReads));

        await Db.ExecuteAsync("INSERT INTO tagged VALUES (4, 'k=>v, é=>1, 日本=>2', NULL)");
        var insert = await reader.TakeAsync(1);
        Assert.Equal("""[{"id":4,"h":{"é":"1","k":"v","日本":"2"},"hs":null}]""", Rows(insert));
    }

    [Fact]
    public async Task A_point_is_Debeziums_Point_struct_in_the_stream_and_both_snapshots()
    {
        // io.debezium.data.geometry.Point: {x, y, wkb, srid}; wkb is OGC WKB little-endian (01, type 1, x, y), srid null.
        await Db.ExecuteAsync("""
            CREATE TABLE places (id int PRIMARY KEY, p point);
            INSERT INTO places VALUES (1, '(1,1)'), (2, '(-2.5,1e-7)'), (3, NULL)
            """);
        const string Expected = """[{"id":1,"p":{"x":1,"y":1,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAPA/","srid":null}},"""
            + """{"id":2,"p":{"x":-2.5,"y":1E-07,"wkb":"AQEAAAAAAAAAAAAEwEivvJry13o+","srid":null}},{"id":3,"p":null}]""";

        var reader = Open(Options(snapshot: SnapshotMode.Initial));
        var initialReads = await reader.TakeAsync(3);
        await reader.AcknowledgeAsync(initialReads);
        Assert.Equal(Expected, Rows(initialReads));

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("places");
        var incrementalReads = await reader.TakeAsync(3);
        await reader.AcknowledgeAsync(incrementalReads);
        Assert.Equal(Expected, Rows(incrementalReads));

        await Db.ExecuteAsync("INSERT INTO places VALUES (4, '(0,-1)')");
        var insert = await reader.TakeAsync(1);
        Assert.Equal("""[{"id":4,"p":{"x":0,"y":-1,"wkb":"AQEAAAAAAAAAAAAAAAAAAAAAAPC/","srid":null}}]""", Rows(insert));
    }

    [Fact]
    public async Task Numeric_without_scale_and_arrays_of_temporal_exact_and_uuid_types_are_as_in_Debezium()
    {
        // decimal.handling.mode=precise: a NUMERIC without precision/scale is a VariableScaleDecimal with its trailing zeros
        // stripped, in a column or as an array's element; NUMERIC(p,s)[] elements keep scale s. Array elements of date,
        // timestamp, timestamptz, time, timetz and uuid read as the same type's column does. interval[] and money[] have
        // no schema in Debezium (it drops the column); we keep their values.
        await Db.ExecuteAsync("""
            CREATE TABLE arrays (id int PRIMARY KEY, n numeric, na numeric[], n2a numeric(6,2)[], da date[], tsa timestamp[],
              tza timestamptz[], ta time[], ttza timetz[], ua uuid[], ia interval[], ma money[]);
            INSERT INTO arrays VALUES
              (1, 1.500, '{1.500,100,0.000,-0.0100,NULL}', '{1.5,-2}', '{2024-02-29,infinity}',
               '{"2024-01-02 03:04:05.5",-infinity}', '{"2024-01-02 03:04:05+02"}', '{13:14:15.123456,24:00:00}',
               '{01:02:03+02,"23:00:00-02"}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', '{"1 day",-00:00:01}', '{1.5}'),
              (2, 100, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
            """);
        const string Expected = """[{"id":1,"n":"1.5","na":["1.5","100","0","-0.01",null],"n2a":["1.50","-2.00"],"da":["2024-02-29","infinity"]"""
            + ""","tsa":["2024-01-02T03:04:05.500000","-infinity"],"tza":["2024-01-02T01:04:05.000000Z"],"ta":["13:14:15.123456","24:00:00.000000"]"""
            + ""","ttza":["23:02:03.000000Z","01:00:00.000000Z"],"ua":["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",null],"ia":[86400000000,-1000000],"ma":["1.50"]},"""
            + """{"id":2,"n":"100","na":[],"n2a":null,"da":null,"tsa":null,"tza":null,"ta":null,"ttza":null,"ua":null,"ia":null,"ma":null}]""";

        var reader = Open(Options(snapshot: SnapshotMode.Initial));
        var initialReads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(initialReads);
        Assert.Equal(Expected, Rows(initialReads));

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("arrays");
        var incrementalReads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(incrementalReads);
        Assert.Equal(Expected, Rows(incrementalReads));

        await Db.ExecuteAsync("INSERT INTO arrays (id, n, na, n2a) VALUES (3, 0.00, '{12.340}', '{0}')");
        var insert = await reader.TakeAsync(1);
        Assert.Equal("""[{"id":3,"n":"0","na":["12.34"],"n2a":["0.00"],"da":null,"tsa":null,"tza":null,"ta":null,"ttza":null,"ua":null,"ia":null,"ma":null}]""", Rows(insert));
    }

    [Fact]
    public async Task An_interval_of_more_hours_than_Int32_holds_is_its_microseconds()
    {
        await Db.ExecuteAsync("CREATE TABLE spans (id int PRIMARY KEY, span interval)");
        var reader = await OpenStreamingAsync(Options());
        await Db.ExecuteAsync("INSERT INTO spans VALUES (1, '2562047788 hours'), (2, '-2147483649 hours')");

        var inserts = await reader.TakeAsync(2, e => e.Kind == ChangeKind.Change);

        Assert.Equal([9_223_372_036_800_000_000L, -7_730_941_136_400_000_000L], inserts.Where(e => e.Kind == ChangeKind.Change).Select(e => (long)e.After!["span"]!));
    }

    [Fact]
    public async Task A_streamed_timestamp_beyond_int64_microseconds_fails_naming_table_column_and_value()
    {
        await Db.ExecuteAsync("CREATE TABLE far (id int PRIMARY KEY, due timestamp)");
        var reader = await OpenStreamingAsync(Options());
        await Db.ExecuteAsync("INSERT INTO far VALUES (1, '294276-12-31 23:59:59')");

        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.TakeAsync(1, e => e.Kind == ChangeKind.Change));

        Assert.True(e is CaptureStoppedException, $"not a capture stop: {e}");
        Assert.Contains("public.far", e.Message, StringComparison.Ordinal);
        Assert.Contains("'due'", e.Message, StringComparison.Ordinal);
        Assert.Contains("294276-12-31 23:59:59", e.Message, StringComparison.Ordinal);
        // the next step: PostgreSQL decodes the same change again after a restart, so only leaving the slot behind helps
        Assert.Contains("retrying cannot help", e.Message, StringComparison.Ordinal);
        Assert.Contains($"cdcpipeline slot drop {Db.Slot}", e.Message, StringComparison.Ordinal);
        Assert.Contains("when_needed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_snapshotted_timestamp_beyond_int64_microseconds_fails_naming_table_column_and_value()
    {
        await Db.ExecuteAsync("CREATE TABLE far (id int PRIMARY KEY, due timestamptz); INSERT INTO far VALUES (1, '294276-12-31 23:59:59+00')");
        var reader = Open(Options(snapshot: SnapshotMode.InitialOnly));

        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.TakeAsync(1));

        Assert.Contains("public.far", e.Message, StringComparison.Ordinal);
        Assert.Contains("'due'", e.Message, StringComparison.Ordinal);
        Assert.Contains("294276-12-31 23:59:59", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_incrementally_snapshotted_timestamp_beyond_int64_microseconds_stops_the_capture_naming_table_column_and_value()
    {
        // Retrying the chunk cannot help (the row still holds the value): the capture stops as the streamed and initial cases do.
        await Db.ExecuteAsync("CREATE TABLE far (id int PRIMARY KEY, due timestamptz); INSERT INTO far VALUES (1, '2024-01-01 00:00:00+00'), (2, '294276-12-31 23:59:59+00')");
        var reader = await OpenStreamingAsync(Options());

        ((PgOutputChangeSource)reader.Source).RequestSnapshot("far");
        var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.TakeAsync(1, e => e.Kind == ChangeKind.Change, TimeSpan.FromSeconds(15)));

        Assert.IsNotType<TimeoutException>(e);
        Assert.Contains("public.far", e.Message, StringComparison.Ordinal);
        Assert.Contains("'due'", e.Message, StringComparison.Ordinal);
        Assert.Contains("294276-12-31 23:59:59", e.Message, StringComparison.Ordinal);
        Assert.Contains("correct the value", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Money_reads_as_its_amount_when_the_database_formats_money_for_another_locale()
    {
        // A German legacy database prints money as '1.234,56 €' (lc_monetary); the amount must still be 1234.56.
        try
        {
            await Db.ExecuteAsync($"ALTER DATABASE \"{Db.Name}\" SET lc_monetary = 'de_DE.UTF-8'");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidParameterValue)
        {
            Assert.Skip("needs the de_DE.UTF-8 locale where PostgreSQL runs (localedef -i de_DE -f UTF-8 de_DE.UTF-8, then restart the server)");
        }

        await Db.ExecuteAsync("CREATE TABLE cash (id int PRIMARY KEY, amount money); INSERT INTO cash VALUES (1, 1234.56::numeric), (2, -0.5::numeric)");
        Assert.Equal("1.234,56 €", await Db.ScalarAsync<string>("SELECT amount::text FROM cash WHERE id = 1"));
        var reader = Open(Options(snapshot: SnapshotMode.Initial));
        var reads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(reads);
        await Db.ExecuteAsync("INSERT INTO cash VALUES (3, 7654321.09::numeric)");
        var insert = (await reader.TakeAsync(1)).Single(e => e.Kind == ChangeKind.Change);

        Assert.Equal(["1234.56", "-0.50"], reads.Select(e => e.After!["amount"]!.ToString()));
        Assert.Equal("7654321.09", insert.After!["amount"]!.ToString());
    }

    [Fact]
    public async Task Money_of_a_currency_without_minor_units_reads_with_the_configured_fraction_digits()
    {
        // A yen database (lc_monetary ja_JP, 0 fraction digits) stores ¥1,000 as the integer 1000. The capture reads money
        // under lc_monetary C, which prints that integer with 2 decimals ('$10.00'); with Debezium's money.fraction.digits
        // = 0 the amount is 1000. The rows are written under C here (no ja_JP locale needed): '10.00' is the integer 1000.
        await Db.ExecuteAsync("SET lc_monetary = 'C'; CREATE TABLE yen (id int PRIMARY KEY, amount money); INSERT INTO yen VALUES (1, '10.00'), (2, '-12345.67')");
        var reader = Open(Options(snapshot: SnapshotMode.Initial) with { MoneyFractionDigits = 0 });
        var reads = await reader.TakeAsync(2);
        await reader.AcknowledgeAsync(reads);
        await Db.ExecuteAsync("SET lc_monetary = 'C'; INSERT INTO yen VALUES (3, '92233720368547758.07')");
        var insert = (await reader.TakeAsync(1)).Single(e => e.Kind == ChangeKind.Change);

        Assert.Equal(["1000", "-1234567"], reads.Select(e => e.After!["amount"]!.ToString()));
        Assert.Equal("9223372036854775807", insert.After!["amount"]!.ToString());
    }

    private static string Rows(IEnumerable<ChangeEvent> events) =>
        "[" + string.Join(",", events.OrderBy(e => (long)e.After!["id"]!).Select(e => CanonicalJson.Serialize(e.After!))) + "]";
}
