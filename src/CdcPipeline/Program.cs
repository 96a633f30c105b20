using System.CommandLine;
using CdcPipeline.Commands;

var root = new RootCommand("CdcPipeline: change-data capture from legacy PostgreSQL into domain events.");
foreach (var command in CommandCatalog.All())
{
    root.Subcommands.Add(command);
}

// SIGTERM/Ctrl+C are left to the commands: `run` hosts a ConsoleLifetime that drains the pipeline
// before exiting, which System.CommandLine's own handler (a fixed timeout, then exit) would cut short.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
