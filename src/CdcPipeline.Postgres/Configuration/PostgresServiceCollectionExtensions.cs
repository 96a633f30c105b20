using CdcPipeline.Core.Configuration;
using CdcPipeline.Postgres.Outbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CdcPipeline.Postgres.Configuration;

public static class PostgresServiceCollectionExtensions
{
    /// <summary>The PostgreSQL source kinds: <c>postgres</c> (embedded pgoutput capture) and <c>outboxPolling</c>.</summary>
    public static IServiceCollection AddCdcPostgres(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISourceFactory, PostgresSourceFactory>());
        services.AddCdcOutboxPolling();
        return services;
    }
}
