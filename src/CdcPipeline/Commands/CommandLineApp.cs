using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace CdcPipeline.Commands;

/// <summary>
/// The command tree and how every command ends: 0 done; <see cref="ExpectedFailure.Usage"/> (2) for a command line or
/// configuration that is wrong — an unknown option, a bad value, a missing required option, an invalid key (named with
/// its file and line); <see cref="ExpectedFailure.Failed"/> (1) when the work failed (a database or a cluster that cannot
/// be reached or refuses). Commands write their own one-line errors; an expected failure that escapes one is written
/// here, in one line too. Only a bug is shown with its stack trace.
/// </summary>
internal static class CommandLineApp
{
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("CdcPipeline: change-data capture from legacy PostgreSQL into domain events.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <param name="output">Standard output (default: the console's).</param>
    /// <param name="error">Standard error (default: the console's).</param>
    public static async Task<int> InvokeAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var parse = CreateRoot().Parse(args);
        var configuration = new InvocationConfiguration
        {
            // SIGTERM/Ctrl+C are left to the commands: `run` hosts a ConsoleLifetime that drains the pipeline
            // before exiting, which System.CommandLine's own handler (a fixed timeout, then exit) would cut short.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        };
        if (output is not null)
        {
            configuration.Output = output;
        }

        if (error is not null)
        {
            configuration.Error = error;
        }

        var errors = configuration.Error;
        var command = CommandPath(parse);
        if (parse.Action is ParseErrorAction parseError)
        {
            if (await RunCommand.TryReportParseErrorsAsync(parse).ConfigureAwait(false))
            {
                return ExpectedFailure.Usage;
            }

            // A group without its subcommand gets the list of subcommands; a bad option value gets its error, not a page of help.
            var leaf = parse.CommandResult.Command.Subcommands.Count == 0;
            parseError.ShowHelp = !leaf;
            await parse.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
            if (leaf)
            {
                await errors.WriteLineAsync(SeeHelp(command)).ConfigureAwait(false);
            }

            return ExpectedFailure.Usage;
        }

        try
        {
            return await parse.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (ExpectedFailure.ExitCode(e) is { } code)
        {
            await errors.WriteLineAsync($"{command}: {ExpectedFailure.Describe(e)}").ConfigureAwait(false);
            return code;
        }
        catch (Exception e)
        {
            // A bug: the trace is what a report needs (System.CommandLine's own handler prints the same, exit 1).
            await errors.WriteLineAsync($"{command}: unexpected error (please report it with what follows): {e}").ConfigureAwait(false);
            return ExpectedFailure.Failed;
        }
    }

    /// <summary>The line that follows a usage error: where to read more, not the whole help.</summary>
    internal static string SeeHelp(string command) => $"see 'cdcpipeline {command} --help'";

    /// <summary>"failures resend" for <c>cdcpipeline failures resend …</c>; "cdcpipeline" for the root.</summary>
    internal static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? result = parse.CommandResult; result is CommandResult { Command: not RootCommand } commandResult; result = result.Parent)
        {
            names.Insert(0, commandResult.Command.Name);
        }

        return names.Count == 0 ? "cdcpipeline" : string.Join(' ', names);
    }
}
