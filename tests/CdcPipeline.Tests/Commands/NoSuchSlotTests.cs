using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>What <c>slot lag NAME</c> and <c>slot drop NAME</c> say for a slot that is not on the server.</summary>
public class NoSuchSlotTests
{
    [Fact]
    public void A_few_slots_are_listed_and_the_near_one_suggested()
    {
        var line = SlotCommand.NoSuchSlot("cdc_slt", "db:5432", ": nothing dropped", ["orders_slot", "cdc_slot", "audit"]);

        Assert.Equal(
            "no replication slot named 'cdc_slt' on db:5432: nothing dropped; did you mean 'cdc_slot'?; the slots there: audit, cdc_slot, orders_slot (cdcpipeline slot list shows them)",
            line);
    }

    [Fact]
    public void Many_slots_are_counted_not_listed_and_a_far_name_is_not_suggested()
    {
        var many = Enumerable.Range(0, SlotCommand.SlotsListedWhenMissing + 1).Select(i => $"pipeline_{i}_slot").ToList();

        var line = SlotCommand.NoSuchSlot("orders", "db:5432", "", many);

        Assert.Equal($"no replication slot named 'orders' on db:5432; cdcpipeline slot list shows the {many.Count} slots there", line);
    }

    [Fact]
    public void No_slots_at_all_says_so()
    {
        Assert.Equal("no replication slot named 'a' on db:5432; the server has no replication slots", SlotCommand.NoSuchSlot("a", "db:5432", "", []));
    }
}
