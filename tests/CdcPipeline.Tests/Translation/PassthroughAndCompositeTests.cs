using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation;
using CdcPipeline.Samples.LegacyOrders;
using static CdcPipeline.Tests.Translation.TestChanges;

namespace CdcPipeline.Tests.Translation;

public class PassthroughAndCompositeTests
{
    private static List<DomainEvent> Run(IChangeTranslator translator, ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        translator.Translate(change, output);
        return output;
    }

    [Fact]
    public void Passthrough_turns_each_row_change_into_a_raw_change_event()
    {
        var translator = new PassthroughTranslator("legacy-orders");
        var change = Change(ChangeOperation.Update, "tb_aud_log", after: Row.From(("usr_id", "U0000001")), commitLsn: 12);

        var e = Assert.Single(Run(translator, change));

        Assert.True(e.IsRawChange);
        Assert.Equal(DomainEvent.RawChangeType, e.Type);
        Assert.Same(change, e.Change);
        Assert.Equal("/cdcpipeline/legacy-orders/public.tb_aud_log", e.Source);
        Assert.Equal(EventIds.For(change.Position, PassthroughTranslator.RuleId), e.Id);
        Assert.Null(e.Subject); // a table without a primary key has no key
        Assert.Empty(Run(translator, Other(ChangeKind.Heartbeat)));
        Assert.Empty(Run(translator, Other(ChangeKind.Transaction)));
        Assert.Single(Run(new PassthroughTranslator("p", ChangeKind.Change, ChangeKind.Tombstone), Other(ChangeKind.Tombstone)));
    }

    [Fact]
    public void A_csharp_translator_registered_for_a_table_runs_beside_the_rules()
    {
        var rules = RuleFiles.Translator("table: tb_ord_mst\nevents:\n  - type: OrderPlaced\n    when: op == \"c\"\n");
        var translator = new CompositeTranslator()
            .Add(rules)
            .Add(OrderLinesTranslator.Table, new OrderLinesTranslator("legacy-orders"));

        var line = Row.From(("ord_no", new ExactDecimal(1000001, 0)), ("ln_no", (short)1), ("itm_cd", "WIDGET    "), ("qty", 3), ("unt_prc", Dec("19.95")));
        var lineChange = Change(ChangeOperation.Create, "tb_ord_dtl", after: line, commitLsn: 50);
        var events = Run(translator, lineChange);

        var added = Assert.Single(events);
        Assert.Equal("OrderLineAdded", added.Type);
        Assert.Equal("1000001", added.Subject); // ordered with the order's own events
        Assert.Equal(EventIds.For(lineChange.Position, "OrderLinesTranslator#OrderLineAdded"), added.Id);
        Assert.Equal(
            """{"orderId":"1000001","lineNo":1,"itemCode":"WIDGET","quantity":3,"unitPrice":"19.95","lineTotal":"59.85"}""",
            Core.Json.CanonicalJson.Serialize((Row)added.Data!));

        Assert.Equal(["OrderPlaced"], Run(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))).Select(e => e.Type));
        Assert.Empty(Run(translator, Change(ChangeOperation.Update, "tb_ord_dtl", line, line)));
    }

    [Fact]
    public void Composite_runs_matching_translators_in_registration_order()
    {
        var calls = new List<string>();
        var translator = new CompositeTranslator()
            .Add("tb_ord_mst", new Recording("first", calls))
            .Add(new Recording("every", calls))
            .Add("other.tb_ord_mst", new Recording("other-schema", calls))
            .Add("public.tb_ord_mst", new Recording("last", calls));

        translator.Translate(Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P")), []);

        Assert.Equal(["first", "every", "last"], calls);
    }

    [Fact]
    public void Translators_Create_uses_rules_when_given_and_passes_changes_through_otherwise()
    {
        var order = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"));

        var raw = Assert.Single(Run(Translators.Create(null, "legacy-orders"), order));
        Assert.True(raw.IsRawChange);

        var withRules = Translators.Create(RepoPath("samples", "legacy-orders", "rules"), "legacy-orders",
            (OrderLinesTranslator.Table, new OrderLinesTranslator("legacy-orders")));
        Assert.Equal(["OrderPlaced"], Run(withRules, order).Select(e => e.Type));
    }

    private sealed class Recording(string name, List<string> calls) : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) => calls.Add(name);
    }
}
