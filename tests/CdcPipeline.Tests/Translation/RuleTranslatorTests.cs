using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using static CdcPipeline.Tests.Translation.TestChanges;

namespace CdcPipeline.Tests.Translation;

public class RuleTranslatorTests
{
    private const string Orders = """
        table: tb_ord_mst
        aggregate: Order
        key: ord_no
        events:
          - type: OrderPlaced
            when: op == "c"
            data: { orderId: after.ord_no }
          - type: OrderTouched
            when: op == "c" || op == "u"
          - type: ShipOrder
            kind: command
            target: warehouse
            subject: '"ship-" + after.ord_no'
            when: op == "u" && after.ord_sts_cd == "S"
        """;

    private static List<DomainEvent> Run(IChangeTranslator translator, ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        translator.Translate(change, output);
        return output;
    }

    [Fact]
    public void Every_matching_rule_produces_one_event_in_rule_order_with_cloudevents_attributes()
    {
        var translator = RuleFiles.Translator(Orders);
        var change = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"));

        var events = Run(translator, change);

        Assert.Equal(["OrderPlaced", "OrderTouched"], events.Select(e => e.Type));
        var placed = events[0];
        Assert.Equal("/cdcpipeline/legacy-orders/public.tb_ord_mst", placed.Source);
        Assert.Equal("1000001", placed.Subject);
        Assert.Equal("Order", placed.AggregateType);
        Assert.Equal(new DateTimeOffset(2024, 1, 2, 10, 0, 0, TimeSpan.Zero), placed.Time);
        Assert.Equal(DomainEventKind.Event, placed.Kind);
        Assert.Equal("orders#OrderPlaced", placed.RuleId);
        Assert.Equal(change.Position, placed.Position);
        Assert.Null(events[1].Data);

        // The events keep what the change was and where, not its rows or bytes (kept alive until delivered).
        Assert.Same(placed.Change, events[1].Change);
        Assert.Equal((change.Kind, change.Operation, change.Position), (placed.Change.Kind, placed.Change.Operation, placed.Change.Position));
        Assert.Equal(change.CapturedAt, placed.Change.CapturedAt);
        Assert.NotNull(change.After);
        Assert.Null(placed.Change.After);
        Assert.Null(placed.Change.Before);
        Assert.Null(placed.Change.Raw);
    }

    [Fact]
    public void The_changes_of_a_table_share_one_source_in_their_events_and_the_events_keep_no_key_or_name()
    {
        var translator = RuleFiles.Translator(Orders);
        var key = Row.From(("ord_no", (object?)1000001L));
        var first = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), key: key, commitLsn: 2000);
        var second = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), key: key, commitLsn: 3000);
        var third = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), key: key, commitLsn: 4000, schema: "sales");
        var named = new ChangeEvent
        {
            Kind = first.Kind, Operation = first.Operation, Source = first.Source, Position = first.Position, Key = key, After = first.After, NamedBySource = true,
        };

        var a = Run(translator, first)[0].Change;
        var b = Run(translator, second)[0].Change;
        var n = Run(translator, named)[0];

        // What a sink's topic template reads is there; what differs from record to record is not kept.
        Assert.Equal(first.Source with { Lsn = null, TxId = null, CommitTime = null }, a.Source);
        Assert.Same(a.Source, b.Source);
        Assert.Same(a.Source, n.Change.Source);
        Assert.Equal(second.Position, b.Position);
        Assert.Null(a.Key);

        // The name was read once, for the id, and is not kept with the event.
        Assert.Equal(EventIds.For(named, "orders#OrderPlaced"), n.Id);
        Assert.Null(n.Change.Origin);

        // Another table (here: schema) gets its own.
        var other = RuleFiles.Translator(Orders.Replace("table: tb_ord_mst", "table: sales.tb_ord_mst", StringComparison.Ordinal));
        var c = Run(other, third)[0].Change;
        Assert.Equal("sales", c.Source.Schema);
        Assert.NotSame(a.Source, c.Source);
    }

    [Fact]
    public void An_event_keeps_no_transaction_block_of_its_change_nor_carries_one_as_an_attribute()
    {
        // With provide.transaction.metadata, Debezium adds a transaction block (id, total_order, data_collection_order) to every
        // change; only the transaction topic's BEGIN/END records become ChangeEvent.Transaction, and rules make no event of those.
        var decoder = new CdcPipeline.Core.Debezium.DebeziumJsonDecoder();
        var change = decoder.DecodeValue(System.Text.Encoding.UTF8.GetBytes(
            """{"before":null,"after":{"ord_no":1000001,"ord_sts_cd":"P"},"source":{"connector":"postgresql","name":"srv","db":"legacy","schema":"public","table":"tb_ord_mst","txId":770,"lsn":24023040,"ts_ms":1709280000412,"snapshot":"false"},"op":"c","ts_ms":1709280000500,"transaction":{"id":"770:24023040","total_order":1,"data_collection_order":1}}"""),
            1, "srv.public.tb_ord_mst");
        var end = decoder.DecodeValue(System.Text.Encoding.UTF8.GetBytes(
            """{"status":"END","id":"770:24023040","event_count":1,"data_collections":[{"data_collection":"public.tb_ord_mst","event_count":1}],"ts_ms":1709280000500}"""),
            2, "srv.transaction");

        var events = Run(RuleFiles.Translator(Orders), change);

        Assert.Null(change.Transaction);
        Assert.All(events, e => Assert.Null(e.Change.Transaction));
        Assert.All(events, e => Assert.DoesNotContain("770:24023040", CdcPipeline.Core.Json.EventJson.Serialize(e), StringComparison.Ordinal));
        Assert.Equal(["cdckind", "cdcaggregate", "cdcrule", "cdcposition"], CdcPipeline.Core.Json.CloudEventJson.ExtensionAttributes(events[0]).Select(a => a.Key));
        Assert.NotNull(end.Transaction);
        Assert.Empty(Run(RuleFiles.Translator(Orders), end));
    }

    [Fact]
    public void A_command_carries_its_target_and_its_own_subject()
    {
        var events = Run(RuleFiles.Translator(Orders), Change(ChangeOperation.Update, "tb_ord_mst", Order("P"), Order("S")));

        var command = Assert.Single(events, e => e.Type == "ShipOrder");
        Assert.Equal(DomainEventKind.Command, command.Kind);
        Assert.Equal("warehouse", command.Target);
        Assert.Equal("ship-1000001", command.Subject);
    }

    [Fact]
    public void Event_ids_are_deterministic_per_position_and_rule()
    {
        var translator = RuleFiles.Translator(Orders);
        var first = Run(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), commitLsn: 77, index: 3));
        var replay = Run(RuleFiles.Translator(Orders), Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), commitLsn: 77, index: 3));
        var elsewhere = Run(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), commitLsn: 77, index: 4));

        Assert.Equal(first.Select(e => e.Id), replay.Select(e => e.Id));
        Assert.NotEqual(first[0].Id, first[1].Id);
        Assert.Empty(first.Select(e => e.Id).Intersect(elsewhere.Select(e => e.Id)));
        Assert.Equal(EventIds.For(new SourcePosition("cdc_slot", 77, 3), "orders#OrderPlaced"), first[0].Id);
        Assert.True(Guid.TryParse(first[0].Id, out _));
    }

    [Fact]
    public void Tables_without_rules_and_records_that_are_not_row_changes_produce_nothing()
    {
        var translator = RuleFiles.Translator(Orders);

        Assert.Empty(Run(translator, Change(ChangeOperation.Create, "tb_aud_log", after: Row.From(("usr_id", "U1")))));
        Assert.Empty(Run(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), schema: "archive")));
        foreach (var kind in new[] { ChangeKind.Heartbeat, ChangeKind.Transaction, ChangeKind.Tombstone, ChangeKind.Message })
        {
            Assert.Empty(Run(translator, Other(kind)));
        }
    }

    [Fact]
    public void A_rule_file_naming_the_table_in_another_case_fails_the_change_instead_of_skipping_it()
    {
        // Debezium captures public.tb_ord_mst for a table list saying PUBLIC.TB_ORD_MST (it matches the list
        // case-insensitively), and the source reads it; a rule file saying the same must not let its changes pass
        // without events as if the table had no rules. The change is poison (dead-lettered, kept) with the fix named.
        var translator = RuleFiles.Translator(Orders.Replace("table: tb_ord_mst", "table: PUBLIC.TB_ORD_MST", StringComparison.Ordinal));

        var e = Assert.Throws<RuleEvaluationException>(() => Run(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));

        Assert.Contains("orders.yaml", e.Message, StringComparison.Ordinal);
        Assert.Contains("PUBLIC.TB_ORD_MST", e.Message, StringComparison.Ordinal);
        Assert.Contains("table: public.tb_ord_mst", e.Message, StringComparison.Ordinal);

        // The exact name still wins: a quoted "Orders" and an unquoted orders are two tables to PostgreSQL.
        var both = RuleSet.Parse([("orders.yaml", Orders), ("upper.yaml", Orders.Replace("table: tb_ord_mst", "table: public.TB_ORD_MST", StringComparison.Ordinal))])
            .CreateTranslator("legacy-orders");
        Assert.Equal("/cdcpipeline/legacy-orders/public.tb_ord_mst", Assert.Single(Run(both, Change(ChangeOperation.Update, "tb_ord_mst", before: Order("P"), after: Order("P")))).Source);
        Assert.Equal("/cdcpipeline/legacy-orders/public.TB_ORD_MST", Assert.Single(Run(both, Change(ChangeOperation.Update, "TB_ORD_MST", before: Order("P"), after: Order("P")))).Source);
    }

    [Fact]
    public void Composite_keys_join_in_key_order_and_escape_the_separator()
    {
        var translator = RuleFiles.Translator("""
            table: public.tb_ord_dtl
            key: [ord_no, ln_no]
            events:
              - type: LineChanged
            """);

        var line = Row.From(("ord_no", new ExactDecimal(1000001, 0)), ("ln_no", (short)2), ("itm_cd", "A/B       "));
        Assert.Equal("1000001/2", Run(translator, Change(ChangeOperation.Create, "tb_ord_dtl", after: line)).Single().Subject);
        // A delete has no after image: the key comes from the before image.
        Assert.Equal("1000001/2", Run(translator, Change(ChangeOperation.Delete, "tb_ord_dtl", before: line)).Single().Subject);

        Assert.Equal("a%2Fb/c%25", EventSources.Subject(["a/b", "c%"]));
        Assert.Equal("C0000001", EventSources.Subject(["C0000001  "]));
    }

    [Fact]
    public void Without_key_the_subject_is_the_changes_own_key()
    {
        var translator = RuleFiles.Translator("table: tb_ord_mst\nevents:\n  - type: X\n");
        var change = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), key: Row.From(("ord_no", new ExactDecimal(42, 0))));
        Assert.Equal("42", Run(translator, change).Single().Subject);
    }

    private static readonly Dictionary<string, RuleColumnType> ColumnTypes = new(StringComparer.Ordinal)
    {
        ["sts"] = new(ValueKinds.Text, "character(2)"),
        ["qty"] = new(ValueKinds.Integer, "integer"),
        ["ratio"] = new(ValueKinds.Float, "double precision"),
        ["amt"] = new(ValueKinds.Decimal, "numeric(10,2)"),
        ["flag"] = new(ValueKinds.Bool, "boolean"),
        ["nm"] = new(ValueKinds.Text, "text"),
        ["dt"] = new(ValueKinds.Date, "date"),
        ["ts"] = new(ValueKinds.LocalTimestamp, "timestamp without time zone"),
        ["tz"] = new(ValueKinds.UtcTimestamp, "timestamp with time zone"),
        ["tm"] = new(ValueKinds.LocalTime, "time without time zone"),
    };

    [Theory]
    [InlineData("after.sts == 5", true)]
    [InlineData("after.sts != 5", true)]
    [InlineData("5 < after.sts", true)]
    [InlineData("after.qty == \"3\"", true)]
    [InlineData("after.ratio > 0.25", true)]
    [InlineData("after.ratio == after.amt", true)]
    [InlineData("after.flag == 1", true)]
    [InlineData("after.qty", true)]
    [InlineData("!after.sts", true)]
    [InlineData("after.amt && op == \"c\"", true)]
    [InlineData("op == \"c\" ? after.ratio : after.qty", true)]
    [InlineData("after.sts == \"5\"", false)]
    [InlineData("after.qty == 3", false)]
    [InlineData("after.qty < after.ratio", false)]
    [InlineData("number(after.ratio) > 0.25", false)]
    [InlineData("number(after.sts) == 5", false)]
    [InlineData("after.amt >= 1.5", false)]
    [InlineData("after.flag", false)]
    [InlineData("after.flag == true && !after.flag == false", false)]
    [InlineData("coalesce(after.nm, after.qty) == 5", false)] // text or a number: only the value tells
    // Dates and times compare only with their own type (the binder refuses text, a number, another date/time type)
    [InlineData("after.tz > \"2024-01-01\"", true)]
    [InlineData("after.tz == \"2024-03-01T08:15:30.000000Z\"", true)]
    [InlineData("after.dt >= 20240101", true)]
    [InlineData("after.ts < after.tz", true)]
    [InlineData("after.dt <= after.ts", true)]
    [InlineData("after.tm == after.ts", true)]
    [InlineData("after.tz > timestamp(\"20240101000000\", \"yyyyMMddHHmmss\")", true)]
    [InlineData("after.ts > source.commitTime", true)]
    [InlineData("after.flag == after.dt", true)]
    [InlineData("after.ts > timestamp(\"20240101000000\", \"yyyyMMddHHmmss\")", false)]
    [InlineData("after.dt >= date(\"20240101\", \"yyyyMMdd\")", false)]
    [InlineData("after.tz < source.commitTime", false)]
    [InlineData("after.tz != null && text(after.tz) == \"2024-03-01T08:15:30.000000Z\"", false)]
    [InlineData("after.dt == after.dt", false)]
    // A function given a value it never takes
    [InlineData("date(after.tz, \"yyyyMMdd\") != null", true)]
    [InlineData("timestamp(after.dt, \"yyyyMMddHHmmss\") != null", true)]
    [InlineData("number(after.tz) > 0", true)]
    [InlineData("integer(after.ratio) > 0", true)]
    [InlineData("number(after.flag) > 0", true)]
    [InlineData("date(after.dt, \"yyyyMMdd\") == after.dt", false)]
    [InlineData("timestamp(after.ts, \"yyyyMMddHHmmss\") == after.ts", false)]
    public void The_start_check_of_column_types_names_exactly_the_conditions_that_fail_on_a_change(string when, bool fails)
    {
        var rules = RuleSet.Parse("orders.yaml", $"table: tb_ord_mst\nevents:\n  - type: X\n    when: '{when}'\n");
        var change = Change(ChangeOperation.Create, "tb_ord_mst",
            after: Row.From(("sts", "5 "), ("qty", 3L), ("ratio", 0.5d), ("amt", Dec("1.50")), ("flag", true), ("nm", null),
                ("dt", Date.FromDateOnly(new DateOnly(2024, 3, 1))), ("ts", new LocalTimestamp(1_709_280_930_000_000)),
                ("tz", new UtcTimestamp(1_709_280_930_000_000)), ("tm", new LocalTime(30_930_000_000))));

        var problems = RuleTypeCheck.Check(rules.Files[0].Events[0].When!, ColumnTypes);
        var failure = Record.Exception(() => Run(rules.CreateTranslator("legacy-orders"), change));

        Assert.Equal(fails, failure is RuleEvaluationException);
        Assert.Equal(fails, problems.Count > 0);
    }

    [Fact]
    public void A_date_or_time_compared_with_another_type_fails_saying_what_it_compares_with()
    {
        // The Kafka path has no start check: the first change says it. Before: only the binder's words, with our type names.
        var translator = RuleFiles.Translator("table: tb_pay\nevents:\n  - type: X\n    when: 'after.cap_ts > \"2024-01-01\"'\n");
        var change = Change(ChangeOperation.Create, "tb_pay", after: Row.From(("cap_ts", new UtcTimestamp(1_709_280_930_000_000))));

        var e = Assert.Throws<RuleEvaluationException>(() => Run(translator, change));

        Assert.Contains("a timestamptz with a timestamptz column or source.commitTime; text(x) gives its text", e.Message, StringComparison.Ordinal);
        Assert.Equal("after.cap_ts > \"2024-01-01\"", e.Expression);
    }

    [Fact]
    public void A_missing_key_column_is_an_error_naming_it()
    {
        var translator = RuleFiles.Translator("table: tb_ord_mst\nkey: order_id\nevents:\n  - type: X\n");
        var e = Assert.Throws<RuleEvaluationException>(() => Run(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));
        Assert.Contains("key column 'order_id'", e.Message, StringComparison.Ordinal);
        // before: "orders.yaml: key column …", without the line of key: or the rule
        Assert.StartsWith("orders.yaml:2:6: rule orders#X, key column 'order_id'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncate_has_no_row_so_a_keyed_rule_on_it_gets_no_subject_instead_of_failing()
    {
        // `op == "t"` is part of the rule language, and a rule without when: sees every change of its table.
        // A TRUNCATE carries no row and no key: there is nothing for key: to name, which is not a mistake in key:.
        var translator = RuleFiles.Translator("""
            table: tb_ord_mst
            key: ord_no
            events:
              - type: OrdersPurged
                when: op == "t"
              - type: Touched
            """);

        var events = Run(translator, Change(ChangeOperation.Truncate, "tb_ord_mst"));

        Assert.Equal(["OrdersPurged", "Touched"], events.Select(e => e.Type));
        Assert.All(events, e => Assert.Null(e.Subject));
    }

    [Fact]
    public void Rule_files_for_one_table_all_apply_in_file_order()
    {
        var rules = RuleSet.Parse([
            ("a.yaml", "table: tb_ord_mst\nevents:\n  - type: A\n"),
            ("b.yaml", "table: public.tb_ord_mst\nevents:\n  - type: B\n"),
        ]);
        var events = Run(rules.CreateTranslator("p"), Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P")));
        Assert.Equal(["a#A", "b#B"], events.Select(e => e.RuleId));
    }

    [Fact]
    public async Task Translation_is_safe_from_several_threads()
    {
        var translator = RuleFiles.Translator(Orders);
        var tasks = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var events = Run(translator, Change(ChangeOperation.Update, "tb_ord_mst", Order("P"), Order("S", orderNo: (t * 10_000) + i), index: i));
                Assert.Equal(["OrderTouched", "ShipOrder"], events.Select(e => e.Type));
                Assert.Equal(((t * 10_000) + i).ToString(System.Globalization.CultureInfo.InvariantCulture), events[0].Subject);
            }
        }, TestContext.Current.CancellationToken));
        await Task.WhenAll(tasks);
    }
}
