using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;

namespace CdcPipeline.Tests.Changes;

public class CanonicalJsonTests
{
    [Fact]
    public void A_change_renders_every_value_type_in_its_one_canonical_form()
    {
        var after = Row.From(
            ("id", 7L),
            ("amount", ExactDecimal.Parse("-12.50")),
            ("ratio", double.NaN),
            ("born", new Date(-1)),
            ("at", new LocalTimestamp(1_000_001)),
            ("atz", new UtcTimestamp(-62135596800000000)),
            ("t", new LocalTime(86_400_000_000)),
            ("tz", new UtcTime(3_600_000_001)),
            ("doc", new RawJson("{\"a\":[1,2]}")),
            ("raw", new byte[] { 1, 2, 3 }),
            ("tags", new object?[] { "a", null }),
            ("memo", Unavailable.Value),
            ("flags", new BitString("101")));
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Update,
            Source = new SourceInfo { Schema = "public", Table = "t", Lsn = 42, TxId = 9, Snapshot = SnapshotMarker.False },
            Position = new SourcePosition("s", 1),
            Key = Row.From(("id", 7L)),
            After = after,
        };

        Assert.Equal(
            """{"kind":"change","op":"u","schema":"public","table":"t","lsn":42,"txId":9,"snapshot":false,"key":{"id":7},"before":null,"after":{"id":7,"amount":"-12.50","ratio":"NaN","born":"1969-12-31","at":"1970-01-01T00:00:01.000001","atz":"0001-01-01T00:00:00.000000Z","t":"24:00:00.000000","tz":"01:00:00.000001Z","doc":{"a":[1,2]},"raw":"AQID","tags":["a",null],"memo":{"$unavailable":true},"flags":"101"}}""",
            CanonicalJson.Serialize(change));
    }

    [Fact]
    public void Temporal_values_format_into_a_span_exactly_as_their_text()
    {
        ISpanFormattable[] values =
        [
            new Date(-1), Date.PositiveInfinity, Date.NegativeInfinity,
            new LocalTimestamp(1_000_001), LocalTimestamp.NegativeInfinity,
            new UtcTimestamp(-62135596800000000), UtcTimestamp.PositiveInfinity,
        ];
        Span<char> buffer = stackalloc char[64];
        foreach (var value in values)
        {
            Assert.True(value.TryFormat(buffer, out var written, default, null));
            Assert.Equal(value.ToString(), buffer[..written].ToString());
        }
    }

    [Fact]
    public void Column_names_are_escaped_by_the_writer_s_own_encoder()
    {
        // The canonical writer keeps non-ASCII names as they are; a writer with the default encoder
        // escapes them. The per-shape cache of encoded names must not leak one form into the other.
        var row = Row.From(("주문번호", 1L), ("a\"b", 2L));
        Assert.Equal("""{"주문번호":1,"a\"b":2}""", CanonicalJson.Serialize(row));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            CanonicalJson.WriteRow(writer, row);
        }

        Assert.Equal("""{"\uC8FC\uBB38\uBC88\uD638":1,"a\u0022b":2}""", System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        Assert.Equal("""{"주문번호":1,"a\"b":2}""", CanonicalJson.Serialize(row));
    }
}
