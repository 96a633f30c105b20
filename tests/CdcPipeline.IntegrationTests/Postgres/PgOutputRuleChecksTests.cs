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

        string[] said;
        lock (Logs.Lines)
        {
            said = Logs.Lines.Where(l => l.Contains("reads the old row of", StringComparison.Ordinal)).ToArray();
        }

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

        string[] said;
        lock (Logs.Lines)
        {
            said = Logs.Lines.Where(l => l.Contains("which public.lines does not have", StringComparison.Ordinal)).ToArray();
        }

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
}
