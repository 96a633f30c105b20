using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Sinks.Batch;

/// <summary>The <c>batch</c> sink kind.</summary>
public sealed class BatchSinkFactory : ISinkFactory
{
    public const string SinkKind = "batch";

    public string Kind => SinkKind;

    /// <summary>What <see cref="Create"/> refuses, with nothing taken: building the sink takes (and creates) its spool.</summary>
    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public ISink Create(PipelineComponentContext context)
    {
        var options = Checked(context);
        return new BatchSink(
            context.Name,
            Store(context, options),
            options.CloseCheck,
            context.Services.GetService<TimeProvider>(),
            context.Services.GetService<ILogger<BatchSink>>());
    }

    /// <summary>
    /// The spool: its files are named by interval start only, so two sinks spooling into one directory would append to
    /// the same files and close (and delete) each other's. The archive may be shared: batch ids differ by sink name.
    /// </summary>
    public IEnumerable<ExclusiveDirectory> ExclusiveDirectories(PipelineComponentContext context) =>
    [
        new(
            "spool",
            context.ResolvePath(context.Bind<BatchSinkOptions>().Spool),
            context.Section["spool"] is not null,
            "spool directory",
            "two batch sinks in one spool directory append to the same interval files, so each batch gets the other sink's events, "
                + $"and the first sink to close an interval deletes the other's spool. Give each sink its own spool directory, e.g. spool: out/batch/{context.Name}/spool"),
    ];

    /// <summary>The sink's store alone (no close loop): what <c>batch resend</c> and <c>batch list</c> use.</summary>
    public static BatchStore CreateStore(PipelineComponentContext context) => Store(context, Checked(context));

    /// <summary>What <see cref="Create"/> and <see cref="CreateStore"/> refuse; the options.</summary>
    private static BatchSinkOptions Checked(PipelineComponentContext context)
    {
        var options = context.Bind<BatchSinkOptions>();
        if (options.CloseCheck <= TimeSpan.Zero)
        {
            throw context.Error("closeCheck", "must be positive (e.g. 00:00:10)");
        }

        if (string.IsNullOrWhiteSpace(options.Target?.Directory))
        {
            throw context.Error("target:directory", "a batch sink needs a target directory, e.g. target: { directory: out/batch/outgoing }");
        }

        if (BatchStore.IntervalProblem(options.Interval) is { } problem)
        {
            throw context.Error("interval", problem);
        }

        return options;
    }

    private static BatchStore Store(PipelineComponentContext context, BatchSinkOptions options) =>
        new(
            context.Pipeline.Name,
            context.Name,
            options.Interval,
            context.ResolvePath(options.Spool),
            context.ResolvePath(options.Archive),
            new DirectoryBatchTarget(context.ResolvePath(options.Target!.Directory)));
}
