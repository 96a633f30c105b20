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
}
