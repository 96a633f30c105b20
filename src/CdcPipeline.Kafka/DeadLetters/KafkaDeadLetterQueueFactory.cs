using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Kafka.DeadLetters;

/// <summary>
/// <c>deadLetter.topic</c>: dead letters go to that topic on the cluster the Kafka source's consumer reads (with the
/// source's security settings), or — with a non-Kafka source — on the first Kafka sink's cluster.
/// </summary>
public sealed class KafkaDeadLetterQueueFactory : IDeadLetterQueueFactory
{
    public void Validate(PipelineConfiguration configuration) => _ = Checked(configuration);

    public IDeadLetterQueue Create(PipelineConfiguration configuration, IServiceProvider services)
    {
        var topic = Checked(configuration);
        var config = ClusterFor(configuration.Root)!;
        return new KafkaDeadLetterQueue(
            config, topic, services.GetService<ILoggerFactory>()?.CreateLogger<KafkaDeadLetterQueue>(), configuration.Options.DeadLetter.DeliveryTimeout);
    }

    /// <summary>What <see cref="Create"/> refuses; the topic.</summary>
    private static string Checked(PipelineConfiguration configuration)
    {
        var topic = configuration.Options.DeadLetter.Topic
            ?? throw new ConfigurationException("deadLetter:topic", "no dead-letter topic configured", configuration.Locations);
        // Otherwise the first dead letter would fail (and stop run) with Kafka's "Broker: Invalid topic".
        if (KafkaTopics.NameProblem(topic) is { } problem)
        {
            throw new ConfigurationException("deadLetter:topic", problem, configuration.Locations);
        }

        if (Cluster(configuration.Root) is not var (section, clientSettings))
        {
            throw new ConfigurationException("deadLetter:topic", "a dead-letter topic needs a Kafka cluster: configure source.kafka or a kafka sink (their bootstrapServers are used)", configuration.Locations);
        }

        // Checked here as well as by the source and sink: this queue's producer starts connecting at once, before the source is built.
        var (servers, key) = KafkaClientSettings.ServersOf(section, clientSettings);
        if (KafkaClientSettings.CredentialsIn(servers, $"under {section.Path.Replace(':', '.')}.{clientSettings}:") is { } credentials)
        {
            throw new ConfigurationException($"{section.Path}:{key}", credentials, configuration.Locations);
        }

        return topic;
    }

    /// <summary>
    /// Producer settings for the pipeline's Kafka cluster: the servers the source's consumer (or the sink's producer) connects to,
    /// <c>bootstrap.servers</c> under its <c>consumer:</c> / <c>producer:</c> winning over <c>bootstrapServers</c> as it does there,
    /// and the client security settings (ssl.*, sasl.*, security.protocol).
    /// </summary>
    public static ProducerConfig? ClusterFor(IConfiguration root)
    {
        if (Cluster(root) is not var (section, clientSettings))
        {
            return null;
        }

        var config = new ProducerConfig { BootstrapServers = KafkaClientSettings.ServersOf(section, clientSettings).Servers };
        foreach (var setting in section.GetSection(clientSettings).GetChildren())
        {
            if (IsClientSetting(setting.Key) && setting.Value is not null)
            {
                config.Set(setting.Key, setting.Value);
            }
        }

        return config;
    }

    /// <summary>The section naming the pipeline's Kafka cluster (source.kafka, else the first kafka sink) and the name of its client settings map.</summary>
    public static (IConfigurationSection Section, string ClientSettings)? Cluster(IConfiguration root)
    {
        var source = root.GetSection("source:kafka");
        if (!string.IsNullOrEmpty(source["bootstrapServers"]))
        {
            return (source, "consumer");
        }

        var sink = root.GetSection("sinks").GetChildren().Select(s => s.GetSection("kafka")).FirstOrDefault(s => !string.IsNullOrEmpty(s["bootstrapServers"]));
        return sink is null ? null : (sink, "producer");
    }

    private static bool IsClientSetting(string key) =>
        key.StartsWith("ssl.", StringComparison.OrdinalIgnoreCase)
        || key.StartsWith("sasl.", StringComparison.OrdinalIgnoreCase)
        || key.Equals("security.protocol", StringComparison.OrdinalIgnoreCase)
        || key.Equals("client.dns.lookup", StringComparison.OrdinalIgnoreCase)
        || key.Equals("broker.address.family", StringComparison.OrdinalIgnoreCase);
}
