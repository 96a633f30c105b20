using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// What the start can tell of the rules from the catalog, before any change is read, per rule with its place and the fix:
/// a rule that reads the old row (<c>changed("col")</c>, <c>before.col</c>) of a table whose REPLICA IDENTITY is not FULL
/// gets what PostgreSQL does not send (changed() fails at the first update, a dead letter; before.col reads null, a wrong
/// event), and a rule naming a column the table does not have fails on every change it reads it on.
/// </summary>
public sealed class PgOutputRuleChecksTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    [Fact]
    public async Task A_rule_reading_the_old_row_of_a_table_without_replica_identity_full_is_named_at_start()
    {
        await Db.ExecuteAsync("CREATE TABLE lines (ord_no int, ln_no int, itm text, qty int, PRIMARY KEY (ord_no, ln_no)); " +
                              "CREATE TABLE custs (id int PRIMARY KEY, nm text); ALTER TABLE custs REPLICA IDENTITY FULL; " +
                              "CREATE TABLE by_index (id int NOT NULL, nm text); CREATE UNIQUE INDEX by_index_id ON by_index (id); " +
                              "ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_id");
        var lines = Path.Combine(StateDirectory, "lines.yaml");
        var rules = RuleSet.Parse([
            (lines, """
                table: public.lines
                events:
                  - type: QuantityChanged
                    when: op == "u" && changed("qty")
                    data:
                      old: before.qty
                      now: after.qty
                  - type: LineRemoved
                    when: op == "d"
                    data:
                      order: before.ord_no
                      item: before.itm
                  - type: LineAdded
                    when: op == "c"
                    data:
                      item: after.itm
                """),
            ("custs.yaml", "table: public.custs\nevents:\n  - type: Renamed\n    when: changed(\"nm\")\n    data:\n      old: before.nm\n"),
            ("by_index.yaml", "table: public.by_index\nevents:\n  - type: Gone\n    when: op == \"d\"\n    data:\n      id: before.id\n      nm: before.nm\n"),
        ]);

        // before: nothing was said at start; the first update of lines went to the dead letters, and a delete made LineRemoved
        // with item: null
        await OpenStreamingAsync(Options(["public.lines", "public.custs", "public.by_index"]) with { RuleFiles = rules.Files });

        var said = Said("reads the old row of");

        Assert.Equal(3, said.Length);
        var quantity = Assert.Single(said, l => l.Contains("lines#QuantityChanged", StringComparison.Ordinal));
        Assert.Contains($"({lines}:4:11)", quantity, StringComparison.Ordinal); // the first expression that reads it: when
        Assert.Contains("(changed(\"qty\"), before.qty)", quantity, StringComparison.Ordinal);
        Assert.Contains("REPLICA IDENTITY is DEFAULT", quantity, StringComparison.Ordinal);
        Assert.Contains("no old row with an update and only the key (ord_no, ln_no) with a delete", quantity, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"lines\" REPLICA IDENTITY FULL;", quantity, StringComparison.Ordinal);
        Assert.Contains("--replica-identity-full public.lines", quantity, StringComparison.Ordinal);
        Assert.Contains("Warning", quantity, StringComparison.Ordinal);

        // the key columns come with a delete: only the other column is named
        var removed = Assert.Single(said, l => l.Contains("lines#LineRemoved", StringComparison.Ordinal));
        Assert.Contains("(before.itm)", removed, StringComparison.Ordinal);
        Assert.Contains($"({lines}:12:13)", removed, StringComparison.Ordinal);

        var gone = Assert.Single(said, l => l.Contains("by_index#Gone", StringComparison.Ordinal));
        Assert.Contains("(before.nm)", gone, StringComparison.Ordinal);
        Assert.Contains("REPLICA IDENTITY is USING INDEX", gone, StringComparison.Ordinal);
        Assert.Contains("only the index columns (id)", gone, StringComparison.Ordinal);

        Assert.DoesNotContain(said, l => l.Contains("LineAdded", StringComparison.Ordinal) || l.Contains("custs", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_old_row_check_of_a_partitioned_table_reads_its_partitions_replica_identity_not_its_own()
    {
        // The old row of a partitioned table's update comes from the partition's REPLICA IDENTITY, which the partitioned
        // table's own does not set. Here: parts FULL with one partition left DEFAULT (it was not warned), and flat DEFAULT
        // with every partition FULL (it was warned, though every old row comes whole).
        await Db.ExecuteAsync("CREATE TABLE parts (id int, yr int, qty int, PRIMARY KEY (id, yr)) PARTITION BY LIST (yr); " +
                              "CREATE TABLE parts_2025 PARTITION OF parts FOR VALUES IN (2025); " +
                              "CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES IN (2026); " +
                              "ALTER TABLE parts REPLICA IDENTITY FULL; ALTER TABLE parts_2026 REPLICA IDENTITY FULL; " +
                              "CREATE TABLE flat (id int, yr int, qty int, PRIMARY KEY (id, yr)) PARTITION BY LIST (yr); " +
                              "CREATE TABLE flat_2025 PARTITION OF flat FOR VALUES IN (2025); ALTER TABLE flat_2025 REPLICA IDENTITY FULL");
        var rules = RuleSet.Parse([
            ("parts.yaml", "table: public.parts\nevents:\n  - type: QtyChanged\n    when: changed(\"qty\")\n  - type: Gone\n    when: op == \"d\"\n    data:\n      id: before.id\n      qty: before.qty\n"),
            ("flat.yaml", "table: public.flat\nevents:\n  - type: QtyChanged\n    when: changed(\"qty\")\n"),
        ]);

        await OpenStreamingAsync(Options(["public.parts", "public.flat"]) with { RuleFiles = rules.Files });

        var said = Said("reads the old row of");
        Assert.Equal(2, said.Length);
        var changed = Assert.Single(said, l => l.Contains("parts#QtyChanged", StringComparison.Ordinal));
        Assert.Contains("REPLICA IDENTITY is DEFAULT on its partition public.parts_2025", changed, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"parts_2025\" REPLICA IDENTITY FULL;", changed, StringComparison.Ordinal);
        Assert.DoesNotContain("parts_2026", changed, StringComparison.Ordinal);
        Assert.Contains("--replica-identity-full public.parts", changed, StringComparison.Ordinal);
        // a delete carries the partition's key (the partitioned table's primary key): only qty is missing
        var gone = Assert.Single(said, l => l.Contains("parts#Gone", StringComparison.Ordinal));
        Assert.Contains("(before.qty)", gone, StringComparison.Ordinal);
        Assert.DoesNotContain(said, l => l.Contains("flat", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rule_naming_a_column_the_table_does_not_have_is_named_at_start()
    {
        await Db.ExecuteAsync("CREATE TABLE lines (ord_no int, ln_no int, itm text, qty int, \"Odd Name\" text, PRIMARY KEY (ord_no, ln_no)); " +
                              "ALTER TABLE lines REPLICA IDENTITY FULL");
        var file = Path.Combine(StateDirectory, "lines.yaml");
        var rules = RuleSet.Parse(file, """
            table: public.lines
            key: [ord_no, ln_nr]
            events:
              - type: Typo
                when: op == "u" && after.qtty == 1
              - type: Several
                data:
                  odd: after["Odd Name"]
                  item: row.itm.Trim()
                  old: before["Od Name"]
                  moved: changed("qtyy")
              - type: Fine
                when: after.qty > 1 && after.itm != "after.nope" && changed("qty")
                data:
                  was: before.qty
                  odd: row["Odd Name"]
            """);

        // before: nothing was said at start; the first change of lines went to the dead letters for the key, then for each rule
        await OpenStreamingAsync(Options(["public.lines"]) with { RuleFiles = rules.Files });

        var said = Said("which public.lines does not have");

        Assert.Equal(3, said.Length);
        var key = Assert.Single(said, l => l.Contains("The key: ", StringComparison.Ordinal));
        Assert.Contains($"({file}:2:6) names ln_nr, which public.lines does not have (its columns: ord_no, ln_no, itm, qty, Odd Name)", key, StringComparison.Ordinal);
        var typo = Assert.Single(said, l => l.Contains("rule lines#Typo", StringComparison.Ordinal));
        Assert.Contains($"({file}:5:11) names qtty,", typo, StringComparison.Ordinal);
        Assert.Contains("dead letters", typo, StringComparison.Ordinal);
        var several = Assert.Single(said, l => l.Contains("rule lines#Several", StringComparison.Ordinal));
        Assert.Contains($"({file}:10:12) names Od Name, qtyy,", several, StringComparison.Ordinal);
        Assert.DoesNotContain(said, l => l.Contains("lines#Fine", StringComparison.Ordinal));
        // the table has REPLICA IDENTITY FULL: its old row comes with every update and delete
        Assert.DoesNotContain(Logs.Lines.ToArray(), l => l.Contains("reads the old row of", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_old_row_check_follows_the_ops_a_rule_fires_on_row_of_a_delete_and_before_of_an_update()
    {
        await Db.ExecuteAsync("CREATE TABLE items (id int PRIMARY KEY, nm text, qty int)");
        var file = Path.Combine(StateDirectory, "items.yaml");
        var rules = RuleSet.Parse(file, """
            table: public.items
            events:
              - type: Removed
                when: op == "d"
                data:
                  id: row.id
                  name: row.nm
              - type: Renamed
                when: op == "u" && after.nm != "x"
                data:
                  id: before.id
              - type: Added
                when: op == "c" || op == "r"
                data:
                  name: row.nm
                  was: before.nm
              - type: Touched
                data:
                  id: row.id
              - type: Many
                when: row.qty > 5
              - type: Kept
                when: '!(op == "d")'
                data:
                  name: row.nm
            """);

        // before: Removed and Many were not named (row is the old row on a delete), Renamed was not either (before.id is a key
        // column, yet an update without REPLICA IDENTITY FULL carries no old row at all), and Added was named for before.nm,
        // which an insert never has
        var reader = await OpenStreamingAsync(Options(["public.items"]) with { RuleFiles = rules.Files });

        var said = Said("reads the old row of");

        Assert.Equal(3, said.Length);
        var removed = Assert.Single(said, l => l.Contains("items#Removed", StringComparison.Ordinal));
        Assert.Contains($"({file}:7:13) reads the old row of public.items (row.nm)", removed, StringComparison.Ordinal);
        var renamed = Assert.Single(said, l => l.Contains("items#Renamed", StringComparison.Ordinal));
        Assert.Contains($"({file}:11:11) reads the old row of public.items (before.id)", renamed, StringComparison.Ordinal);
        var many = Assert.Single(said, l => l.Contains("items#Many", StringComparison.Ordinal));
        Assert.Contains("(row.qty)", many, StringComparison.Ordinal);

        // what the warnings say is what the changes carry: the update's old row is absent, the delete's holds only the key
        await Db.ExecuteAsync("INSERT INTO items VALUES (1, 'a', 9); UPDATE items SET nm = 'b' WHERE id = 1; DELETE FROM items WHERE id = 1");
        var changes = await reader.TakeAsync(3, c => c.Kind == CdcPipeline.Core.Changes.ChangeKind.Change);
        var translator = rules.CreateTranslator("test");
        var events = new List<CdcPipeline.Core.Translation.DomainEvent>();
        foreach (var change in changes)
        {
            translator.Translate(change, events);
        }

        var renamedEvent = Assert.Single(events, e => e.Type == "Renamed");
        Assert.Null(((CdcPipeline.Core.Changes.Row)renamedEvent.Data!)["id"]);
        var removedEvent = Assert.Single(events, e => e.Type == "Removed");
        Assert.Equal(1L, ((CdcPipeline.Core.Changes.Row)removedEvent.Data!)["id"]);
        Assert.Null(((CdcPipeline.Core.Changes.Row)removedEvent.Data!)["name"]);
        Assert.Equal(2, events.Count(e => e.Type == "Many")); // the insert and the update: the delete's row.qty is null
    }

    [Fact]
    public async Task A_rule_mixing_text_and_numbers_of_the_tables_column_types_is_named_at_start()
    {
        await Db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY, sts char(2), qty int, ratio float8, amt numeric(10,2), flag bool, nm text); " +
                              "ALTER TABLE orders REPLICA IDENTITY FULL");
        var file = Path.Combine(StateDirectory, "orders.yaml");
        var rules = RuleSet.Parse(file, """
            table: public.orders
            subject: 'text(after.qty == "1")'
            events:
              - type: Shipped
                when: op == "u" && after.sts == 5
              - type: Big
                when: after.qty
              - type: Skewed
                when: after.ratio > 0.25
              - type: Counted
                data:
                  three: after.qty == "3"
              - type: Flagged
                when: op == "c" && !after.nm
              - type: Fine
                when: after.sts == "5" && after.qty > 2 && after.flag && number(after.ratio) > 0.25 && after.amt > 1.5 && after.qty < after.ratio && !after.flag
                data:
                  n: after.qty + 1
                  s: trim(after.sts) + "x"
              - type: Unknown
                when: after.nope == 5
            """);

        // before: nothing was said at start; each of these rules failed at the first change it was evaluated on (a dead letter)
        await OpenStreamingAsync(Options(["public.orders"]) with { RuleFiles = rules.Files });

        var said = Said("given the column types of public.orders");

        Assert.Equal(6, said.Length);
        var shipped = Assert.Single(said, l => l.Contains("orders#Shipped", StringComparison.Ordinal));
        Assert.Contains($"({file}:5:24)", shipped, StringComparison.Ordinal);
        Assert.Contains("compares text (after.sts, character(2)) with a number (5) in `op == \"u\" && after.sts == 5`", shipped, StringComparison.Ordinal);
        Assert.Contains("write `op == \"u\" && after.sts == \"5\"`", shipped, StringComparison.Ordinal);
        Assert.Contains("dead letters", shipped, StringComparison.Ordinal);
        Assert.Contains("Warning", shipped, StringComparison.Ordinal);
        var big = Assert.Single(said, l => l.Contains("orders#Big", StringComparison.Ordinal));
        Assert.Contains($"({file}:7:11)", big, StringComparison.Ordinal);
        Assert.Contains("`after.qty` gives a number, never true or false", big, StringComparison.Ordinal);
        var skewed = Assert.Single(said, l => l.Contains("orders#Skewed", StringComparison.Ordinal));
        Assert.Contains("write `number(after.ratio) > 0.25`", skewed, StringComparison.Ordinal);
        var counted = Assert.Single(said, l => l.Contains("orders#Counted", StringComparison.Ordinal));
        Assert.Contains($"({file}:12:14)", counted, StringComparison.Ordinal);
        Assert.Contains("write `after.qty == 3`", counted, StringComparison.Ordinal);
        var flagged = Assert.Single(said, l => l.Contains("orders#Flagged", StringComparison.Ordinal));
        Assert.Contains("after.nm (text) gives text, never true or false", flagged, StringComparison.Ordinal);
        Assert.DoesNotContain(said, l => l.Contains("orders#Fine", StringComparison.Ordinal) || l.Contains("orders#Unknown", StringComparison.Ordinal));
        // the file's subject is evaluated for every rule without its own, and named once
        var subject = Assert.Single(said, l => l.Contains("The subject: (", StringComparison.Ordinal));
        Assert.Contains($"({file}:2:16): subject compares a number (after.qty, integer) with text (\"1\")", subject, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_comparing_a_date_or_time_column_with_another_type_is_named_at_start()
    {
        await Db.ExecuteAsync("CREATE TABLE pays (id int PRIMARY KEY, cap_ts timestamptz, upd_ts timestamp, due_dt date, cut_tm time, amt numeric(12,2))");
        var file = Path.Combine(StateDirectory, "pays.yaml");
        var rules = RuleSet.Parse(file, """
            table: public.pays
            events:
              - type: Captured
                when: op == "c" && after.cap_ts > "2024-01-01"
              - type: Late
                when: after.upd_ts > after.cap_ts
              - type: Due
                data:
                  due: date(after.cap_ts, "yyyyMMdd")
              - type: Fine
                when: after.cap_ts < source.commitTime && after.upd_ts > timestamp("20240101000000", "yyyyMMddHHmmss") && after.due_dt >= date("20240101", "yyyyMMdd") && after.cut_tm != null
                data:
                  captured: text(after.cap_ts) == "2024-03-01T08:15:30.000000Z"
                  amount: number(after.amt)
            """);

        // before: nothing was said at start (a date or time counted as comparable with anything); each of these rules failed at
        // the first change with a value in the column (a dead letter)
        await OpenStreamingAsync(Options(["public.pays"]) with { RuleFiles = rules.Files });

        var said = Said("given the column types of public.pays");

        Assert.Equal(3, said.Length);
        var captured = Assert.Single(said, l => l.Contains("pays#Captured", StringComparison.Ordinal));
        Assert.Contains($"({file}:4:24)", captured, StringComparison.Ordinal);
        Assert.Contains("compares a timestamp with time zone (after.cap_ts, timestamp with time zone) with text (\"2024-01-01\")", captured, StringComparison.Ordinal);
        Assert.Contains("source.commitTime", captured, StringComparison.Ordinal);
        Assert.Contains("text(after.cap_ts)", captured, StringComparison.Ordinal);
        var late = Assert.Single(said, l => l.Contains("pays#Late", StringComparison.Ordinal));
        Assert.Contains("compares a timestamp (after.upd_ts, timestamp without time zone) with a timestamp with time zone (after.cap_ts", late, StringComparison.Ordinal);
        var due = Assert.Single(said, l => l.Contains("pays#Due", StringComparison.Ordinal));
        Assert.Contains("gives date() a timestamp with time zone (after.cap_ts, timestamp with time zone), which it does not take", due, StringComparison.Ordinal);
        Assert.DoesNotContain(said, l => l.Contains("pays#Fine", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rule_naming_a_generated_column_which_pgoutput_does_not_send_is_named_at_start()
    {
        await Db.ExecuteAsync("CREATE TABLE lines (id int PRIMARY KEY, qty int, price numeric(10,2), " +
                              "total numeric GENERATED ALWAYS AS (qty * price) STORED); ALTER TABLE lines REPLICA IDENTITY FULL");
        var file = Path.Combine(StateDirectory, "lines.yaml");
        var rules = RuleSet.Parse(file, """
            table: public.lines
            events:
              - type: Repriced
                when: op == "u" && changed("total")
                data:
                  total: after.total
              - type: Added
                when: op == "c"
                data:
                  qty: after.qty
            """);

        // before: nothing was said (the table has the column), and the first update went to the dead letters
        var reader = await OpenStreamingAsync(Options(["public.lines"]) with { RuleFiles = rules.Files });

        var said = Said("GENERATED ALWAYS AS");

        var repriced = Assert.Single(said);
        Assert.Contains($"The rule lines#Repriced ({file}:4:11) names total of public.lines, generated", repriced, StringComparison.Ordinal);
        Assert.Contains("which pgoutput does not send", repriced, StringComparison.Ordinal);
        Assert.DoesNotContain(Logs.Lines.ToArray(), l => l.Contains("which public.lines does not have", StringComparison.Ordinal));

        // what the warning says is what the changes carry
        await Db.ExecuteAsync("INSERT INTO lines (id, qty, price) VALUES (1, 2, 3.50); UPDATE lines SET qty = 3 WHERE id = 1");
        var changes = await reader.TakeAsync(2, c => c.Kind == CdcPipeline.Core.Changes.ChangeKind.Change);
        Assert.DoesNotContain("total", changes[1].After!.Keys);
        var failure = Assert.Throws<RuleEvaluationException>(() => rules.CreateTranslator("test").Translate(changes[1], []));
        Assert.Contains("'total'", failure.Message, StringComparison.Ordinal);
    }

    /// <summary>The log lines so far that contain <paramref name="text"/>.</summary>
    private string[] Said(string text)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains(text, StringComparison.Ordinal)).ToArray();
        }
    }
}
