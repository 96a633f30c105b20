using System.CommandLine;
using CdcPipeline.Commands;

var root = new RootCommand("CdcPipeline: change-data capture from legacy PostgreSQL into domain events.");
foreach (var command in CommandCatalog.All())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
