using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka;
using CdcPipeline.Postgres.Configuration;
using CdcPipeline.Sinks.Batch;
using CdcPipeline.Sinks;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Hosting;

/// <summary>
/// The one registration both the worker and the operations commands use, so a command sees exactly
/// the sources, sinks and translators the pipeline would.
/// </summary>
internal static class PipelineServices
{
    public static IServiceCollection AddCdcPipeline(this IServiceCollection services)
    {
        services.AddCdcCore();
        services.AddCdcPostgres();
        services.AddCdcBatch();
        services.AddCdcSinks();
        services.AddCdcKafka();
        services.AddSingleton<ITranslatorProvider, RulesTranslatorProvider>();
        return services;
    }
}
