using CdcPipeline.Core.Changes;
using CdcPipeline.Postgres.Capture;

namespace CdcPipeline.Tests.Postgres;

/// <summary>The slot's confirmed LSN moves only past units whose every event is acknowledged, in order.</summary>
public sealed class AckTrackerTests
{
    private static SourcePosition P(long major, long minor) => new("slot", major, minor);

    [Fact]
    public void A_transaction_is_confirmed_only_when_its_last_event_is_acknowledged()
    {
        var tracker = new AckTracker();
        tracker.Register(100, 2, 150);
        tracker.Register(200, 0, 250);

        Assert.Null(tracker.Acknowledge(P(100, 1)));
        Assert.Equal(150UL, tracker.Acknowledge(P(100, 2)));
        Assert.Equal(250UL, tracker.Acknowledge(P(200, 0)));
        Assert.Equal(250UL, tracker.FlushedLsn);
    }

    [Fact]
    public void Acknowledging_a_later_position_completes_every_earlier_unit()
    {
        var tracker = new AckTracker();
        tracker.Register(100, 0, 150);
        tracker.Register(200, 4, 250);
        tracker.Register(300, 1, 350);

        Assert.Equal(250UL, tracker.Acknowledge(P(300, 0)));
    }

    [Fact]
    public void A_unit_without_events_completes_as_soon_as_everything_before_it_is_done()
    {
        var tracker = new AckTracker();
        Assert.Equal(50UL, tracker.Register(10, -1, 50));
        tracker.Register(100, 0, 150);
        Assert.Null(tracker.Register(120, -1, 170));
        Assert.Equal(170UL, tracker.Acknowledge(P(100, 0)));
    }

    [Fact]
    public void Snapshot_chunks_run_their_callback_and_do_not_move_the_slot()
    {
        var tracker = new AckTracker();
        var done = new List<int>();
        tracker.Register(99, 9, null, () => done.Add(1));
        tracker.Register(99, 19, null, () => done.Add(2));
        tracker.Register(100, 0, 150);

        Assert.Null(tracker.Acknowledge(P(99, 12)));
        Assert.Equal([1], done);
        Assert.Equal(150UL, tracker.Acknowledge(P(100, 0)));
        Assert.Equal([1, 2], done);
    }
}
