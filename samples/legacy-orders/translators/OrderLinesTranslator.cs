using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Samples.LegacyOrders;

/// <summary>
/// A C# translator for what the rule files do not say: a new order line (<c>tb_ord_dtl</c>) becomes
/// <c>OrderLineAdded</c> with an exact line total (quantity × NUMERIC unit price, computed on the
/// unscaled integer, so no digit is lost however wide the NUMERIC). The subject is the order number, the
/// same as the order's own events, so a line is delivered in order with the order it belongs to.
/// Register it beside the rules:
/// <c>new CompositeTranslator().Add(rules.CreateTranslator(name)).Add("public.tb_ord_dtl", new OrderLinesTranslator(name))</c>.
/// </summary>
public sealed class OrderLinesTranslator(string pipelineName) : IChangeTranslator
{
    public const string Table = "public.tb_ord_dtl";
    public const string EventType = "OrderLineAdded";
    private const string RuleId = "OrderLinesTranslator#" + EventType;

    private static readonly RowShape DataShape = new(["orderId", "lineNo", "itemCode", "quantity", "unitPrice", "lineTotal"]);

    private readonly string _source = EventSources.For(pipelineName, Table);

    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        if (change is not { Kind: ChangeKind.Change, Operation: ChangeOperation.Create, After: { } line }
            || change.Source.QualifiedTable != Table)
        {
            return;
        }

        var orderNo = line["ord_no"];
        var quantity = Convert.ToInt64(line["qty"], System.Globalization.CultureInfo.InvariantCulture);
        var unitPrice = line["unt_prc"] is ExactDecimal price
            ? price
            : throw new InvalidOperationException($"tb_ord_dtl.unt_prc is {line["unt_prc"]?.GetType().Name ?? "null"}, expected a NUMERIC");
        var lineTotal = new ExactDecimal(unitPrice.Unscaled * quantity, unitPrice.Scale);

        output.Add(new DomainEvent
        {
            Id = EventIds.For(change, RuleId),
            Type = EventType,
            Source = _source,
            Subject = EventSources.Subject([orderNo]),
            AggregateType = "Order",
            Time = EventSources.Time(change),
            Data = new Row(DataShape, [orderNo, line["ln_no"], (line["itm_cd"] as string)?.TrimEnd(' '), quantity, unitPrice, lineTotal]),
            RuleId = RuleId,
            Position = change.Position,
            Change = change,
        });
    }
}
