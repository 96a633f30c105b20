using System.CommandLine;
using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>What <c>failures list</c> and <c>failures resend</c> say when the failure table's database cannot be reached.</summary>
public sealed class FailuresCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-failures-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("list")]
    [InlineData("resend", "--all")]
    public async Task An_unreachable_failure_database_is_an_error_naming_the_key_and_the_server_never_a_stack_trace(params string[] arguments)
    {
        // Nothing listens on port 1: the command died with NpgsqlException's stack trace ("Unhandled exception: ...").
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, """
            name: failures-cli
            source:
              memory: {}
            failures:
              connectionString: "Host=127.0.0.1;Port=1;Username=ops;Password=hunter2;Database=ops;Timeout=5"
              table: cdc_failures
            sinks:
              - name: screen
                console: {}
            """, TestContext.Current.CancellationToken);
        var root = new RootCommand();
        root.Subcommands.Add(FailuresCommand.Create());
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await root.Parse(["failures", .. arguments, "--config", config]).InvokeAsync(
            new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

        Assert.Equal(1, exit);
        var said = error.ToString();
        Assert.StartsWith($"failures {arguments[0]}: cannot use the failure table cdc_failures at 127.0.0.1:1, database ops, as ops", said, StringComparison.Ordinal);
        Assert.Contains("failures.connectionString", said, StringComparison.Ordinal);
        Assert.Contains(config, said, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", said + output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", said, StringComparison.Ordinal);
    }
}
