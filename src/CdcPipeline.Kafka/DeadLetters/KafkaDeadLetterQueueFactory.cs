using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Kafka.DeadLetters;

/// <summary>
/// <c>deadLetter.topic</c>: dead letters go to that topic on the Kafka source's cluster (with the
/// source's security settings), or — with a non-Kafka source — on the first Kafka sink's cluster.
/// </summary>
public sealed class KafkaDeadLetterQueueFactory : IDeadLetterQueueFactory
{
    public IDeadLetterQueue Create(PipelineConfiguration configuration, IServiceProvider services)
    {
        var topic = configuration.Options.DeadLetter.Topic
            ?? throw new ConfigurationException("deadLetter:topic", "no dead-letter topic configured", configuration.Locations);
        var config = ClusterFor(configuration.Root)
            ?? throw new ConfigurationException("deadLetter:topic", "a dead-letter topic needs a Kafka cluster: configure source.kafka or a kafka sink (their bootstrapServers are used)", configuration.Locations);
        return new KafkaDeadLetterQueue(config, topic, services.GetService<ILoggerFactory>()?.CreateLogger<KafkaDeadLetterQueue>());
    }

    /// <summary>Producer settings for the pipeline's Kafka cluster: bootstrap servers and the client security settings (ssl.*, sasl.*, security.protocol).</summary>
    public static ProducerConfig? ClusterFor(IConfiguration root)
    {
        var section = root.GetSection("source:kafka");
        var clientSettings = "consumer";
        if (string.IsNullOrEmpty(section["bootstrapServers"]))
        {
            section = root.GetSection("sinks").GetChildren().Select(s => s.GetSection("kafka")).FirstOrDefault(s => !string.IsNullOrEmpty(s["bootstrapServers"]))!;
            clientSettings = "producer";
            if (section is null)
            {
                return null;
            }
        }

        var config = new ProducerConfig { BootstrapServers = section["bootstrapServers"] };
        foreach (var setting in section.GetSection(clientSettings).GetChildren())
        {
            if (IsClientSetting(setting.Key) && setting.Value is not null)
            {
                config.Set(setting.Key, setting.Value);
            }
        }

        return config;
    }

    private static bool IsClientSetting(string key) =>
        key.StartsWith("ssl.", StringComparison.OrdinalIgnoreCase)
        || key.StartsWith("sasl.", StringComparison.OrdinalIgnoreCase)
        || key.Equals("security.protocol", StringComparison.OrdinalIgnoreCase)
        || key.Equals("client.dns.lookup", StringComparison.OrdinalIgnoreCase)
        || key.Equals("broker.address.family", StringComparison.OrdinalIgnoreCase);
}
