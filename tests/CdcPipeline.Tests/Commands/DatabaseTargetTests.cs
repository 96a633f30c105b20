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
    [InlineData("Host=;Username=cdc;Password=hunter2", "Host")]
    public async Task An_invalid_connection_string_is_an_error_naming_the_fault_never_a_crash_and_never_the_password(string connection, string named)
    {
        var root = new RootCommand();
        root.Subcommands.Add(SlotCommand.Create());
        var (output, error) = (new StringWriter(), new StringWriter());
        var exit = await root.Parse(["slot", "list", "--connection", connection]).InvokeAsync(
            new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);

        Assert.Equal(DatabaseTarget.CannotConnect, exit);
        Assert.StartsWith("--connection: not a valid Npgsql connection string: ", error.ToString(), StringComparison.Ordinal);
        Assert.Contains(named, error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter2", error.ToString() + output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("slot", "list")]
    [InlineData("db", "check")]
    public async Task An_invalid_connection_string_in_the_configuration_names_the_key_and_its_line(params string[] command)
    {
        // It said "the connection string is not valid: …", leaving the operator to find which one in which file.
        var config = await ConfigWithAsync("Host=db;Username=cdc;Password=hunter2;Bogus=1");
        try
        {
            var (output, error) = (new StringWriter(), new StringWriter());
            var exit = await CommandLineApp.InvokeAsync([.. command, "--config", config], output, error, TestContext.Current.CancellationToken);

            Assert.Equal(2, exit);
            Assert.StartsWith($"{config}:4: source.postgres.connectionString: not a valid Npgsql connection string: ", error.ToString(), StringComparison.Ordinal);
            Assert.Contains("bogus", error.ToString(), StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("hunter2", error.ToString() + output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Theory]
    [InlineData("slot", "list")]
    [InlineData("slot", "lag")]
    [InlineData("db", "check")]
    public async Task A_server_that_cannot_be_reached_is_named_with_what_to_check_the_key_and_its_line_from_a_configuration(params string[] command)
    {
        // It said only "cannot connect to 127.0.0.1:1, database legacy, as cdc: Failed to connect to 127.0.0.1:1 (Connection
        // refused)": not what to check, nor which key of which file holds the connection string (run says both).
        var config = await ConfigWithAsync("Host=127.0.0.1;Port=1;Username=cdc;Password=hunter2;Database=legacy");
        try
        {
            var (output, error) = (new StringWriter(), new StringWriter());
            var exit = await CommandLineApp.InvokeAsync([.. command, "--config", config], output, error, TestContext.Current.CancellationToken);

            Assert.Equal(DatabaseTarget.CannotConnect, exit);
            var said = error.ToString();
            Assert.StartsWith("cannot connect to 127.0.0.1:1, database legacy, as cdc: ", said, StringComparison.Ordinal);
            Assert.EndsWith($"; check that the server is up and that source.postgres.connectionString ({config}:4) is right{Environment.NewLine}", said, StringComparison.Ordinal);
            Assert.DoesNotContain("hunter2", said + output, StringComparison.Ordinal);

            // given on the command line, the option is what to check
            (output, error) = (new StringWriter(), new StringWriter());
            exit = await CommandLineApp.InvokeAsync([.. command, "--connection", "Host=127.0.0.1;Port=1;Username=cdc;Password=hunter2;Database=legacy"], output, error, TestContext.Current.CancellationToken);
            Assert.Equal(DatabaseTarget.CannotConnect, exit);
            Assert.EndsWith($"; check that the server is up and that the connection string is right{Environment.NewLine}", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>A pipeline configuration file whose source.postgres.connectionString (line 4) is <paramref name="connectionString"/>.</summary>
    private static async Task<string> ConfigWithAsync(string connectionString)
    {
        var config = Path.Combine(Path.GetTempPath(), $"cdc-dbtarget-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: legacy
            source:
              postgres:
                connectionString: "{connectionString}"
                publication: cdc_pub
                slot: cdc_slot
            sinks:
              - name: screen
                console: {"{}"}
            """, TestContext.Current.CancellationToken);
        return config;
    }
}
