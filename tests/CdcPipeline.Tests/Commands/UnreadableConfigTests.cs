using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Tests.Commands;

/// <summary>
/// A <c>--config</c> that is there but cannot be read (a directory; a file the process may not read) is the operator's to
/// fix, as a missing one is: one line naming the file and why, exit 2, from every command that loads a configuration.
/// </summary>
public sealed class UnreadableConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-unreadable-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_directory_given_as_the_configuration_says_so_instead_of_that_it_does_not_exist()
    {
        var e = Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(_dir));

        Assert.Contains($"cannot read configuration file '{_dir}': it is a directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_level_error_is_not_prefixed_with_an_empty_key()
    {
        // Was "(top level): configuration file '…' does not exist": the error is about the file, no key of it.
        var missing = Path.Combine(_dir, "missing.yaml");

        Assert.Equal($"configuration file '{missing}' does not exist", Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(missing)).Message);
        Assert.Equal($"cannot read configuration file '{_dir}': it is a directory; give the pipeline's YAML file",
            Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(_dir)).Message);
    }

    [Fact]
    public void A_file_the_process_may_not_read_is_a_configuration_error_naming_it_and_the_os_error()
    {
        if (OperatingSystem.IsWindows() || Environment.IsPrivilegedProcess)
        {
            // root reads a mode-000 file all the same: the read error cannot be made here (the directory case above runs).
            Assert.Skip("running as root (or on Windows): a mode-000 file is readable, so the permission error cannot be provoked");
        }

        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, "name: x\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.None);
        }

        var e = Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(path));

        Assert.Contains($"cannot read configuration file '{path}': ", e.Message, StringComparison.Ordinal);
        Assert.Contains("denied", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dlq", "list")]
    [InlineData("dlq", "redrive")]
    [InlineData("replay", "--to", "earliest")]
    [InlineData("failures", "list")]
    [InlineData("failures", "resend", "--all")]
    [InlineData("slot", "list")]
    [InlineData("slot", "lag", "cdc_slot")]
    [InlineData("slot", "drop", "cdc_slot", "--yes")]
    [InlineData("db", "check")]
    [InlineData("db", "prepare")]
    [InlineData("connector", "render")]
    [InlineData("connector", "apply")]
    [InlineData("connector", "status")]
    [InlineData("connector", "restart")]
    [InlineData("batch", "list")]
    [InlineData("batch", "close")]
    [InlineData("translate", "--rules", "RULES", "/dev/null")]
    public async Task Every_command_taking_config_reports_a_missing_one_in_one_line_naming_it_and_exits_2(params string[] command)
    {
        // README: "a --config file that is missing or cannot be read (…: its path and the system's reason, in one line)", exit 2;
        // not followed by the --help line, which follows a bad option the parser or the command refuses. run says the same
        // in its stop line ("error: configuration file '…' does not exist", RunFailureTests).
        var missing = Path.Combine(_dir, "missing.yaml");
        var rules = CdcPipeline.Tests.Translation.TestChanges.RepoPath("samples", "legacy-orders", "rules");
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync([.. command.Select(a => a == "RULES" ? rules : a), "--config", missing], output, error, TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}: {error}{output}");
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.EndsWith($"configuration file '{missing}' does not exist", line.TrimEnd('\r'), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dlq", "list", "--topic", "dead-letters")]
    [InlineData("dlq", "redrive", "--topic", "dead-letters")]
    [InlineData("replay", "--group", "g", "--topic", "t", "--to", "earliest")]
    [InlineData("failures", "list")]
    [InlineData("failures", "resend", "--all")]
    [InlineData("slot", "list")]
    [InlineData("slot", "lag", "cdc_slot")]
    [InlineData("slot", "drop", "cdc_slot", "--yes")]
    [InlineData("db", "check")]
    [InlineData("db", "prepare")]
    [InlineData("connector", "render")]
    [InlineData("batch", "list")]
    public async Task Every_command_taking_config_reports_an_unreadable_one_in_one_line_and_exits_2(params string[] command)
    {
        // Was: "does not exist" for a directory; a mode-000 file escaped as UnauthorizedAccessException (stack trace, exit 1).
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync([.. command, "--config", _dir], output, error, TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}: {error}{output}");
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"cannot read configuration file '{_dir}': it is a directory", line, StringComparison.Ordinal);
    }
}
