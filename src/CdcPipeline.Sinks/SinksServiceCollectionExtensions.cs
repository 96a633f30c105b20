using Microsoft.Extensions.Configuration;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Sinks.Failures;
using CdcPipeline.Sinks.Postgres;
using CdcPipeline.Sinks.RabbitMq;
using CdcPipeline.Sinks.Redis;
using CdcPipeline.Sinks.Webhook;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Sinks;

public static class SinksServiceCollectionExtensions
{
    /// <summary>The sink kinds of this project: webhook, rabbitmq, redis, postgres (file and console are the core's).</summary>
    public static IServiceCollection AddCdcSinks(this IServiceCollection services)
    {
        // A webhook sink never follows a redirect: HttpClient would re-send a POST answered 301/302 as a GET without
        // its body (and drop the Authorization header), and that GET's 200 would count as the event delivered.
        services.AddHttpClient(WebhookSinkFactory.HttpClientName).ConfigurePrimaryHttpMessageHandler(static (handler, _) =>
        {
            switch (handler)
            {
                case SocketsHttpHandler sockets:
                    sockets.AllowAutoRedirect = false;
                    break;
                case HttpClientHandler client:
                    client.AllowAutoRedirect = false;
                    break;
            }
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, WebhookSinkFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, RabbitMqSinkFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, RedisSinkFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, PostgresSinkFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IExpectedDeliveryFailures, SinkClientFailures>());
        return services;
    }

    /// <summary>
    /// Registers the <see cref="IFailureStore"/> for <c>onFailure: log</c> when the configuration has a
    /// top-level <c>failures:</c> section (validated now, connected on first use). Without it, a
    /// <c>log</c> sink's failures go to the dead letters instead.
    /// </summary>
    public static IServiceCollection AddCdcFailureStore(this IServiceCollection services, PipelineConfiguration configuration)
    {
        if (TryCreateFailureStore(configuration) is { } store)
        {
            // Registered through factories so the container disposes the store (its connection pool).
            services.TryAddSingleton(sp =>
            {
                store.Logger = sp.GetService<ILogger<PostgresFailureStore>>() ?? store.Logger;
                return store;
            });
            services.TryAddSingleton<IFailureStore>(sp => sp.GetRequiredService<PostgresFailureStore>());
        }

        return services;
    }

    /// <summary>The failure store the configuration names, or null when it has no <c>failures:</c> section.</summary>
    public static PostgresFailureStore? TryCreateFailureStore(PipelineConfiguration configuration)
    {
        var section = configuration.Root.GetSection(FailureStoreOptions.SectionName);
        if (!section.Exists())
        {
            return null;
        }

        var options = ConfigBinding.Bind<FailureStoreOptions>(section, configuration.Locations);
        if (!PgNames.TryParseQualified(options.Table, out _, out _, out var tableError))
        {
            throw new ConfigurationException(FailureStoreOptions.SectionName + ":table", tableError!, configuration.Locations);
        }

        try
        {
            // Npgsql parses the string here, and building the store's data source checks it (a host is required).
            return new PostgresFailureStore(options, configuration.Options.Name, configuration.Locations.Describe(FailureStoreOptions.SectionName + ":table"));
        }
        catch (ArgumentException e)
        {
            // As the source and the postgres sink say it: Npgsql's message names the keyword, never the password.
            throw new ConfigurationException(
                FailureStoreOptions.SectionName + ":connectionString", $"not a valid Npgsql connection string: {e.Message}", configuration.Locations);
        }
    }
}
