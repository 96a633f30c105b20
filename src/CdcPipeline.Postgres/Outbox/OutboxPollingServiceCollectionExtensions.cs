using CdcPipeline.Core.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CdcPipeline.Postgres.Outbox;

public static class OutboxPollingServiceCollectionExtensions
{
    /// <summary>The <c>outboxPolling</c> source kind.</summary>
    public static IServiceCollection AddCdcOutboxPolling(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISourceFactory, OutboxPollingSourceFactory>());
        return services;
    }
}
