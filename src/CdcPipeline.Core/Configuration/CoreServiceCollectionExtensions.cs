using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CdcPipeline.Core.Configuration;

public static class CoreServiceCollectionExtensions
{
    /// <summary>The core's sink kinds (file, console), metrics and time.</summary>
    public static IServiceCollection AddCdcCore(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, FileSinkFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, ConsoleSinkFactory>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<PipelineMetrics>();
        return services;
    }
}
