using System.CommandLine;
using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>What <c>slot</c> and <c>db</c> say about a connection string they cannot use.</summary>
public class DatabaseTargetTests
{
    [Theory]
    [InlineData("Host=db;Username=cdc;Password=hunter2;Port=abc", "port")]
    [InlineData("Host=db;Username=cdc;Password=hunter2;Bogus=1", "bogus")]
    [InlineData("Host=db;Username=cdc;Password=hunter2;=", "index")]
    public async Task An_invalid_connection_string_is_an_error_naming_the_fault_never_a_crash_and_never_the_password(string connection, string named)
    {
        var root = new RootCommand();
        root.Subcommands.Add(SlotCommand.Create());
        var (output, error) = (new StringWriter(), new StringWriter());
        var exit = await root.Parse(["slot", "list", "--connection", connection]).InvokeAsync(
            new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

        Assert.Equal(DatabaseTarget.CannotConnect, exit);
        Assert.StartsWith("the connection string is not valid: ", error.ToString(), StringComparison.Ordinal);
        Assert.Contains(named, error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter2", error.ToString() + output, StringComparison.Ordinal);
    }
}
