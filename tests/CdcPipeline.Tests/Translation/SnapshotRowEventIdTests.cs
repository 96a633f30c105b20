using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Tests.Translation;

/// <summary>
/// Event ids of the embedded path's snapshot rows: named by the request they were read for, the table, the key and the
/// row, not by where the chunk was delivered. A chunk read again after a stop is delivered at a new watermark; its rows
/// must keep the ids of their first copies, and a later request must not.
/// </summary>
public class SnapshotRowEventIdTests
{
    private static ChangeEvent Read(string request, long major, long minor, int id = 7, string note = "n7", string slot = "cdc_slot") => new()
    {
        Kind = ChangeKind.Change,
        Operation = ChangeOperation.Read,
        Source = new SourceInfo { Schema = "public", Table = "acct", Snapshot = SnapshotMarker.Incremental },
        Position = new SourcePosition(slot, major, minor),
        Key = Row.From(("id", id)),
        After = Row.From(("id", id), ("note", note)),
        SnapshotRequest = request,
    };

    private static string Id(ChangeEvent change) => EventIds.For(change, "acct#AccountRead");

    [Fact]
    public void A_row_read_again_for_the_same_request_at_another_watermark_gets_the_same_id()
    {
        Assert.Equal(Id(Read("signal 'ops-7' at 0/1A2B3C4", 1000, 3)), Id(Read("signal 'ops-7' at 0/1A2B3C4", 5000, 41)));
        Assert.Equal(PassthroughId(Read("r1", 1000, 3)), PassthroughId(Read("r1", 5000, 41)));
    }

    [Fact]
    public void Another_request_another_slot_another_key_or_another_row_is_another_read()
    {
        var id = Id(Read("signal 'ops-7' at 0/1A2B3C4", 1000, 3));

        Assert.NotEqual(id, Id(Read("signal 'ops-7' at 0/2000000", 1000, 3)));
        Assert.NotEqual(id, Id(Read("signal 'ops-7' at 0/1A2B3C4", 1000, 3, slot: "other_slot")));
        Assert.NotEqual(id, Id(Read("signal 'ops-7' at 0/1A2B3C4", 1000, 3, id: 8)));
        Assert.NotEqual(id, Id(Read("signal 'ops-7' at 0/1A2B3C4", 1000, 3, note: "changed since")));
    }

    [Fact]
    public void A_row_without_key_or_without_request_is_named_by_its_position_as_before()
    {
        var keyless = new ChangeEvent
        {
            Kind = ChangeKind.Change, Operation = ChangeOperation.Read, Source = new SourceInfo { Schema = "public", Table = "log" },
            Position = new SourcePosition("cdc_slot", 1000, 3), After = Row.From(("line", "x")), SnapshotRequest = "r1",
        };
        var read = Read("r1", 1000, 3);
        var streamed = new ChangeEvent
        {
            Kind = read.Kind, Operation = ChangeOperation.Create, Source = read.Source, Position = read.Position, Key = read.Key, After = read.After,
        };

        Assert.Null(keyless.Origin);
        Assert.Equal(EventIds.For(keyless.Position, "acct#AccountRead"), Id(keyless));
        Assert.Null(streamed.Origin);
        Assert.Equal(EventIds.For(streamed.Position, "acct#AccountRead"), Id(streamed));
    }

    [Fact]
    public void A_change_read_back_with_its_recorded_name_gets_the_ids_of_the_change_it_was()
    {
        var original = Read("r1", 1000, 3);
        var readBack = new ChangeEvent
        {
            Kind = original.Kind, Operation = original.Operation, Source = original.Source, Position = original.Position,
            Key = original.Key, After = original.After, Origin = original.Origin,
        };

        Assert.Equal(Id(original), Id(readBack));
    }

    /// <summary>A pass-through event's id (made on first read, from the change the event keeps).</summary>
    private static string PassthroughId(ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        new PassthroughTranslator("p").Translate(change, output);
        return Assert.Single(output).Id;
    }
}
