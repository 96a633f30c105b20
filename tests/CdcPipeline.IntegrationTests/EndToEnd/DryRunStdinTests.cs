using System.Diagnostics;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// <c>decode [FILE]</c> and <c>translate --rules DIR [FILE]</c> read standard input without FILE (ARCHITECTURE.md, "Commands"):
/// the real binary, fed through a pipe as <c>kcat … | cdcpipeline decode</c> feeds it, writes what it writes for the file.
/// </summary>
public sealed class DryRunStdinTests
{
    private static readonly string Samples = Path.Combine(PostgresFixture.RepoRoot, "samples", "legacy-orders");

    private static readonly string Changes = Path.Combine(Samples, "debezium", "changes.jsonl");

    [Fact]
    public async Task Decode_without_FILE_decodes_standard_input()
    {
        var (exit, output, errors) = await RunAsync(await File.ReadAllTextAsync(Changes, Ct), "decode");

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal((await File.ReadAllTextAsync(Path.Combine(Samples, "debezium", "expected-decode.jsonl"), Ct)).ReplaceLineEndings("\n"), output);
    }

    [Fact]
    public async Task Translate_without_FILE_translates_standard_input_as_it_translates_the_file()
    {
        var rules = Path.Combine(Samples, "rules");
        var fromFile = await RunAsync("", "translate", "--rules", rules, Changes);
        var fromStdin = await RunAsync(await File.ReadAllTextAsync(Changes, Ct), "translate", "--rules", rules);

        Assert.True(fromFile.Exit == 0, $"exit {fromFile.Exit}: {fromFile.Errors}");
        Assert.True(fromStdin.Exit == 0, $"exit {fromStdin.Exit}: {fromStdin.Errors}");
        Assert.Contains("\"type\":\"OrderPlaced\"", fromFile.Output, StringComparison.Ordinal);
        Assert.Equal(fromFile.Output, fromStdin.Output);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(int Exit, string Output, string Errors)> RunAsync(string stdin, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cdcpipeline.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start cdcpipeline");
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var errors = process.StandardError.ReadToEndAsync(Ct);
        await process.StandardInput.WriteAsync(stdin.AsMemory(), Ct);
        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await output, await errors);
    }
}
