using System.CommandLine;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.DeadLetters;
using Confluent.Kafka;

namespace CdcPipeline.Commands;

/// <summary>
/// The cluster options the Kafka operator commands (<c>replay</c>, <c>dlq</c>) share: <c>--config</c>, the pipeline
/// YAML, whose Kafka cluster comes with its security settings (<c>security.protocol</c>, <c>sasl.*</c>, <c>ssl.*</c>
/// under <c>source.kafka.consumer</c>, or the first Kafka sink's <c>producer</c>), the same cluster the
/// pipeline's dead letters go to; or <c>--bootstrap-servers</c>, which overrides the file's servers.
/// </summary>
internal sealed class KafkaTarget
{
    /// <summary>Exit code when the options do not say which cluster (or group, or topic).</summary>
    public const int Unusable = 2;

    public Option<FileInfo?> Config { get; } = new("--config") { Description = "pipeline configuration (YAML): the Kafka cluster with its security settings, source.kafka.groupId, deadLetter.topic" };

    public Option<string?> Servers { get; } = new("--bootstrap-servers") { Description = "Kafka bootstrap servers host:port,… (overrides the configuration's)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Config);
        command.Options.Add(Servers);
    }

    /// <summary>Resolves the cluster; null (after writing why to <paramref name="error"/>) when the options do not name one.</summary>
    /// <param name="withoutCluster">
    /// What to say instead when <c>--config</c> names no Kafka cluster, if the command knows better than "give
    /// --bootstrap-servers" (null: the general message).
    /// </param>
    public Resolved? Resolve(ParseResult parse, TextWriter error, Func<PipelineConfiguration, string?>? withoutCluster = null)
    {
        PipelineConfiguration? pipeline = null;
        (Microsoft.Extensions.Configuration.IConfigurationSection Section, string ClientSettings)? named = null;
        var cluster = new ClientConfig();
        if (parse.GetValue(Config) is { } file)
        {
            pipeline = ConfigFile.TryLoad(file, error);
            if (pipeline is null)
            {
                return null;
            }

            named = KafkaDeadLetterQueueFactory.Cluster(pipeline.Root);
            if (KafkaDeadLetterQueueFactory.ClusterFor(pipeline.Root) is { } configured)
            {
                cluster = new ClientConfig(configured.ToDictionary(kv => kv.Key, kv => kv.Value));
            }
        }

        if (parse.GetValue(Servers) is { } servers)
        {
            cluster.BootstrapServers = servers;
        }

        if (string.IsNullOrWhiteSpace(cluster.BootstrapServers))
        {
            error.WriteLine(pipeline is null
                ? "which Kafka cluster? give --bootstrap-servers host:port or --config FILE (the pipeline's source.kafka or kafka sink)"
                : withoutCluster?.Invoke(pipeline)
                    ?? $"{pipeline.FilePath} names no Kafka cluster (neither source.kafka.bootstrapServers nor a kafka sink's); give --bootstrap-servers");
            return null;
        }

        if (KafkaClientSettings.CredentialsIn(cluster.BootstrapServers, "in the pipeline configuration given with --config (under source.kafka.consumer, or the kafka sink's producer)") is { } credentials)
        {
            error.WriteLine(parse.GetValue(Servers) is not null || pipeline is null
                ? $"--bootstrap-servers: {credentials}"
                : new ConfigurationException($"{named!.Value.Section.Path}:{KafkaClientSettings.ServersOf(named.Value.Section, named.Value.ClientSettings).Key}", credentials, pipeline.Locations).Message);
            return null;
        }

        // run refuses such a setting at start-up; a command would otherwise die on it with librdkafka's exception and a stack trace.
        var settings = named is var (namedSection, namedSettings) ? KafkaClientSettings.Settings(namedSection.GetSection(namedSettings)) : null;
        if (KafkaClientSettings.Refusal(cluster, settings) is var (key, reason))
        {
            const string See = "see librdkafka's CONFIGURATION.md";
            error.WriteLine(named is var (section, clientSettings)
                ? new ConfigurationException(key is null ? $"{section.Path}:{clientSettings}" : $"{section.Path}:{clientSettings}:{key}", $"{reason} ({See})", pipeline!.Locations).Message
                : $"--bootstrap-servers: {reason} ({See})");
            return null;
        }

        return new Resolved(cluster, pipeline);
    }

    /// <param name="Cluster">Bootstrap servers and client security settings, for every client the command makes.</param>
    /// <param name="Pipeline">The pipeline configuration, when <c>--config</c> was given.</param>
    internal sealed record Resolved(ClientConfig Cluster, PipelineConfiguration? Pipeline)
    {
        public string Servers => Cluster.BootstrapServers;
    }
}
