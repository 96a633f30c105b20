using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Tests.Translation;

public class RuleLoadingTests
{
    private const string Good = """
        table: public.tb_ord_mst
        aggregate: Order
        key: ord_no
        lookups:
          status: { P: PLACED, S: SHIPPED }
        events:
          - type: OrderPlaced
            when: op == "c"
            data:
              orderId: after.ord_no
              status: lookup("status", after.ord_sts_cd)
          - type: ShipOrder
            kind: command
            target: warehouse
            when: op == "u" && after.ord_sts_cd == "S"
        """;

    private static RuleError SingleError(RuleFiles files)
    {
        var e = files.LoadFails();
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void A_good_directory_loads_every_yaml_file_in_name_order_and_ignores_other_files()
    {
        using var files = new RuleFiles();
        files.Write("b_orders.yaml", Good);
        files.Write("a_customers.yml", "table: tb_cust_mst\nevents:\n  - type: CustomerRegistered\n    when: op == \"c\"\n");
        files.Write("README.md", "not a rule file: [");

        var rules = files.Load();

        Assert.Equal(["public.tb_cust_mst", "public.tb_ord_mst"], rules.Files.Select(f => f.Table));
        var orders = rules.Tables["public.tb_ord_mst"].Single();
        Assert.Equal("Order", orders.Aggregate);
        Assert.Equal(["ord_no"], orders.KeyColumns);
        Assert.Equal(["b_orders#OrderPlaced", "b_orders#ShipOrder"], orders.Events.Select(e => e.Id));
        Assert.Equal(DomainEventKind.Command, orders.Events[1].Kind);
        Assert.Equal("warehouse", orders.Events[1].Target);
        Assert.Equal(["warehouse"], rules.CommandTargets);
        Assert.Equal(7, orders.Events[0].Location.Line);
    }

    [Fact]
    public void A_yaml_syntax_error_names_file_and_line()
    {
        using var files = new RuleFiles();
        var path = files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderPlaced\n    data: { orderId: [after.ord_no }\n");

        var error = SingleError(files);

        Assert.Equal(path, error.File);
        Assert.Equal(4, error.Line);
        Assert.Contains("YAML syntax", error.Reason, StringComparison.Ordinal);
        Assert.StartsWith(path + ":4:", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_is_an_error_at_its_line_listing_the_allowed_keys()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderPlaced\n    wehn: op == \"c\"\n");

        var error = SingleError(files);

        Assert.Equal(4, error.Line);
        Assert.Equal(5, error.Column);
        Assert.Contains("unknown key 'wehn'", error.Reason, StringComparison.Ordinal);
        Assert.Contains("when", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_event_without_type_is_an_error_at_the_event()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderPlaced\n  - when: op == \"u\"\n");

        var error = SingleError(files);

        Assert.Equal(4, error.Line);
        Assert.Contains("without type", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_table_and_events_are_both_reported()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", "aggregate: Order\n");

        var e = files.LoadFails();

        Assert.Equal(2, e.Errors.Count);
        Assert.Contains(e.Errors, x => x.Reason.Contains("missing table", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Reason.Contains("missing events", StringComparison.Ordinal));
    }

    [Fact]
    public void An_expression_syntax_error_names_the_expression_and_the_column_of_the_fault()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderPlaced\n    when: op == \"c\" &&\n");

        var error = SingleError(files);

        Assert.Equal(4, error.Line);
        Assert.Contains("`op == \"c\" &&`", error.Reason, StringComparison.Ordinal);
        Assert.Contains("OrderPlaced when", error.Reason, StringComparison.Ordinal);
        // "when: " puts the expression at column 11; the parser stops at its end.
        Assert.Equal(11 + "op == \"c\" &&".Length, error.Column);
    }

    [Fact]
    public void An_unknown_lookup_name_fails_at_load_naming_the_defined_ones()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", """
            table: public.tb_ord_mst
            lookups:
              status: { P: PLACED }
            events:
              - type: OrderPlaced
                data:
                  status: lookup("stat", after.ord_sts_cd)
            """);

        var error = SingleError(files);

        Assert.Equal(7, error.Line);
        Assert.Contains("unknown lookup 'stat'", error.Reason, StringComparison.Ordinal);
        Assert.Contains("status", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_lookup_code_without_a_value_fails_at_load_instead_of_mapping_to_text()
    {
        // YAML reads `C:` and `X: ~` as no value; they used to map to "" and "~" and went out as the status.
        using var files = new RuleFiles();
        files.Write("orders.yaml", """
            table: public.tb_ord_mst
            lookups:
              status:
                P: PLACED
                C:
                X: ~
                E: ''
            events:
              - type: OrderPlaced
            """);

        var errors = files.LoadFails().Errors;

        Assert.Equal([5, 6], errors.Select(e => e.Line));
        Assert.All(errors, e => Assert.Contains("has no value", e.Reason, StringComparison.Ordinal));
        Assert.Contains("lookups.status.C", errors[0].Reason, StringComparison.Ordinal);
        Assert.Contains("lookups.status.X", errors[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Lookup_codes_that_differ_only_in_trailing_blanks_fail_at_load()
    {
        // Codes are matched without trailing CHAR blanks, so "S" and "S " would be one code with two meanings.
        using var files = new RuleFiles();
        files.Write("orders.yaml", """
            table: public.tb_ord_mst
            lookups:
              status:
                S: SHIPPED
                "S ": SENT
            events:
              - type: OrderPlaced
            """);

        var error = SingleError(files);

        Assert.Equal(5, error.Line);
        Assert.Contains("lookups.status", error.Reason, StringComparison.Ordinal);
        Assert.Contains("'S '", error.Reason, StringComparison.Ordinal);
        Assert.Contains("trailing blanks", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_char_literal_fails_at_load_with_advice_to_use_double_quotes()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderShipped\n    when: after.ord_sts_cd == 'S'\n");

        var error = SingleError(files);

        Assert.Equal(4, error.Line);
        Assert.Contains("char literal", error.Reason, StringComparison.Ordinal);
        Assert.Contains("use double quotes", error.Reason, StringComparison.Ordinal);
        Assert.Equal(11 + "after.ord_sts_cd == ".Length, error.Column);
    }

    [Theory]
    [InlineData("source.comitTime != null", "comitTime")]
    [InlineData("nosuchfunction(op)", "nosuchfunction")]
    [InlineData("DateTime.Now.Year > 2000", "deterministic")]
    [InlineData("text(op)", "must be true or false")]
    [InlineData("op.GetHashCode() == 1", "not deterministic")]
    [InlineData("after.ord_sts_cd == ''PS''", "double quotes")]
    [InlineData("lookup(\"status\", ''S'') == \"x\"", "unknown lookup")]
    public void Unknown_names_clock_reads_and_non_boolean_conditions_fail_at_load(string when, string expected)
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", $"table: public.tb_ord_mst\nevents:\n  - type: X\n    when: '{when}'\n");

        var error = SingleError(files);

        Assert.Equal(4, error.Line);
        Assert.Contains(expected, error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("number(after.qty)", 0, "gives a number")]
    [InlineData("date(after.ord_dt, \"yyyyMMdd\")", 0, "gives a date")]
    [InlineData("after.qty * 2", 0, "gives a number")]
    [InlineData("op == \"u\" ? integer(after.a) : 1", 0, "gives a number")]
    [InlineData("op == \"u\" && lookup(\"status\", after.sts)", 13, "lookup() gives text")]
    [InlineData("!coalesce(lookup(\"status\", after.sts), \"x\")", 1, "coalesce() gives text")]
    public void A_condition_that_gives_no_true_or_false_for_any_change_fails_at_load(string when, int column, string expected)
    {
        // before: it loaded, and every change of the table went to the dead letters ("the condition gave 3, not true or false")
        using var files = new RuleFiles();
        var path = files.Write("orders.yaml", $"table: public.tb_ord_mst\nlookups:\n  status: {{ P: PLACED }}\nevents:\n  - type: X\n    when: '{when}'\n");

        var error = SingleError(files);

        Assert.Equal(path, error.File);
        Assert.Equal(6, error.Line);
        Assert.Equal(12 + column, error.Column);
        Assert.Contains("X when", error.Reason, StringComparison.Ordinal);
        Assert.Contains(expected, error.Reason, StringComparison.Ordinal);
        Assert.Contains("never true or false", error.Reason, StringComparison.Ordinal);
        Assert.Contains("write", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lookup(\"status\", after.sts) == 5", 0, "compares text (lookup()) with a number (5)", "lookup(\"status\", after.sts) == \"5\"")]
    [InlineData("op == \"u\" && number(after.qty) >= \"10\"", 13, "compares a number (number()) with text (\"10\")", "number(after.qty) >= 10")]
    [InlineData("date(after.dt, \"yyyyMMdd\") > timestamp(after.ts, \"yyyyMMddHHmmss\")", 0, "compares a date (date()) with a timestamp (timestamp())", "another date")]
    [InlineData("number(source.commitTime) > 0", 0, "gives number() a timestamp with time zone, which it does not take", "compare it as it is")]
    public void A_comparison_that_fails_for_any_change_fails_at_load(string when, int column, string expected, string fix)
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", $"table: public.tb_ord_mst\nlookups:\n  status: {{ P: PLACED }}\nevents:\n  - type: X\n    when: '{when}'\n");

        var error = SingleError(files);

        Assert.Equal(6, error.Line);
        Assert.Equal(12 + column, error.Column);
        Assert.Contains(expected, error.Reason, StringComparison.Ordinal);
        Assert.Contains(fix, error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("after.qty")]
    [InlineData("!after.flag && op == \"u\"")]
    [InlineData("trim(after.flag)")]
    [InlineData("coalesce(after.flag, false)")]
    [InlineData("after.sts == 5 || after.qty > \"3\"")]
    [InlineData("coalesce(after.qty, \"0\") == 5")]
    [InlineData("number(after.qty) > 5 && lookup(\"status\", after.sts) == \"PLACED\"")]
    [InlineData("after.qty == null || after.qty.Equals(5)")]
    public void A_condition_whose_type_depends_on_the_columns_still_loads(string when)
    {
        // only the table's column types tell: the embedded capture checks these at start (event 1117)
        var rules = RuleSet.Parse("orders.yaml", $"table: public.tb_ord_mst\nlookups:\n  status: {{ P: PLACED }}\nevents:\n  - type: X\n    when: '{when}'\n");

        Assert.NotNull(rules.Files[0].Events[0].When);
    }

    [Theory]
    [InlineData("changed(\"q\" + \"ty\")")]
    [InlineData("op == \"u\" && changed(text(after.col))")]
    [InlineData("changed(op == \"u\" ? \"qty\" : \"itm\")")]
    public void Changed_of_a_computed_column_name_fails_at_load(string when)
    {
        // before: it loaded, and neither the start's old-row check (1115) nor its column check (1116) could see which column
        using var files = new RuleFiles();
        files.Write("orders.yaml", $"table: public.tb_ord_mst\nevents:\n  - type: X\n    when: '{when}'\n");

        var error = SingleError(files);

        Assert.Equal(4, error.Line);
        Assert.Equal(12 + when.IndexOf("changed", StringComparison.Ordinal), error.Column);
        Assert.Contains("changed() takes the column's name as a literal in double quotes: changed(\"qty\")", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("date(after.ord_dt) != null", 6, "date() takes date(x, \"yyyyMMdd\")")]
    [InlineData("op == \"u\" && trim(after.a, after.b) == \"x\"", 19, "trim() takes trim(x)")]
    [InlineData("coalesce(after.a) != null", 6, "coalesce() takes coalesce(a, b[, c[, d]])")]
    [InlineData("changed() && op == \"u\"", 6, "changed() takes changed(\"column\")")]
    public void A_function_given_the_wrong_number_of_arguments_says_what_it_takes(string when, int column, string expected)
    {
        // before: "Argument list incompatible with delegate expression (at index 0)", which names neither function nor form
        using var files = new RuleFiles();
        files.Write("orders.yaml", $"table: public.tb_ord_mst\nevents:\n  - type: X\n    when: {when}\n");

        var error = SingleError(files);

        Assert.Contains(expected, error.Reason, StringComparison.Ordinal);
        Assert.Equal(4, error.Line);
        Assert.Equal(5 + column, error.Column);
    }

    [Fact]
    public void Commands_need_a_target_and_only_commands_take_one()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", """
            table: public.tb_ord_mst
            events:
              - type: ShipOrder
                kind: command
              - type: OrderPlaced
                target: billing
              - type: Odd
                kind: signal
            """);

        var e = files.LoadFails();

        Assert.Equal(3, e.Errors.Count);
        Assert.Contains(e.Errors, x => x.Line == 3 && x.Reason.Contains("needs target", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Line == 6 && x.Reason.Contains("commands only", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Line == 8 && x.Reason.Contains("'signal'", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_events_of_one_type_need_distinct_ids()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", """
            table: public.tb_ord_mst
            events:
              - type: OrderChanged
                when: op == "u"
              - type: OrderChanged
                when: op == "d"
            """);

        var error = SingleError(files);
        Assert.Equal(5, error.Line);
        Assert.Contains("id:", error.Reason, StringComparison.Ordinal);

        files.Write("orders.yaml", """
            table: public.tb_ord_mst
            events:
              - type: OrderChanged
                when: op == "u"
              - type: OrderChanged
                id: OrderChangedByDelete
                when: op == "d"
            """);
        Assert.Equal(["orders#OrderChanged", "orders#OrderChangedByDelete"], files.Load().Files[0].Events.Select(r => r.Id));
    }

    [Fact]
    public void Errors_of_several_files_are_reported_together()
    {
        using var files = new RuleFiles();
        var a = files.Write("a.yaml", "table: t1\nevents:\n  - type: A\n    when: op == 'c'\n");
        var b = files.Write("b.yaml", "table: t2\nevents: []\n");

        var e = files.LoadFails();

        Assert.Equal([a, b], e.Errors.Select(x => x.File));
        Assert.Contains(a + ":4:", e.Message, StringComparison.Ordinal);
        Assert.Contains(b + ":2:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_empty_directory_is_a_clear_error()
    {
        using var files = new RuleFiles();
        Assert.Contains("no rule files", files.LoadFails().Message, StringComparison.Ordinal);
        var missing = Path.Combine(files.Directory, "nope");
        Assert.Contains("not found", Assert.Throws<RuleLoadException>(() => RuleSet.LoadDirectory(missing)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("data: { orderId: trim(after.ord_no), shippedOn: date(after.shp_dt, \"yyyyMMdd\") }", "date(after.shp_dt")]
    [InlineData("data: { a: coalesce(after.qty, 0), b: 1 }", "coalesce(after.qty")]
    public void A_flow_mapping_that_cuts_an_expression_at_a_comma_is_one_error_saying_so(string data, string cut)
    {
        // before: two errors, "')' or ',' expected" at the cut call and one for a field nobody wrote (data.yyyyMMdd, data.0))
        using var files = new RuleFiles();
        files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderShipped\n    when: op == \"u\"\n    " + data + "\n");

        var error = SingleError(files);

        Assert.Equal(5, error.Line);
        Assert.Equal(11, error.Column);
        Assert.Contains("OrderShipped data: a flow mapping { … } ends each value at a comma", error.Reason, StringComparison.Ordinal);
        Assert.Contains($"`{cut}`", error.Reason, StringComparison.Ordinal);
        Assert.Contains("block mapping", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flow_mapping_without_a_comma_inside_a_call_still_loads()
    {
        using var files = new RuleFiles();
        files.Write("orders.yaml", "table: public.tb_ord_mst\nevents:\n  - type: OrderShipped\n    data: { orderId: trim(after.ord_no), on: 'date(after.shp_dt, \"yyyyMMdd\")' }\n");

        var data = files.Load().Files[0].Events[0].Data!;

        Assert.Equal(["orderId", "on"], data.Shape.Columns);
    }

    [Fact]
    public void The_old_row_columns_each_expression_reads_are_known_at_load()
    {
        var rules = RuleSet.Parse("lines.yaml", """
            table: public.tb_ord_dtl
            subject: '"line-" + text(before.ln_no)'
            events:
              - type: QuantityChanged
                when: op == "u" && changed("qty") && !changed("itm_cd") && before.itm_cd != "before.qty"
                data:
                  old: before.qty
                  odd: before["Odd Name"]
                  now: after.qty
                  nested:
                    price: coalesce(before.unt_prc, after.unt_prc)
              - type: LineAdded
                when: op == "c" && after.itm_cd != "before.itm_cd"
                data:
                  qty: after.qty
                  before: after["before"]
            """);
        var table = rules.Files[0];
        var changed = table.Events[0];

        Assert.Equal(["itm_cd", "qty"], changed.When!.ChangedColumns);
        Assert.Equal(["itm_cd"], changed.When.OldColumns); // not qty: "before.qty" there is text
        Assert.Equal([["qty"], ["Odd Name"], [], ["unt_prc"]], changed.Data!.Expressions().Select(e => e.OldColumns));
        Assert.Equal(["ln_no"], table.Subject!.OldColumns);
        Assert.All(table.Events[1].Expressions(), e => Assert.Empty(e.OldColumns.Concat(e.ChangedColumns)));
    }
}
