using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Postgres.Types;

namespace CdcPipeline.Tests.Changes;

/// <summary>
/// A change's canonical JSON with its <see cref="CanonicalValueTypes"/> reads back as the values the embedded decoder made,
/// type and all: what <c>dlq redrive</c> hands the rules for a <c>translate</c> letter.
/// </summary>
public sealed class CanonicalValueTypesTests
{
    private static object? Pg(uint oid, string text) => PgTextValues.TryGetBuiltIn(oid)!(text);

    [Fact]
    public void Every_value_the_embedded_decoder_makes_reads_back_as_the_same_value_of_the_same_type()
    {
        var int4 = PgTextValues.TryGetBuiltIn(23)!;
        (string, object?)[] columns =
        [
            ("text", Pg(25, "héllo")),
            ("bigint", Pg(20, "9007199254740993")),
            ("flag", Pg(16, "t")),
            ("nothing", null),
            ("numeric", Pg(1700, "150.00")),
            ("numeric_nan", Pg(1700, "NaN")),
            ("money", Pg(790, "$1,234.50")),
            ("real", Pg(700, "1.5")),
            ("double_whole", Pg(701, "2")),
            ("double_inf", Pg(701, "-Infinity")),
            ("date", Pg(1082, "2024-03-05")),
            ("date_bc", Pg(1082, "0044-03-15 BC")),
            ("date_inf", Pg(1082, "infinity")),
            ("ts", Pg(1114, "2024-03-01 10:00:00.25")),
            ("ts_far", Pg(1114, "20000-01-01 00:00:00")),
            ("ts_inf", Pg(1114, "-infinity")),
            ("tstz", Pg(1184, "2024-03-01 10:00:00.5+02")),
            ("time", Pg(1083, "23:59:59.999999")),
            ("timetz", Pg(1266, "10:00:00+02")),
            ("interval", Pg(1186, "P1DT2H")),
            ("bits", Pg(1560, "1010")),
            ("bytes", Pg(17, "\\x00ff10")),
            ("json_text", Pg(114, "\"just text\"")),
            ("json_number", Pg(3802, "42")),
            ("json_object", Pg(3802, "{\"a\": [1, 2]}")),
            ("point", Pg(600, "(1.5,-2)")),
            ("ints", PgTextValues.ParseArray("{1,NULL,3}", int4, ',')),
            ("dates", PgTextValues.ParseArray("{2024-01-01,NULL}", PgTextValues.TryGetBuiltIn(1082)!, ',')),
            ("matrix", PgTextValues.ParseArray("{{1.5,2},{3,4}}", PgTextValues.TryGetBuiltIn(1700)!, ',')),
            ("empty", PgTextValues.ParseArray("{}", int4, ',')),
            ("small", (short)7),
            ("int", 70_000),
            ("uuid", Guid.Parse("7d4f0e9a-1b2c-4d5e-8f90-123456789abc")),
            ("clr_decimal", 12.50m),
            ("toasted", Unavailable.Value),
        ];
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Update,
            Source = new SourceInfo { Schema = "public", Table = "t" },
            Position = new SourcePosition("slot", 1),
            Key = Row.From(("bigint", 1L)),
            After = Row.From(columns),
        };

        var types = CanonicalValueTypes.Of(change);
        Assert.NotNull(types);
        using var typesDocument = JsonDocument.Parse(types);
        Assert.False(typesDocument.RootElement.TryGetProperty("key", out _), "a key of a bigint needs no types");
        using var json = JsonDocument.Parse(CanonicalJson.Serialize(change));
        var read = CanonicalValueTypes.ReadRow(json.RootElement.GetProperty("after"), typesDocument.RootElement.GetProperty("after"));

        Assert.Equal(columns.Select(c => c.Item1), read.Keys);
        foreach (var (name, expected) in columns)
        {
            var actual = read[name];
            Assert.True(Same(expected, actual), $"{name}: expected {Describe(expected)}, read {Describe(actual)}");
        }

        // Written again, the read change is the same JSON with the same types.
        var again = new ChangeEvent { Kind = change.Kind, Operation = change.Operation, Source = change.Source, Position = change.Position, Key = change.Key, After = read };
        Assert.Equal(CanonicalJson.Serialize(change), CanonicalJson.Serialize(again));
        Assert.Equal(types, CanonicalValueTypes.Of(again));
    }

    [Fact]
    public void A_change_of_text_bigints_and_booleans_has_no_types_and_reads_as_its_json()
    {
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Source = new SourceInfo(),
            Position = new SourcePosition("slot", 1),
            After = Row.From(("a", "x"), ("b", 2L), ("c", true), ("d", null)),
        };
        Assert.Null(CanonicalValueTypes.Of(change));

        // A letter without types (written before they were kept) reads as before: decimals as decimal, json as RawJson.
        using var json = JsonDocument.Parse("""{"n":1.5,"s":"2024-01-01","o":{"a":1}}""");
        var row = CanonicalValueTypes.ReadRow(json.RootElement, null);
        Assert.Equal(1.5m, row["n"]);
        Assert.Equal("2024-01-01", row["s"]);
        Assert.Equal(new RawJson("""{"a":1}"""), row["o"]);
    }

    [Fact]
    public void A_value_that_is_not_of_its_type_is_an_error_naming_the_column()
    {
        using var json = JsonDocument.Parse("""{"d":"yesterday"}""");
        using var types = JsonDocument.Parse("""{"d":"date"}""");
        var e = Assert.Throws<FormatException>(() => CanonicalValueTypes.ReadRow(json.RootElement, types.RootElement));
        Assert.Contains("column 'd'", e.Message, StringComparison.Ordinal);

        using var unknown = JsonDocument.Parse("""{"d":"hologram"}""");
        e = Assert.Throws<FormatException>(() => CanonicalValueTypes.ReadRow(json.RootElement, unknown.RootElement));
        Assert.Contains("unknown value type 'hologram'", e.Message, StringComparison.Ordinal);
    }

    private static bool Same(object? expected, object? actual) => (expected, actual) switch
    {
        (null, null) => true,
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (Row x, Row y) => x.Keys.SequenceEqual(y.Keys) && x.Keys.All(k => Same(x[k], y[k])),
        (System.Collections.IList x, System.Collections.IList y) when expected is not string =>
            x.Count == y.Count && Enumerable.Range(0, x.Count).All(i => Same(x[i], y[i])),
        (decimal x, decimal y) => x == y && x.Scale == y.Scale,
        (ExactDecimal x, ExactDecimal y) => x.Equals(y) && x.Scale == y.Scale,
        _ => expected is not null && actual is not null && expected.GetType() == actual.GetType() && expected.Equals(actual),
    };

    private static string Describe(object? value) => value is null ? "null" : $"{value.GetType().Name} {CanonicalJson.Serialize(Row.From(("v", value)))}";
}
