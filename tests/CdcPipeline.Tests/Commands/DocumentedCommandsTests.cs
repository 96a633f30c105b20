using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>The commands ARCHITECTURE.md's command table promises (users' scripts call them by these names and options).</summary>
public class DocumentedCommandsTests
{
    [Theory]
    [InlineData("decode", "FILE")]
    [InlineData("translate", "--rules")]
    [InlineData("run", "--config")]
    [InlineData("db check", null)]
    [InlineData("db prepare", null)]
    [InlineData("slot", null)]
    [InlineData("connector render", null)]
    [InlineData("connector apply", null)]
    [InlineData("connector status", null)]
    [InlineData("replay", null)]
    [InlineData("dlq", null)]
    public async Task Each_documented_command_exists_with_its_documented_argument(string command, string? argument)
    {
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync([.. command.Split(' '), "--help"], output, error, TestContext.Current.CancellationToken);

        Assert.True(exit == 0, $"exit {exit}: {error}");
        // "Usage:\n  cdcpipeline decode [<FILE>] [options]" (the root's name is the host's under test)
        Assert.Matches($@"Usage:\s+\S+ {command}[ \n]", output.ToString());
        if (argument is not null)
        {
            Assert.Contains(argument, output.ToString(), StringComparison.Ordinal);
        }
    }
}
