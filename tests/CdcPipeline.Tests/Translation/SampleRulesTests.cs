using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using static CdcPipeline.Tests.Translation.TestChanges;

namespace CdcPipeline.Tests.Translation;

/// <summary>The rules shipped in samples/legacy-orders/rules, on changes of the sample schema.</summary>
public class SampleRulesTests
{
    private static readonly RuleTranslator Translator =
        RuleSet.LoadDirectory(RepoPath("samples", "legacy-orders", "rules")).CreateTranslator("legacy-orders");

    private static List<DomainEvent> Run(ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        Translator.Translate(change, output);
        return output;
    }

    private static string Data(DomainEvent e) => CanonicalJson.Serialize((Row)e.Data!);

    [Fact]
    public void A_day_in_the_legacy_system_produces_exactly_the_five_event_types()
    {
        ChangeEvent[] day =
        [
            Change(ChangeOperation.Read, "tb_cust_mst", after: Customer()),
            Change(ChangeOperation.Read, "tb_ord_mst", after: Order("S")),
            Change(ChangeOperation.Create, "tb_cust_mst", after: Customer()),
            Change(ChangeOperation.Update, "tb_cust_mst", Customer(), Customer(name: "Hanna Berger-Lund")),
            Change(ChangeOperation.Update, "tb_cust_mst", Customer(), Customer(zip: "1020   ")),
            Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P")),
            Change(ChangeOperation.Update, "tb_ord_mst", Order("P"), Order("P", memo: "call first")),
            Change(ChangeOperation.Update, "tb_ord_mst", Order("P"), Order("S", shippedOn: "20240105")),
            Change(ChangeOperation.Update, "tb_ord_mst", Order("P", orderNo: 1000002), Order("C", orderNo: 1000002)),
            Change(ChangeOperation.Create, "tb_aud_log", after: Row.From(("usr_id", "U0000001"), ("act_cd", "UP"))),
            Change(ChangeOperation.Delete, "tb_ord_mst", before: Order("C", orderNo: 1000002)),
        ];

        var types = day.SelectMany(Run).Select(e => e.Type).ToList();

        Assert.Equal(["CustomerRegistered", "CustomerAddressChanged", "OrderPlaced", "OrderShipped", "OrderCancelled"], types);
    }

    [Fact]
    public void Renumbering_a_customer_or_an_order_is_not_a_registration_or_a_new_order()
    {
        // An update of the primary key reaches the rules as a delete and a create (Debezium's key-change headers).
        ChangeEvent[] renumbered =
        [
            .. KeyChange("tb_cust_mst", "cust_no", Customer(), Customer(custNo: "C0000009")),
            .. KeyChange("tb_ord_mst", "ord_no", Order("P"), Order("P", orderNo: 1000009)),
        ];

        Assert.Empty(renumbered.SelectMany(Run));
    }

    [Fact]
    public void OrderPlaced_carries_the_order_with_its_legacy_fields_decoded()
    {
        var e = Assert.Single(Run(Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));
        Assert.Equal("OrderPlaced", e.Type);
        Assert.Equal("1000001", e.Subject);
        Assert.Equal("Order", e.AggregateType);
        Assert.Equal("""{"orderId":"1000001","customerId":"C0000001","orderedOn":"2024-01-02","total":"149.90","status":"PLACED"}""", Data(e));
    }

    [Fact]
    public void Snapshot_reads_do_not_re_announce_existing_orders_or_customers()
    {
        Assert.Empty(Run(Change(ChangeOperation.Read, "tb_ord_mst", after: Order("P"))));
        Assert.Empty(Run(Change(ChangeOperation.Read, "tb_cust_mst", after: Customer())));
    }

    [Fact]
    public void OrderShipped_fires_on_P_to_S_with_the_char8_ship_date()
    {
        var e = Assert.Single(Run(Change(ChangeOperation.Update, "tb_ord_mst", Order("P"), Order("S", shippedOn: "20240105"))));
        Assert.Equal("OrderShipped", e.Type);
        Assert.Equal("""{"orderId":"1000001","shippedOn":"2024-01-05"}""", Data(e));

        // Shipped but the legacy screen left the date blank: the event says so with null.
        var blank = Assert.Single(Run(Change(ChangeOperation.Update, "tb_ord_mst", Order("P"), Order("S"))));
        Assert.Equal("""{"orderId":"1000001","shippedOn":null}""", Data(blank));

        // A later update of a shipped order is not a second shipment.
        Assert.Empty(Run(Change(ChangeOperation.Update, "tb_ord_mst", Order("S"), Order("S", memo: "delivered"))));
    }

    [Fact]
    public void OrderCancelled_fires_on_any_transition_to_C()
    {
        foreach (var from in new[] { "P", "S" })
        {
            var e = Assert.Single(Run(Change(ChangeOperation.Update, "tb_ord_mst", Order(from), Order("C"))));
            Assert.Equal("OrderCancelled", e.Type);
            Assert.Contains(from == "P" ? "PLACED" : "SHIPPED", Data(e), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Customer_events_trim_blank_padded_fields()
    {
        var registered = Assert.Single(Run(Change(ChangeOperation.Create, "tb_cust_mst", after: Customer())));
        Assert.Equal(
            """{"customerId":"C0000001","name":"Hanna Berger","address":{"line1":"12 Mill Lane","line2":null,"zip":"1010"},"registeredOn":"1998-03-12"}""",
            Data(registered));

        var moved = Assert.Single(Run(Change(ChangeOperation.Update, "tb_cust_mst", Customer(), Customer(addr1: "3 Quay St", addr2: "Flat 2", zip: "2020   "))));
        Assert.Equal("CustomerAddressChanged", moved.Type);
        Assert.Equal("C0000001", moved.Subject);
        Assert.Equal("""{"customerId":"C0000001","address":{"line1":"3 Quay St","line2":"Flat 2","zip":"2020"}}""", Data(moved));
    }

    [Fact]
    public void Without_replica_identity_full_a_status_update_stops_with_advice()
    {
        var e = Assert.Throws<RuleEvaluationException>(() => Run(Change(ChangeOperation.Update, "tb_ord_mst", before: null, after: Order("S"))));
        Assert.Contains("REPLICA IDENTITY FULL", e.Message, StringComparison.Ordinal);
        Assert.Contains("tb_ord_mst.yaml", e.Message, StringComparison.Ordinal);
    }
}
