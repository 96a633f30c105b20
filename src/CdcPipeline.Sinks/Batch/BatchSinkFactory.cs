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
