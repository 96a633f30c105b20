using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Postgres.Outbox;

/// <summary><c>source: { outboxPolling: { connectionString, table, interval, batchSize } }</c></summary>
public sealed class OutboxPollingSourceFactory : ISourceFactory
{
    public const string SourceKind = "outboxPolling";

    public string Kind => SourceKind;

    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public IChangeSource Create(PipelineComponentContext context)
    {
        var options = Checked(context);
        return new OutboxPollingSource(
            context.Pipeline.Name,
            options,
            context.Services.GetService<ILogger<OutboxPollingSource>>(),
            context.Services.GetService<TimeProvider>());
    }

    private static OutboxPollingOptions Checked(PipelineComponentContext context)
    {
        var options = context.Bind<OutboxPollingOptions>();
        if (options.Interval <= TimeSpan.Zero)
        {
            throw context.Error("interval", "must be positive (e.g. 00:00:01)");
        }

        return options;
    }
}
