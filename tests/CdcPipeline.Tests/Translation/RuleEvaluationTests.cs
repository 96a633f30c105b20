using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using static CdcPipeline.Tests.Translation.TestChanges;

namespace CdcPipeline.Tests.Translation;

public class RuleEvaluationTests
{
    /// <summary>One event whose data has one field per expression, on tb_ord_mst.</summary>
    private static RuleTranslator Fields(string lookups = "", params string[] expressions)
    {
        var data = string.Join("\n", expressions.Select((e, i) => $"      f{i}: '{e}'"));
        return RuleFiles.Translator($"""
            table: public.tb_ord_mst
            {lookups}
            events:
              - type: Probe
                data:
            {data}
            """);
    }

    private static object?[] Evaluate(RuleTranslator translator, ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        translator.Translate(change, output);
        var data = (Row)Assert.Single(output).Data!;
        return data.Values.ToArray();
    }

    private static List<DomainEvent> Run(RuleTranslator translator, ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        translator.Translate(change, output);
        return output;
    }

    private static bool When(string condition, ChangeEvent change) =>
        Run(RuleFiles.Translator($"table: tb_ord_mst\nevents:\n  - type: X\n    when: '{condition}'\n"), change).Count == 1;

    private static ChangeEvent Update(string from, string to, string shippedOn = "        ") =>
        Change(ChangeOperation.Update, "tb_ord_mst", before: Order(from), after: Order(to, shippedOn: shippedOn));

    [Fact]
    public void A_primary_key_change_shows_as_keyChanged_with_the_other_key()
    {
        var renumbered = KeyChange("tb_ord_mst", "ord_no", Order("P"), Order("P", orderNo: 1000009));
        var (delete, create) = (renumbered[0], renumbered[1]);

        Assert.True(When("op == \"d\" && keyChanged && newKey.ord_no == 1000009 && oldKey.ord_no == null", delete));
        Assert.True(When("op == \"c\" && keyChanged && oldKey.ord_no == 1000001 && newKey.ord_no == null", create));

        // A plain insert and a plain delete are not key changes, and neither key is there.
        var inserted = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"));
        var deleted = Change(ChangeOperation.Delete, "tb_ord_mst", before: Order("P"));
        Assert.False(When("keyChanged", inserted));
        Assert.False(When("keyChanged", deleted));
        Assert.True(When("oldKey.ord_no == null && newKey.ord_no == null", inserted));
    }

    [Theory]
    [InlineData("after.ord_amt > 100", true)]
    [InlineData("after.ord_amt > 149.90", false)]
    [InlineData("after.ord_amt >= 149.9", true)]
    [InlineData("after.ord_amt == 149.9", true)]
    [InlineData("after.ord_no == 1000001", true)]
    [InlineData("after.ord_sts_cd == \"P\"", true)]
    [InlineData("after.ord_sts_cd != \"P\"", false)]
    [InlineData("op == \"c\" && source.snapshot == false", true)]
    [InlineData("before.ord_sts_cd == null", true)]
    [InlineData("key.ord_no == after.ord_no", true)]
    [InlineData("after.upd_ts != null && source.table == \"tb_ord_mst\" && source.schema == \"public\"", true)]
    [InlineData("after[\"ord_sts_cd\"] == \"P\"", true)]
    [InlineData("trim(\" P  \") == after.ord_sts_cd", true)]
    [InlineData("trim(after.cust_no) == \"C0000001\"", true)]
    [InlineData("coalesce(after.ord_memo, \"none\") == \"none\"", true)]
    [InlineData("number(\"149.90\") == after.ord_amt", true)]
    [InlineData("date(after.ord_dt, \"yyyyMMdd\") != null", true)]
    [InlineData("text(after.ord_amt) == \"149.90\"", true)]
    [InlineData("trim(after.ord_sts_cd) == \"P\" && op == \"c\" && !changed(\"ord_sts_cd\")", true)]
    [InlineData("isBlank(after.shp_dt) && (after.ord_amt < 10 || trim(after.cust_no) == \"C0000001\")", true)]
    [InlineData("after.ord_sts_cd == \"P\" && after.ord_amt < 10", false)]
    public void Conditions_compare_columns_of_every_model_type_with_literals(string condition, bool expected)
    {
        var change = Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), key: Row.From(("ord_no", new ExactDecimal(1000001, 0))));
        Assert.Equal(expected, When(condition, change));
    }

    [Theory]
    [InlineData("after.sts_cd == \"S\"", true)]
    [InlineData("\"S\" == after.sts_cd", true)]
    [InlineData("after.sts_cd != \"S\"", false)]
    [InlineData("after.sts_cd == \"S   \"", true)]
    [InlineData("before.sts_cd == \"S \"", true)]
    [InlineData("after.sts_cd == before.sts_cd", true)]
    [InlineData("after.sts_cd == \" S\"", false)]
    [InlineData("after.sts_cd == \"s\"", false)]
    [InlineData("after.sts_cd == \"SX\"", false)]
    [InlineData("after.sts_cd != \"SX\" && after.no_cd == null", true)]
    [InlineData("lookup(\"status\", after.sts_cd) == \"SHIPPED\"", true)]
    [InlineData("after.sts_cd != \"S \"", false)]
    [InlineData("!(after.sts_cd == \"S \")", false)]
    [InlineData("text(after.sts_cd) == \"S\"", true)]
    [InlineData("\"S\" == text(after.sts_cd)", true)]
    [InlineData("text(after.sts_cd) != \"S\"", false)]
    [InlineData("text(after.sts_cd) == text(before.sts_cd)", true)]
    [InlineData("lookup(\"padded\", after.sts_cd) == \"SHIPPED\"", true)]
    [InlineData("lookup(\"padded\", before.sts_cd) == \"SHIPPED\"", true)]
    [InlineData("changed(\"sts_cd\")", false)]
    [InlineData("changed(\"sts_cd\") == (before.sts_cd != after.sts_cd)", true)]
    // The change does not say CHAR from VARCHAR/TEXT, so this holds for those too (a VARCHAR 'S' -> 'S ' is no change to
    // ==, != or changed()); Equals compares exactly, for the text whose trailing blanks matter.
    [InlineData("after.sts_cd.Equals(\"S\")", false)]
    [InlineData("!before.sts_cd.Equals(after.sts_cd)", true)]
    public void Char_codes_compare_without_their_blank_padding_as_in_postgresql(string condition, bool expected)
    {
        // Debezium (and pgoutput) send a CHAR(2) 'S' as "S ": PostgreSQL's bpchar = ignores the trailing blanks.
        var before = Row.From(("sts_cd", "S"), ("no_cd", null));
        var after = Row.From(("sts_cd", "S "), ("no_cd", null));
        var translator = RuleFiles.Translator($"table: tb_ord_mst\nlookups:\n  status: {{ S: SHIPPED }}\n  padded: {{ \"S \": SHIPPED }}\nevents:\n  - type: X\n    when: '{condition}'\n");
        Assert.Equal(expected, Run(translator, Change(ChangeOperation.Update, "tb_ord_mst", before, after)).Count == 1);
    }

    [Theory]
    [InlineData("after.flag", false)]
    [InlineData("!after.flag", false)]
    [InlineData("after.yes && after.flag", false)]
    [InlineData("after.flag && after.yes", false)]
    [InlineData("after.flag && after.no", false)]
    [InlineData("!(after.flag && after.yes)", false)]
    [InlineData("!(after.flag && after.no)", true)]
    [InlineData("after.flag || after.yes", true)]
    [InlineData("after.no || after.flag", false)]
    [InlineData("!(after.no || after.flag)", false)]
    [InlineData("!(after.yes || after.flag)", false)]
    [InlineData("after.flag ? false : true", true)]
    [InlineData("after.flag == null && !after.no", true)]
    [InlineData("after.amt > 5", false)]
    [InlineData("op == \"u\" && after.flag", false)]
    [InlineData("!(after.amt > 5)", false)]
    [InlineData("!(after.amt <= 5)", false)]
    [InlineData("!!(after.amt > 5)", false)]
    [InlineData("!(after.amt > 5 && after.yes)", false)]
    [InlineData("!(after.amt > 5 || after.no)", false)]
    [InlineData("!(after.amt > 5) && after.yes", false)]
    [InlineData("after.yes && !(after.amt > 5)", false)]
    [InlineData("!(after.amt > 5) || after.yes", true)]
    [InlineData("!(after.amt > 5 && after.no)", true)]
    [InlineData("(after.amt > 5) ? false : true", true)]
    [InlineData("!(after.three > 5)", true)]
    [InlineData("!!(after.three < 5)", true)]
    [InlineData("!after.no", true)]
    [InlineData("!!after.yes", true)]
    [InlineData("!after.yes", false)]
    [InlineData("!changed(\"amt\")", true)]
    [InlineData("!isBlank(after.amt)", false)]
    [InlineData("!isBlank(after.three)", true)]
    public void A_condition_that_is_null_is_unknown_and_selects_nothing_as_in_sql(string condition, bool expected)
    {
        // A NULL boolean column: SQL's WHERE treats unknown as not selected; AND, OR and NOT follow three-valued logic.
        // A NULL compared with < <= > >= is unknown too, so NOT of it is unknown and selects nothing.
        var after = Row.From(("flag", null), ("yes", true), ("no", false), ("amt", null), ("three", 3L));
        Assert.Equal(expected, When(condition, Change(ChangeOperation.Update, "tb_ord_mst", after, after)));
    }

    [Theory]
    [InlineData(null, "!(source.txId > 5)", false)]
    [InlineData(null, "!(source.txId > 5) || op == \"u\"", true)]
    [InlineData(null, "source.txId > 5 || op == \"d\"", false)]
    [InlineData(4711L, "!(source.txId > 5)", false)]
    [InlineData(4711L, "!(source.txId < 5)", true)]
    public void A_null_source_field_compared_is_unknown_under_not(long? txId, string condition, bool expected)
    {
        var after = Row.From(("amt", null));
        var template = Change(ChangeOperation.Update, "tb_ord_mst", after, after);
        var change = new ChangeEvent
        {
            Kind = template.Kind, Operation = template.Operation, Position = template.Position,
            Source = template.Source with { TxId = txId }, Before = after, After = after,
        };
        Assert.Equal(expected, When(condition, change));
    }

    [Fact]
    public void An_ordering_comparison_with_null_is_null_in_data_as_in_sql()
    {
        // SELECT NULL > 5, NOT (NULL > 5) are both NULL in PostgreSQL; a data field says so instead of false/true.
        var translator = RuleFiles.Translator("""
            table: tb_ord_mst
            events:
              - type: X
                data:
                  big: 'after.amt > 5'
                  notBig: '!(after.amt > 5)'
                  small: 'after.three < 5'
                  notSmall: '!(after.three < 5)'
            """);
        var after = Row.From(("amt", null), ("three", 3L));
        var data = (Row)Assert.Single(Run(translator, Change(ChangeOperation.Update, "tb_ord_mst", after, after))).Data!;
        Assert.Equal(new object?[] { null, null, true, false }, data.Values.ToArray());
    }

    [Theory]
    [InlineData("date(after.shp_dt, \"yyyyMMdd\") > date(after.ord_dt, \"yyyyMMdd\")", true)]
    [InlineData("date(after.shp_dt, \"yyyyMMdd\") <= date(after.ord_dt, \"yyyyMMdd\")", false)]
    [InlineData("date(after.ord_dt, \"yyyyMMdd\") >= date(\"20240102\", \"yyyyMMdd\")", true)]
    [InlineData("date(after.ord_dt, \"yyyyMMdd\") < date(\"20240102\", \"yyyyMMdd\")", false)]
    [InlineData("date(before.shp_dt, \"yyyyMMdd\") < date(after.shp_dt, \"yyyyMMdd\")", false)]
    [InlineData("after.upd_ts > before.upd_ts", true)]
    [InlineData("after.upd_ts <= before.upd_ts", false)]
    [InlineData("timestamp(\"20240102100000\", \"yyyyMMddHHmmss\") < after.upd_ts", true)]
    [InlineData("after.paid_at >= source.commitTime", false)]
    [InlineData("after.cut_off <= after.cut_off && !(after.cut_off_tz < after.cut_off_tz)", true)]
    public void Dates_and_timestamps_order_like_in_sql(string condition, bool expected)
    {
        // A late shipment, a newer version of a row: comparisons rule authors write on dates and times.
        // The blank before.shp_dt is no date (null): compared with a date that is unknown, as in SQL, and selects nothing.
        var after = Row.From(
            ("ord_dt", "20240102"), ("shp_dt", "20240105"), ("upd_ts", new LocalTimestamp(1_704_189_600_000_001)),
            ("paid_at", new UtcTimestamp(CommitTime.MicrosSinceEpoch - 1)), ("cut_off", new LocalTime(1)), ("cut_off_tz", new UtcTime(1)));
        var before = Row.From(("shp_dt", "        "), ("upd_ts", new LocalTimestamp(1_704_189_600_000_000)));
        Assert.Equal(expected, When(condition, Change(ChangeOperation.Update, "tb_ord_mst", before, after)));
    }

    [Theory]
    [InlineData("P", "S", true)]
    [InlineData("S", "S", false)]
    [InlineData("C", "S", false)]
    [InlineData("P", "C", false)]
    public void A_state_transition_fires_only_on_that_transition(string from, string to, bool fires)
    {
        const string transition = "op == \"u\" && before.ord_sts_cd == \"P\" && after.ord_sts_cd == \"S\"";
        Assert.Equal(fires, When(transition, Update(from, to)));
    }

    [Fact]
    public void Changed_compares_old_and_new_values()
    {
        Assert.True(When("changed(\"ord_sts_cd\")", Update("P", "S")));
        Assert.False(When("changed(\"ord_sts_cd\")", Update("P", "P")));
        Assert.False(When("changed(\"ord_amt\")", Change(ChangeOperation.Update, "tb_ord_mst", Order("P", amount: "149.9"), Order("S", amount: "149.90"))));
        Assert.False(When("changed(\"ord_sts_cd\")", Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));

        // Trailing blanks are insignificant, as for != (a CHAR(n) column re-padded is not a change); other blanks are not.
        Assert.False(When("changed(\"ord_sts_cd\")", Update("S", "S ")));
        Assert.True(When("changed(\"ord_sts_cd\")", Update("S", " S")));
        Assert.True(When("changed(\"ord_sts_cd\")", Update("S ", "SX")));

        // An unchanged TOASTed value is not sent by the WAL: unknown to us, and not a change.
        var toasted = Change(ChangeOperation.Update, "tb_ord_mst", Order("P", memo: "long text"), Order("P", memo: Unavailable.Value));
        Assert.False(When("changed(\"ord_memo\")", toasted));
    }

    [Fact]
    public void Changed_without_the_old_row_is_an_error_that_asks_for_replica_identity_full()
    {
        var change = Change(ChangeOperation.Update, "tb_ord_mst", before: null, after: Order("S"));
        var e = Assert.Throws<RuleEvaluationException>(() => When("changed(\"ord_sts_cd\")", change));
        Assert.Contains("REPLICA IDENTITY FULL", e.Message, StringComparison.Ordinal);
        Assert.Equal("orders#X", e.RuleId);
    }

    [Fact]
    public void An_unknown_column_names_rule_file_line_and_column()
    {
        var e = Assert.Throws<RuleEvaluationException>(() => When("after.ord_stat == \"S\"", Update("P", "S")));
        Assert.Contains("orders.yaml:4:", e.Message, StringComparison.Ordinal);
        Assert.Contains("orders#X", e.Message, StringComparison.Ordinal);
        Assert.Contains("column 'ord_stat' is not in after", e.Message, StringComparison.Ordinal);
        Assert.Contains("ord_sts_cd", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_only_old_image_explains_replica_identity()
    {
        var change = Change(ChangeOperation.Delete, "tb_ord_mst", before: Row.From(("ord_no", new ExactDecimal(1, 0))));
        var e = Assert.Throws<RuleEvaluationException>(() => When("before.ord_sts_cd == \"C\"", change));
        Assert.Contains("REPLICA IDENTITY FULL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_only_old_image_read_through_row_explains_replica_identity_too()
    {
        // On a delete, row is the before image: without REPLICA IDENTITY FULL it holds only the key.
        var change = Change(ChangeOperation.Delete, "tb_ord_mst", before: Row.From(("ord_no", new ExactDecimal(1, 0))));
        var e = Assert.Throws<RuleEvaluationException>(() => When("row.ord_sts_cd == \"C\"", change));
        Assert.Contains("column 'ord_sts_cd' is not in row", e.Message, StringComparison.Ordinal);
        Assert.Contains("REPLICA IDENTITY FULL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lookups_map_legacy_codes_ignoring_char_padding_and_fail_or_default_on_unknown_codes()
    {
        const string lookups = "lookups:\n  status: { P: PLACED, S: SHIPPED }";
        var translator = Fields(lookups, "lookup(\"status\", after.ord_sts_cd)", "lookup(\"status\", \"S \")", "lookup(\"status\", \"X\", \"UNKNOWN\")", "lookup(\"status\", null)");
        Assert.Equal(["PLACED", "SHIPPED", "UNKNOWN", null], Evaluate(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));

        var strict = Fields(lookups, "lookup(\"status\", after.ord_sts_cd)");
        var e = Assert.Throws<RuleEvaluationException>(() => Evaluate(strict, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("Z"))));
        Assert.Contains("code 'Z' is not in lookup 'status'", e.Message, StringComparison.Ordinal);
        Assert.Contains("f0", e.Message, StringComparison.Ordinal);
        Assert.Contains("orders#Probe", e.Message, StringComparison.Ordinal);

        var withDefault = Fields("lookups:\n  status: { P: PLACED, _default: OTHER }", "lookup(\"status\", after.ord_sts_cd)");
        Assert.Equal(["OTHER"], Evaluate(withDefault, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("Z"))));
        Assert.Equal(["PLACED"], Evaluate(withDefault, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));
    }

    [Fact]
    public void A_float_column_compared_with_a_literal_explains_number()
    {
        var change = Change(ChangeOperation.Create, "tb_ord_mst", after: Row.From(("ratio", 0.5)));
        var e = Assert.Throws<RuleEvaluationException>(() => When("after.ratio > 0.25", change));
        Assert.Contains("number(x)", e.Message, StringComparison.Ordinal);
        Assert.True(When("number(after.ratio) > 0.25", change));
    }

    [Fact]
    public void Legacy_char8_dates_become_dates_and_blank_or_zero_dates_null()
    {
        var translator = Fields("", "date(after.ord_dt, \"yyyyMMdd\")", "date(after.shp_dt, \"yyyyMMdd\")", "date(\"00000000\", \"yyyyMMdd\")",
            "date(20240315, \"yyyyMMdd\")", "timestamp(\"20240102103000\", \"yyyyMMddHHmmss\")", "date(null, \"yyyyMMdd\")");
        var values = Evaluate(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P")));
        Assert.Equal(new object?[] { Date.FromDateOnly(new DateOnly(2024, 1, 2)), null, null, Date.FromDateOnly(new DateOnly(2024, 3, 15)),
            LocalTimestamp.FromDateTime(new DateTime(2024, 1, 2, 10, 30, 0)), null }, values);

        var bad = Fields("", "date(after.shp_dt, \"yyyyMMdd\")");
        var e = Assert.Throws<RuleEvaluationException>(() => Evaluate(bad, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("S", shippedOn: "20241345"))));
        Assert.Contains("'20241345' is not a date", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Helper_functions_convert_legacy_text_and_numbers()
    {
        var translator = Fields("",
            "trim(\"  C01   \")", "coalesce(after.ord_memo, \"none\")", "coalesce(null, null, 3)", "number(\" 12.50 \")",
            "integer(\"0042\")", "text(after.ord_amt)", "isBlank(after.shp_dt)", "after.ord_amt * 2", "\"ORD-\" + after.ord_no",
            "after.ord_amt > 100 ? \"big\" : \"small\"", "1", "trim(after.ord_no)");
        var values = Evaluate(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P")));
        Assert.Equal(new object?[] { "C01", "none", 3m, 12.50m, 42L, "149.90", true, 299.80m, "ORD-1000001", "big", 1L, 1000001m }, values);
    }

    [Fact]
    public void A_decimal_literal_in_data_keeps_its_scale_and_only_a_bare_whole_number_is_an_integer()
    {
        // `amount: 1.00` is the decimal 1.00 (rendered "1.00"), as after.ord_amt of 1.00 would be; only `1` is the integer 1.
        var translator = Fields("", "1.00", "0.0", "1", "-1", "2.50");
        var output = new List<DomainEvent>();
        translator.Translate(Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P")), output);

        var json = System.Text.Json.JsonDocument.Parse(EventJson.Serialize(Assert.Single(output))).RootElement.GetProperty("data");
        Assert.Equal("1.00", json.GetProperty("f0").GetString());
        Assert.Equal("0.0", json.GetProperty("f1").GetString());
        Assert.Equal(1, json.GetProperty("f2").GetInt64());
        Assert.Equal(-1, json.GetProperty("f3").GetInt64());
        Assert.Equal("2.50", json.GetProperty("f4").GetString());
    }

    [Fact]
    public void Numerics_keep_their_scale_and_wide_numerics_their_digits()
    {
        var wide = "123456789012345678901234567890.123456789";
        var translator = Fields("", "after.ord_amt", "after.wide", "after.wide > 1000");
        var after = Row.From(("ord_amt", Dec("12.50")), ("wide", Dec(wide)));
        var output = new List<DomainEvent>();
        translator.Translate(Change(ChangeOperation.Create, "tb_ord_mst", after: after), output);

        var json = System.Text.Json.JsonDocument.Parse(EventJson.Serialize(Assert.Single(output))).RootElement.GetProperty("data");
        Assert.Equal("12.50", json.GetProperty("f0").GetString());
        Assert.Equal(wide, json.GetProperty("f1").GetString());
        Assert.True(json.GetProperty("f2").GetBoolean());
    }

    [Fact]
    public void Row_is_the_after_image_or_for_a_delete_the_before_image()
    {
        var translator = Fields("", "row.ord_sts_cd", "op", "after.ord_sts_cd");
        Assert.Equal(["C", "d", null], Evaluate(translator, Change(ChangeOperation.Delete, "tb_ord_mst", before: Order("C"))));
        Assert.Equal(["S", "u", "S"], Evaluate(translator, Update("P", "S")));
    }

    [Fact]
    public void Source_attributes_are_visible_to_expressions()
    {
        var translator = Fields("", "source.commitTime", "source.txId", "source.lsn", "source.position", "source.database");
        var values = Evaluate(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"), commitLsn: 5000, index: 2));
        Assert.Equal(new object?[] { CommitTime, 4711L, 4992L, "cdc_slot@5000:2", "legacy" }, values);
    }

    [Fact]
    public void Data_can_nest_objects()
    {
        var translator = RuleFiles.Translator("""
            table: tb_cust_mst
            events:
              - type: CustomerRegistered
                data:
                  id: after.cust_no
                  address:
                    zip: trim(after.cust_zip)
                    line1: after.cust_addr1
            """);
        var e = Run(translator, Change(ChangeOperation.Create, "tb_cust_mst", after: Customer()));
        Assert.Equal("""{"id":"C0000001","address":{"zip":"1010","line1":"12 Mill Lane"}}""", CanonicalJson.Serialize((Row)Assert.Single(e).Data!));
    }

    [Fact]
    public void Comparing_an_unchanged_toasted_column_explains_why_its_value_is_missing()
    {
        // An update that did not touch a TOASTed memo does not carry it: comparing it cannot be answered.
        var change = Change(ChangeOperation.Update, "tb_ord_mst", Order("P", memo: "long text"), Order("S", memo: Unavailable.Value));
        var e = Assert.Throws<RuleEvaluationException>(() => When("after.ord_memo == \"rush\"", change));
        Assert.Contains("`after.ord_memo == \"rush\"`", e.Message, StringComparison.Ordinal);
        Assert.Contains("unchanged TOASTed column", e.Message, StringComparison.Ordinal);
        Assert.Contains("changed(", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_type_error_at_run_time_names_the_expression()
    {
        var translator = Fields("", "after.ord_sts_cd * 2");
        var e = Assert.Throws<RuleEvaluationException>(() => Evaluate(translator, Change(ChangeOperation.Create, "tb_ord_mst", after: Order("P"))));
        Assert.Contains("`after.ord_sts_cd * 2`", e.Message, StringComparison.Ordinal);
        Assert.Contains("cdc_slot@1000:0", e.Message, StringComparison.Ordinal);
    }
}
