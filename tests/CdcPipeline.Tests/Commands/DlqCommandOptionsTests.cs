using System.CommandLine;
using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>What <c>dlq list</c> and <c>dlq redrive</c> say about option values that cannot mean anything.</summary>
public class DlqCommandOptionsTests
{
    [Theory]
    [InlineData("--max must be 0 or more", "list", "--max", "-1")]
    [InlineData("--from-offset must be 0 or more", "redrive", "--from-offset", "-1")]
    [InlineData("--to-offset must be 0 or more", "redrive", "--to-offset", "-5")]
    [InlineData("--partition must be 0 or more", "redrive", "--partition", "-1")]
    [InlineData("--to-offset 3 is before --from-offset 5", "redrive", "--from-offset", "5", "--to-offset", "3")]
    public async Task A_value_that_selects_nothing_is_refused_naming_the_option_before_the_cluster_is_asked(string said, params string[] arguments)
    {
        // Unrefused, `--max -1` listed nothing and `--to-offset 3 --from-offset 5` redrove nothing, both with exit 0:
        // an operator would read "the dead-letter topic is empty".
        var root = new RootCommand();
        root.Subcommands.Add(DlqCommand.Create());
        var (output, error) = (new StringWriter(), new StringWriter());
        var exit = await root.Parse(["dlq", .. arguments, "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1"]).InvokeAsync(
            new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

        Assert.NotEqual(0, exit);
        Assert.Contains(said, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Kafka", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("list")]
    [InlineData("redrive")]
    public async Task An_embedded_pipeline_s_config_with_a_topic_is_answered_with_its_dead_letter_file_not_a_missing_cluster(string subcommand)
    {
        // An operator with dead letters of a webhook or PostgreSQL sink (embedded capture, deadLetter.path) ran
        // `dlq list --config pipeline.yaml` and was told the file "names no Kafka cluster; give --bootstrap-servers":
        // a hunt for a broker that does not exist, while the letters sit in a file the message did not name. Without
        // --topic, dlq reads that file (DlqFileListTests); with it, it says where the letters are.
        var directory = Directory.CreateTempSubdirectory("cdc-dlq-file-");
        try
        {
            var config = Path.Combine(directory.FullName, "pipeline.yaml");
            await File.WriteAllTextAsync(config, """
                name: shop
                source:
                  postgres:
                    connectionString: "Host=127.0.0.1;Username=cdc;Database=legacy"
                    publication: cdc_pub
                    slot: cdc_slot
                sinks:
                  - name: hook
                    webhook: { url: "http://127.0.0.1:1/hook" }
                deadLetter:
                  path: out/dead-letters.jsonl
                """, TestContext.Current.CancellationToken);
            var root = new RootCommand();
            root.Subcommands.Add(DlqCommand.Create());
            var (output, error) = (new StringWriter(), new StringWriter());
            var exit = await root.Parse(["dlq", subcommand, "--config", config, "--topic", "dead-letters"]).InvokeAsync(
                new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

            Assert.Equal(2, exit);
            var said = error.ToString();
            Assert.Contains(Path.Combine(directory.FullName, "out", "dead-letters.jsonl"), said, StringComparison.Ordinal);
            Assert.Contains("pipeline.yaml:11", said, StringComparison.Ordinal);
            Assert.Contains("without --topic", said, StringComparison.Ordinal);
            Assert.DoesNotContain("give --bootstrap-servers", said, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
