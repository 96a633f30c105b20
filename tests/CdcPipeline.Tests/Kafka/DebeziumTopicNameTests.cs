using CdcPipeline.Kafka.Connect;
using CdcPipeline.Kafka.Source;

namespace CdcPipeline.Tests.Kafka;

/// <summary>
/// The topics the source derives from <c>source.kafka.debezium</c> must be the ones Debezium writes, and the rendered
/// <c>table.include.list</c> must select exactly the listed tables. Legacy schemas have names Kafka does not allow in
/// topic names (<c>tb_ord$mst</c>, names in other alphabets) and that mean something in a regular expression.
/// </summary>
public class DebeziumTopicNameTests
{
    private static DebeziumConnectorOptions Options(params string[] tables) => new()
    {
        TopicPrefix = "legacy",
        Tables = [.. tables],
        HeartbeatIntervalMs = 0,
        ProvideTransactionMetadata = false,
    };

    [Fact]
    public void A_table_name_with_characters_kafka_does_not_allow_maps_to_the_topic_debezium_writes()
    {
        // Debezium's topic naming strategy replaces every character outside [a-zA-Z0-9._-] with '_'.
        Assert.Equal(
            ["legacy.public.tb_ord_mst", "legacy.public.tb_ord_dtl", "legacy.public.__", "legacy.sales.order_lines"],
            Options("public.tb_ord$mst", "tb_ord_dtl", "public.주문", "sales.order lines").Topics());
    }

    [Fact]
    public void A_table_written_in_another_case_reads_the_topic_debezium_names_after_the_table_as_stored()
    {
        // Debezium matches table.include.list case-insensitively (Predicates.includes with Pattern.CASE_INSENSITIVE), so
        // PUBLIC.TB_ORD_MST captures public.tb_ord_mst and writes its changes to legacy.public.tb_ord_mst: a subscription to
        // legacy.PUBLIC.TB_ORD_MST would never receive one.
        var topics = Options("PUBLIC.TB_ORD_MST", "tb_ord_dtl", "Sales.Order Lines").Topics();

        Assert.Equal(3, topics.Count);
        Assert.Equal("legacy.public.tb_ord_dtl", topics[1]); // all lower case: the topic itself, as before
        foreach (var pattern in new[] { topics[0], topics[2] })
        {
            Assert.StartsWith("^", pattern, StringComparison.Ordinal); // librdkafka subscribes to a name starting with ^ as a pattern
            Assert.Null(TopicPatternCheck.Problem(pattern)); // and matches it as a POSIX regular expression
        }

        Assert.Matches(topics[0], "legacy.public.tb_ord_mst");
        Assert.Matches(topics[0], "legacy.PUBLIC.TB_ORD_MST");
        Assert.DoesNotMatch(topics[0], "legacy.public.tb_ord_mst_old");
        Assert.DoesNotMatch(topics[0], "legacy2.public.tb_ord_mst");
        Assert.DoesNotMatch(topics[0], "LEGACY.public.tb_ord_mst"); // the prefix is Debezium's topic.prefix, used as written
        Assert.DoesNotMatch(topics[0], "legacy.publicXtb_ord_mst");
        Assert.Matches(topics[2], "legacy.Sales.Order_Lines");
        Assert.Matches(topics[2], "legacy.sales.order_lines");
        Assert.DoesNotMatch(topics[2], "legacy.sales.orderXlines");
    }

    [Fact]
    public void The_include_list_matches_each_table_name_literally()
    {
        var list = ConnectorRenderer.Render(Options("public.tb_ord$mst", "tb_ord_dtl"), "json")["table.include.list"]!.GetValue<string>();
        var patterns = list.Split(',');

        Assert.Equal(2, patterns.Length);
        Assert.Matches($"^(?:{patterns[0]})$", "public.tb_ord$mst");
        Assert.Matches($"^(?:{patterns[1]})$", "public.tb_ord_dtl");
    }

    [Theory]
    [InlineData("filtered", true)]
    [InlineData("disabled", false)]
    [InlineData("all_tables", false)]
    public void In_filtered_mode_the_heartbeat_table_is_in_the_include_list_so_its_writes_are_published(string mode, bool listed)
    {
        // Debezium's filtered mode publishes exactly table.include.list: the heartbeat action query's writes to a table
        // outside it are never streamed, so they cannot move the slot on, and WAL piles up on a quiet database.
        var options = Options("tb_ord_mst");
        options.HeartbeatIntervalMs = 10_000;
        options.PublicationAutocreateMode = mode;

        var config = ConnectorRenderer.Render(options, "json");
        var patterns = config["table.include.list"]!.GetValue<string>().Split(',');

        Assert.Contains("public.debezium_heartbeat", config["heartbeat.action.query"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(listed, patterns.Any(p => System.Text.RegularExpressions.Regex.IsMatch("public.debezium_heartbeat", $"^(?:{p})$")));
        Assert.Contains(patterns, p => System.Text.RegularExpressions.Regex.IsMatch("public.tb_ord_mst", $"^(?:{p})$"));
        Assert.DoesNotContain("legacy.public.debezium_heartbeat", options.Topics());
    }
}
