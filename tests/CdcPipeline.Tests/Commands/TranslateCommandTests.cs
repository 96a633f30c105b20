using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CdcPipeline.Commands;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Tests.Commands;

public class TranslateCommandTests
{
    private static string Sample(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CdcPipeline.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        return Path.Combine([dir.FullName, "samples", "legacy-orders", .. parts]);
    }

    private static async Task<(int Exit, string[] Lines, string Err)> Run(Stream input)
    {
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var translator = Translators.Create(Sample("rules"), "legacy-orders");
        var exit = await TranslateCommand.RunAsync(input, output, errors, DebeziumDecoderOptions.Default, translator, TestContext.Current.CancellationToken);
        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return (exit, lines, errors.ToString());
    }

    [Fact]
    public async Task The_sample_recording_translates_into_the_five_domain_event_types_in_source_order()
    {
        await using var input = File.OpenRead(Sample("debezium", "changes.jsonl"));
        var (exit, lines, errors) = await Run(input);

        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(
            ["CustomerRegistered:C0000003", "CustomerAddressChanged:C0000002", "OrderPlaced:1000003", "OrderShipped:1000002", "OrderCancelled:1000003"],
            events.Select(e => $"{e.GetProperty("type").GetString()}:{e.GetProperty("subject").GetString()}"));
        Assert.All(events, e => Assert.Equal("1.0", e.GetProperty("specversion").GetString()));
        Assert.Equal("2024-03-02", events[3].GetProperty("data").GetProperty("shippedOn").GetString());
    }

    [Fact]
    public async Task Ids_are_the_same_on_a_second_run_so_a_replay_can_be_deduplicated()
    {
        await using var first = File.OpenRead(Sample("debezium", "changes.jsonl"));
        await using var second = File.OpenRead(Sample("debezium", "changes.jsonl"));
        var a = (await Run(first)).Lines;
        var b = (await Run(second)).Lines;
        Assert.Equal(a, b);
        Assert.Equal(a.Length, a.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).Distinct().Count());
    }

    [Fact]
    public async Task A_create_with_Debeziums_oldkey_header_is_a_renumbering_not_a_registration()
    {
        var lines = await File.ReadAllLinesAsync(Sample("debezium", "changes.jsonl"), TestContext.Current.CancellationToken);
        var insert = lines.Select(l => JsonNode.Parse(l)!.AsObject())
            .First(r => r["topic"]!.GetValue<string>().EndsWith(".tb_cust_mst", StringComparison.Ordinal)
                && JsonNode.Parse(r["payload"]!.GetValue<string>())!["payload"]!["op"]!.GetValue<string>() == "c");
        var registered = JsonDocument.Parse(Assert.Single((await Run(Line(insert))).Lines)).RootElement;
        Assert.Equal("CustomerRegistered", registered.GetProperty("type").GetString());

        // The create Debezium writes for an update of cust_no carries the old key in a header (kcat -J: [name, value, …]).
        var oldKey = insert["key"]!.GetValue<string>().Replace(registered.GetProperty("subject").GetString()!, "C0000099", StringComparison.Ordinal);
        insert["headers"] = new JsonArray("__debezium.oldkey", oldKey);
        var (exit, output, errors) = await Run(Line(insert));

        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        Assert.Empty(output);
    }

    private static MemoryStream Line(JsonObject record) => new(Encoding.UTF8.GetBytes(record.ToJsonString()));

    [Fact]
    public async Task A_bad_line_is_reported_with_its_line_number_and_the_rest_still_translate()
    {
        var lines = await File.ReadAllLinesAsync(Sample("debezium", "changes.jsonl"), TestContext.Current.CancellationToken);
        var broken = lines.Take(5).Append("{\"schema\": tru").Concat(lines.Skip(5));
        await using var input = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', broken)));
        var (exit, output, errors) = await Run(input);

        Assert.Equal(1, exit);
        Assert.StartsWith("line 6", errors, StringComparison.Ordinal);
        Assert.Equal(5, output.Length);
    }
}
