using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.ExactlyOnce;
using CdcPipeline.Kafka.SchemaRegistry;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Kafka.Sink;

/// <summary><c>kafka: { bootstrapServers: …, topic: "domain.{type}", format: json|avro, producer: {…} }</c></summary>
public sealed class KafkaSinkFactory : ISinkFactory
{
    public string Kind => "kafka";

    /// <summary>Everything <see cref="Create"/> refuses, the schema registry's client settings included.</summary>
    public void Validate(PipelineComponentContext context)
    {
        var (options, _, _, avro, _, registrySettings) = Checked(context);
        if (avro && context.Services.GetService<ISchemaRegistryClient>() is null)
        {
            // Its settings are checked as the client is made; it connects only when asked for a schema.
            SchemaRegistrySettings.CreateClient(context, options.SchemaRegistryUrl, registrySettings, options.Producer, "producer").Dispose();
        }
    }

    public ISink Create(PipelineComponentContext context)
    {
        var (options, template, config, avro, serializer, registrySettings) = Checked(context);
        var registry = avro
            ? context.Services.GetService<ISchemaRegistryClient>()
                ?? SchemaRegistrySettings.CreateClient(context, options.SchemaRegistryUrl, registrySettings, options.Producer, "producer")
            : null;
        return new KafkaSink(
            context.Name,
            config,
            template,
            avro,
            registry,
            context.Services.GetService<KafkaTransactionCoordinator>(),
            options.TransactionalId ?? $"{context.Pipeline.Name}-{context.Name}",
            options.DeliveryTimeout,
            context.Services.GetService<ILoggerFactory>()?.CreateLogger<KafkaSink>(),
            serializer);
    }

    /// <summary>
    /// The checks of the section that need nothing built or connected, and what they made: the topic template, the producer
    /// settings and, for Avro, the serializer's and the registry client's settings.
    /// </summary>
    private static (KafkaSinkOptions Options, TopicTemplate Template, ProducerConfig Config, bool Avro, AvroSerializerConfig? Serializer, Dictionary<string, string>? RegistrySettings) Checked(
        PipelineComponentContext context)
    {
        var options = context.Bind<KafkaSinkOptions>();
        TopicTemplate template;
        try
        {
            template = new TopicTemplate(options.Topic, context.Pipeline.Name);
        }
        catch (ArgumentException e)
        {
            throw context.Error("topic", e.Message);
        }

        var avro = string.Equals(options.Format, "avro", StringComparison.OrdinalIgnoreCase);
        AvroSerializerConfig? serializer = null;
        Dictionary<string, string>? registrySettings = null;
        if (avro)
        {
            (serializer, registrySettings) = SchemaRegistrySettings.SplitSerializerSettings(context, options.SchemaRegistry);
        }

        var config = BuildProducerConfig(options, context.Pipeline.Name, context.Name);
        KafkaClientSettings.Validate(config, options.Producer, context, "producer");
        return (options, template, config, avro, serializer, registrySettings);
    }

    public static ProducerConfig BuildProducerConfig(KafkaSinkOptions options, string pipelineName, string sinkName)
    {
        var config = new ProducerConfig
        {
            // The same servers as the producer settings (they win): exactly-once pairs this sink with the source by this value.
            BootstrapServers = KafkaClientSettings.ServersOf(options.BootstrapServers, options.Producer, "producer").Servers,
            ClientId = $"{pipelineName}-{sinkName}",
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            MessageTimeoutMs = (int)Math.Min(int.MaxValue, options.DeliveryTimeout.TotalMilliseconds),
            // The sink reads only a delivery report's error: by default Confluent.Kafka copies every produced
            // message's key, value and headers back into managed memory for its report.
            DeliveryReportFields = "status",
        };
        KafkaClientSettings.Apply(config, options.Producer);
        return config;
    }
}
