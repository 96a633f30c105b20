using CdcPipeline.Core.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CdcPipeline.Sinks.Batch;

public static class BatchServiceCollectionExtensions
{
    /// <summary>The <c>batch</c> sink kind.</summary>
    public static IServiceCollection AddCdcBatch(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, BatchSinkFactory>());
        return services;
    }
}
