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
            ["legacy.public.tb_ord_mst", "legacy.public.tb_ord_dtl", "legacy.public.__", "legacy.Sales.Order_Lines"],
            Options("public.tb_ord$mst", "tb_ord_dtl", "public.주문", "Sales.Order Lines").Topics());
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
