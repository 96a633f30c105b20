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
}
