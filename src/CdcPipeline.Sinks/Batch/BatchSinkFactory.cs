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

    public ISink Create(PipelineComponentContext context) =>
        new BatchSink(
            context.Name,
            CreateStore(context),
            context.Bind<BatchSinkOptions>().CloseCheck,
            context.Services.GetService<TimeProvider>(),
            context.Services.GetService<ILogger<BatchSink>>());

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
    public static BatchStore CreateStore(PipelineComponentContext context)
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

        try
        {
            return new BatchStore(
                context.Pipeline.Name,
                context.Name,
                options.Interval,
                context.ResolvePath(options.Spool),
                context.ResolvePath(options.Archive),
                new DirectoryBatchTarget(context.ResolvePath(options.Target.Directory)));
        }
        catch (ArgumentException e)
        {
            throw context.Error("interval", e.Message);
        }
    }
}
