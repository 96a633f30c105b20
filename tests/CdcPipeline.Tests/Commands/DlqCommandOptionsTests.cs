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
    public async Task An_illegal_dead_letter_topic_name_is_refused_as_run_refuses_it_before_the_cluster_is_asked(string subcommand)
    {
        // Unrefused, the name went to the cluster and came back as "topic '…' does not exist" (exit 1): the operator looked
        // for a topic run can never create, while run itself refuses the same setting at start with its file and line.
        var directory = Directory.CreateTempSubdirectory("cdc-dlq-name-");
        try
        {
            var config = Path.Combine(directory.FullName, "pipeline.yaml");
            await File.WriteAllTextAsync(config, """
                name: shop
                source:
                  kafka:
                    bootstrapServers: "127.0.0.1:1"
                    topics: [legacy.public.orders]
                    format: json
                sinks:
                  - name: hook
                    console: {}
                deadLetter:
                  topic: "legacy dead letters"
                """, TestContext.Current.CancellationToken);
            var root = new RootCommand();
            root.Subcommands.Add(DlqCommand.Create());
            var (output, error) = (new StringWriter(), new StringWriter());
            var started = System.Diagnostics.Stopwatch.StartNew();
            var exit = await root.Parse(["dlq", subcommand, "--config", config]).InvokeAsync(
                new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

            Assert.True(exit == 2, $"exit {exit}: {error}");
            Assert.Equal(
                $"{config}:11: deadLetter.topic: 'legacy dead letters' contains ' ': Kafka topic names allow only ASCII letters, digits, '.', '_' and '-' ([a-zA-Z0-9._-])",
                error.ToString().TrimEnd());
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}: the cluster was asked");

            // --topic wins over the file's deadLetter.topic, and is checked the same way.
            error.GetStringBuilder().Clear();
            exit = await root.Parse(["dlq", subcommand, "--config", config, "--topic", "dead/letters"]).InvokeAsync(
                new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);
            Assert.True(exit == 2, $"exit {exit}: {error}");
            Assert.StartsWith("--topic: 'dead/letters' contains '/': ", error.ToString(), StringComparison.Ordinal);
            Assert.Empty(output.ToString());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("orders v2", "' '")]
    [InlineData("orders/v2", "'/'")]
    [InlineData("..", "not empty, '.' or '..'")]
    public async Task An_illegal_redrive_target_topic_is_refused_before_the_cluster_is_asked(string to, string said)
    {
        // Unrefused, --to went to the cluster and came back as "--to topic '…' does not exist" (exit 1, after the cluster
        // answered): the operator looked for a topic no broker can have. Refused as --topic is, by its option's name.
        var root = new RootCommand();
        root.Subcommands.Add(DlqCommand.Create());
        var (output, error) = (new StringWriter(), new StringWriter());
        var started = System.Diagnostics.Stopwatch.StartNew();
        var exit = await root.Parse(["dlq", "redrive", "--topic", "dead-letters", "--to", to, "--bootstrap-servers", "127.0.0.1:1"]).InvokeAsync(
            new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}: {error}");
        Assert.StartsWith($"--to: '{to}' ", error.ToString(), StringComparison.Ordinal);
        Assert.Contains(said, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", error.ToString(), StringComparison.Ordinal);
        Assert.Empty(output.ToString());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}: the cluster was asked");
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
