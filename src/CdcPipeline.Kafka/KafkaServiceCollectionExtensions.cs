using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.ExactlyOnce;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CdcPipeline.Kafka;

public static class KafkaServiceCollectionExtensions
{
    /// <summary>The Kafka project's plug-ins: <c>source.kafka</c>, <c>sinks[].kafka</c>, <c>deadLetter.topic</c>, exactly-once coordination.</summary>
    public static IServiceCollection AddCdcKafka(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISourceFactory, KafkaSourceFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISinkFactory, KafkaSinkFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IExpectedDeliveryFailures, KafkaClientFailures>());
        services.TryAddSingleton<IDeadLetterQueueFactory, KafkaDeadLetterQueueFactory>();
        services.TryAddSingleton<KafkaTransactionCoordinator>();
        return services;
    }
}
