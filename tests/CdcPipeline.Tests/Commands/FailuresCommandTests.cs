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

    [Theory]
    [InlineData("Host=;Port=abc;Username=ops;Password=hunter2", "list")]
    [InlineData("Host=;Port=abc;Username=ops;Password=hunter2", "resend", "--all")]
    [InlineData("Host=db;Bogus=1;Username=ops;Password=hunter2", "list")]
    [InlineData("Port=5432;Username=ops;Password=hunter2", "resend", "--all")]
    public async Task An_invalid_failure_connection_string_exits_2_naming_the_key_and_its_line_never_the_password(string connectionString, params string[] arguments)
    {
        // The command died with Npgsql's unhandled ArgumentException ("Couldn't set port") and its stack trace.
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: failures-cli
            source:
              memory: {"{}"}
            failures:
              connectionString: "{connectionString}"
              table: cdc_failures
            sinks:
              - name: screen
                console: {"{}"}
            """, TestContext.Current.CancellationToken);
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["failures", .. arguments, "--config", config], output, error, TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}: {error}");
        Assert.StartsWith($"failures {arguments[0]}: {config}:5: failures.connectionString: not a valid Npgsql connection string: ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.ToString() + output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }
}
