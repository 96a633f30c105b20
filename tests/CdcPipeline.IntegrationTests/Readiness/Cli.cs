using System.CommandLine;
using CdcPipeline.Commands;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary>Runs a <c>cdcpipeline</c> command in-process through the real command tree, capturing stdout and stderr.</summary>
internal static class Cli
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        var root = new RootCommand("cdcpipeline");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, TestContext.Current.CancellationToken);
        var result = new CliResult(code, output.ToString(), error.ToString());
        TestContext.Current.TestOutputHelper?.WriteLine($"$ cdcpipeline {string.Join(' ', args.Select(a => a.Contains("Password", StringComparison.Ordinal) ? "'…'" : a))}\n{result.Stdout}{result.Stderr}exit {code}\n");
        return result;
    }
}

internal sealed record CliResult(int Code, string Stdout, string Stderr);
