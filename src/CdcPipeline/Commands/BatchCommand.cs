using System.CommandLine;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Sinks.Batch;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>batch list|resend|close --config FILE</c>: operate the batch sinks of a pipeline configuration
/// without running the pipeline. <c>close</c> takes each spool directory as a running sink does, so it refuses while the
/// pipeline runs; <c>list</c> and <c>resend</c> only read the archive and work while it runs. <c>resend --id ID</c> uploads an archived batch again under the same
/// names, which the target replaces atomically, so downstream never sees it twice.
/// </summary>
internal static class BatchCommand
{
    public static Command Create()
    {
        var command = new Command("batch", "Batch transfer: list archived batches, re-send one by id, or close ended intervals now.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Resend());
        command.Subcommands.Add(Close());
        return command;
    }

    private static Option<FileInfo> ConfigOption() => new("--config")
    {
        Description = "the pipeline configuration (YAML) naming the batch sink(s)",
        Required = true,
    };

    private static Option<string?> SinkOption() => new("--sink")
    {
        Description = "the batch sink's name (default: every batch sink, or the one the batch id names)",
    };

    private static Command List()
    {
        var config = ConfigOption();
        var sink = SinkOption();
        var command = new Command("list", "List archived batches: id, interval, count, SHA-256.") { config, sink };
        command.SetAction(async (parse, cancellationToken) => await WithStoresAsync(parse, parse.GetValue(config)!, parse.GetValue(sink), async stores =>
        {
            foreach (var store in stores)
            {
                foreach (var m in await store.ListAsync(cancellationToken).ConfigureAwait(false))
                {
                    await parse.InvocationConfiguration.Output.WriteLineAsync(FormattableString.Invariant($"{m.BatchId}\t{m.IntervalStart:O}\t{m.IntervalEnd:O}\t{m.Count}\t{m.Sha256}")).ConfigureAwait(false);
                }
            }

            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Resend()
    {
        var config = ConfigOption();
        var sink = SinkOption();
        var id = new Option<string>("--id") { Description = "the batch id (see 'batch list')", Required = true };
        var command = new Command("resend", "Upload an archived batch again, under the same file names (replaced atomically: no duplicate downstream).") { config, sink, id };
        command.SetAction(async (parse, cancellationToken) => await WithStoresAsync(parse, parse.GetValue(config)!, parse.GetValue(sink), async stores =>
        {
            var batchId = parse.GetValue(id)!;
            // The id ends in a stamp without '-', which tells sink "export" from sink "export-eu".
            var store = stores.FirstOrDefault(s => batchId.StartsWith(s.Pipeline + "-" + s.Sink + "-", StringComparison.Ordinal)
                && !batchId.AsSpan((s.Pipeline + "-" + s.Sink + "-").Length).Contains('-'));
            if (store is null)
            {
                return await ExpectedFailure.UsageAsync(parse, $"batch resend: '{batchId}' belongs to none of the batch sinks ({string.Join(", ", stores.Select(s => s.Sink))}); ids start with <pipeline>-<sink>-").ConfigureAwait(false);
            }

            var manifest = await store.ResendAsync(batchId, cancellationToken).ConfigureAwait(false);
            await parse.InvocationConfiguration.Output.WriteLineAsync(FormattableString.Invariant($"re-sent {manifest.BatchId} ({manifest.Count} event(s), sha256 {manifest.Sha256}) to {store.Target.Description}")).ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Close()
    {
        var config = ConfigOption();
        var sink = SinkOption();
        var command = new Command("close", "Close every spooled interval that has ended and upload it (what the running sink does on its own).") { config, sink };
        command.SetAction(async (parse, cancellationToken) => await WithStoresAsync(parse, parse.GetValue(config)!, parse.GetValue(sink), async stores =>
        {
            // Every spool first: a running sink closes its own intervals, and two closers of one spool would build and upload
            // the same batch at once over the same temporary files.
            foreach (var store in stores)
            {
                try
                {
                    store.LockSpool();
                }
                catch (Core.Sinks.StateDirectoryInUseException e)
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync(
                        $"batch close: sink '{store.Sink}': spool directory {e.Directory} is held by another process ({e.Holder}); "
                            + "a running sink closes its ended intervals itself, so nothing was closed: use 'batch close' only while that process is stopped").ConfigureAwait(false);
                    return 1;
                }
            }

            foreach (var store in stores)
            {
                foreach (var m in await store.CloseDueAsync(DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false))
                {
                    await parse.InvocationConfiguration.Output.WriteLineAsync(FormattableString.Invariant($"closed {m.BatchId} ({m.Count} event(s)) to {store.Target.Description}")).ConfigureAwait(false);
                }
            }

            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static async Task<int> WithStoresAsync(ParseResult parse, FileInfo configFile, string? sinkName, Func<IReadOnlyList<BatchStore>, Task<int>> action)
    {
        var error = parse.InvocationConfiguration.Error;
        var stores = new List<BatchStore>();
        try
        {
            var configuration = PipelineConfiguration.Load(configFile.FullName);
            using var services = new ServiceCollection().AddCdcCore().BuildServiceProvider();
            var factory = new BatchSinkFactory();
            var batchSinks = configuration.Root.GetSection("sinks").GetChildren()
                .Where(section => section.GetSection(BatchSinkFactory.SinkKind).Exists())
                .Select(section => (Name: section["name"] ?? "", Context: new PipelineComponentContext(section["name"] ?? "", section.GetSection(BatchSinkFactory.SinkKind), configuration.Options, configuration.Locations, configuration.BaseDirectory, services)))
                .ToList();

            // As the pipeline does at start: 'close' on a spool two sinks share would put one's events into the other's batch.
            ExclusiveDirectory.Check(batchSinks.Select(s => (s.Name, (ISinkFactory)factory, s.Context)), configuration.Locations);
            foreach (var (name, context) in batchSinks)
            {
                if (sinkName is null || string.Equals(name, sinkName, StringComparison.Ordinal))
                {
                    stores.Add(BatchSinkFactory.CreateStore(context));
                }
            }

            if (stores.Count == 0 && sinkName is not null && batchSinks.Count > 0)
            {
                // The file has batch sinks, none of them the one --sink names: the command line is what to correct.
                return await ExpectedFailure.UsageAsync(parse, $"batch: --sink '{sinkName}': {configFile.FullName} has no batch sink of that name; its batch sinks: {string.Join(", ", batchSinks.Select(s => s.Name))}").ConfigureAwait(false);
            }

            if (stores.Count == 0)
            {
                await error.WriteLineAsync($"batch: {configFile.FullName} has no batch sink{(sinkName is null ? "" : $" named '{sinkName}'")}; add one: sinks: [{{ name: export, batch: {{ interval: 01:00:00, target: {{ directory: out/batch/outgoing }} }} }}]").ConfigureAwait(false);
                return 2;
            }

            return await action(stores).ConfigureAwait(false);
        }
        catch (ConfigurationException e)
        {
            await error.WriteLineAsync($"batch: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"batch: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
