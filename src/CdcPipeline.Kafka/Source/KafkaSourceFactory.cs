using System.Text.RegularExpressions;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.ExactlyOnce;
using CdcPipeline.Kafka.SchemaRegistry;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Kafka.Source;

/// <summary>
/// <c>source.kafka:</c> — see <see cref="KafkaSourceOptions"/>. Records that cannot be decoded go to
/// <c>deadLetter.topic</c> on the same cluster when it is set, else to a JSON-lines file next to
/// <c>deadLetter.path</c> (<c>….decode.jsonl</c>: the runner's own dead-letter file stays its own).
/// </summary>
public sealed class KafkaSourceFactory : ISourceFactory
{
    public string Kind => "kafka";

    /// <summary>Everything <see cref="Create"/> refuses, its own output and exactly-once without a Kafka sink included.</summary>
    public void Validate(PipelineComponentContext context)
    {
        var (options, _, _, _) = Checked(context);
        if (!IsJson(options) && context.Services.GetService<ISchemaRegistryClient>() is null)
        {
            // Its settings are checked as the client is made; it connects only when asked for a schema.
            SchemaRegistrySettings.CreateClient(context, options.SchemaRegistryUrl, options.SchemaRegistry, options.Consumer, "consumer").Dispose();
        }
    }

    public IChangeSource Create(PipelineComponentContext context)
    {
        var (options, config, subscription, decoding) = Checked(context);
        var loggers = context.Services.GetService<ILoggerFactory>();
        var logger = loggers?.CreateLogger<KafkaChangeSource>();
        // the rules against each table's column types, as its records' schemas give them (event 1117, the embedded capture's start check)
        var ruleCheck = context.RuleFiles.Count > 0 && logger is not null ? new ConnectSchemaRuleCheck(context.RuleFiles, logger) : null;
        var decoder = CreateDecoder(options, decoding, context, ruleCheck);
        var deadLetters = CreateDeadLetters(context);
        KafkaTransactionCoordinator? coordinator = null;
        if (options.ExactlyOnce)
        {
            coordinator = context.Services.GetRequiredService<KafkaTransactionCoordinator>();
            coordinator.DeclareExactlyOnce(config.BootstrapServers);
        }

        return new KafkaChangeSource(
            config,
            subscription,
            decoder,
            deadLetters,
            options.BufferCapacity,
            options.RevokeTimeout,
            logger,
            coordinator,
            options.PauseAfter);
    }

    /// <summary>
    /// The decoder <see cref="Create"/> gives the source (<c>format</c>, the <c>debezium:</c> settings, the Schema Registry for
    /// Avro), after the same checks: <c>dlq redrive</c> decodes a <c>translate</c> letter's record with it, as <c>run</c> did.
    /// Nothing connects until a record needs a schema.
    /// </summary>
    /// <exception cref="ConfigurationException">What <c>run</c> would refuse at start-up.</exception>
    public IKafkaRecordDecoder CreateDecoder(PipelineComponentContext context)
    {
        var (options, _, _, decoding) = Checked(context);
        return CreateDecoder(options, decoding, context);
    }

    /// <summary>The checks of the configuration that need nothing built or connected, and what they checked.</summary>
    private static (KafkaSourceOptions Options, ConsumerConfig Config, IReadOnlyList<string> Subscription, DebeziumDecoderOptions? Decoding) Checked(PipelineComponentContext context)
    {
        var options = context.Bind<KafkaSourceOptions>();
        if (options.Topics is { Count: > 0 } && !string.IsNullOrEmpty(options.TopicPattern))
        {
            throw context.Error("topicPattern", "give either topics or topicPattern, not both");
        }

        if (!string.IsNullOrEmpty(options.TopicPattern))
        {
            try
            {
                _ = new Regex(options.TopicPattern, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw context.Error("topicPattern", $"not a valid regular expression: {e.Message}");
            }

            if (TopicPatternCheck.Problem(options.TopicPattern) is { } problem)
            {
                throw context.Error("topicPattern", problem);
            }
        }

        // librdkafka takes a listed topic that starts with '^' as a pattern too.
        for (var i = 0; i < (options.Topics?.Count ?? 0); i++)
        {
            if (options.Topics![i].StartsWith('^') && TopicPatternCheck.Problem(options.Topics[i]) is { } problem)
            {
                throw context.Error($"topics:{i}", problem);
            }

            // A name Kafka refuses is subscribed to all the same, and the source would wait for it for ever.
            if (!options.Topics[i].StartsWith('^') && KafkaTopics.NameProblem(options.Topics[i]) is { } refused)
            {
                throw context.Error($"topics:{i}", refused);
            }
        }

        if (options.Debezium is not null)
        {
            ConfigBinding.Validate(options.Debezium, context.Section.GetSection("debezium").Path, context.Locations);

            // The list is what the connector captures. Debezium matches it in any case, so an entry with capitals may stand
            // for a table stored in lower case; an entry all in lower case is the table as stored, and a rule file must name it so.
            context.RequireRuleTablesIn(
                "debezium:tables",
                options.Debezium.QualifiedTables().ToList(),
                static (listed, table) => string.Equals(listed, table, StringComparison.Ordinal)
                    || (listed.AsSpan().ContainsAnyInRange('A', 'Z') && string.Equals(listed, table, StringComparison.OrdinalIgnoreCase)),
                " (then 'connector apply' again)");
        }

        var subscription = options.Subscription();
        if (subscription.Count == 0)
        {
            throw context.Error("topics", "no topics: list topics, give a topicPattern (e.g. '^legacy\\.public\\..*'), or describe the connector under debezium:");
        }

        var config = BuildConsumerConfig(options, context.Pipeline.Name);
        KafkaClientSettings.Validate(config, options.Consumer, context, "consumer");
        OwnOutputCheck.Check(context, options, config.BootstrapServers, subscription);
        if (options.ExactlyOnce)
        {
            RequireTransactionalSink(context, options, config.BootstrapServers);
        }

        DebeziumDecoderOptions? decoding;
        try
        {
            decoding = options.Debezium?.DecoderOptions();
        }
        catch (ArgumentException e)
        {
            throw context.Error("debezium:extra:binary.handling.mode", e.Message);
        }

        return (options, config, subscription, decoding);
    }

    public static ConsumerConfig BuildConsumerConfig(KafkaSourceOptions options, string pipelineName)
    {
        var config = new ConsumerConfig
        {
            // The same servers as the consumer settings (they win): the dead letters and exactly-once go by this value.
            BootstrapServers = KafkaClientSettings.ServersOf(options.BootstrapServers, options.Consumer, "consumer").Servers,
            GroupId = options.JoinedGroupId(pipelineName),
            ClientId = pipelineName + "-source",
            AutoOffsetReset = Enum.Parse<AutoOffsetReset>(options.AutoOffsetReset, ignoreCase: true),
            EnableAutoCommit = true,
            EnableAutoOffsetStore = false,

            // Debezium writes transaction metadata and an exactly-once upstream may write transactionally.
            IsolationLevel = IsolationLevel.ReadCommitted,
        };
        KafkaClientSettings.Apply(config, options.Consumer);
        return config;
    }

    /// <summary>
    /// Exactly-once needs a Kafka sink on the cluster the consumer reads: only its transactions can carry the group's offsets.
    /// Without one the source would run at-least-once while the configuration says otherwise, so start-up stops instead.
    /// </summary>
    private static void RequireTransactionalSink(PipelineComponentContext context, KafkaSourceOptions options, string consumerServers)
    {
        if (context.Configuration?.Root is not { } root)
        {
            return;
        }

        var sinks = root.GetSection("sinks").GetChildren()
            .Where(s => s.GetSection("kafka").Exists())
            .Select(s => (Name: s["name"], Servers: KafkaClientSettings.ServersOf(s.GetSection("kafka"), "producer").Servers))
            .ToList();
        if (sinks.Any(s => KafkaCluster.Same(s.Servers, consumerServers)))
        {
            return;
        }

        var read = KafkaClientSettings.ServersOf(options.BootstrapServers, options.Consumer, "consumer").Key is var key && key != "bootstrapServers"
            ? $"{consumerServers}, as {key.Replace(':', '.')} says"
            : consumerServers;
        var found = sinks.Count == 0
            ? "this pipeline has no kafka sink"
            : "no kafka sink writes there (" + string.Join(", ", sinks.Select(s => $"sink '{s.Name}' on {s.Servers}")) + ")";
        throw context.Error(
            "exactlyOnce",
            $"exactly-once needs a kafka sink on the cluster the source reads ({read}) to commit the group's offsets in its transactions, but {found}. "
                + "Point that sink at the source's cluster (its bootstrapServers, or bootstrap.servers under its producer:, which wins), or remove exactlyOnce");
    }

    private static bool IsJson(KafkaSourceOptions options) => string.Equals(options.Format, "json", StringComparison.OrdinalIgnoreCase);

    private static IKafkaRecordDecoder CreateDecoder(
        KafkaSourceOptions options, DebeziumDecoderOptions? decoding, PipelineComponentContext context, ConnectSchemaRuleCheck? ruleCheck = null)
    {
        if (IsJson(options))
        {
            return new JsonRecordDecoder(decoding, ruleCheck);
        }

        var registry = context.Services.GetService<ISchemaRegistryClient>()
            ?? SchemaRegistrySettings.CreateClient(context, options.SchemaRegistryUrl, options.SchemaRegistry, options.Consumer, "consumer");

        return new AvroRecordDecoder(registry, decoding, ruleCheck);
    }

    private static IDeadLetterQueue CreateDeadLetters(PipelineComponentContext context)
    {
        var deadLetter = context.Pipeline.DeadLetter;
        if (!string.IsNullOrEmpty(deadLetter.Topic))
        {
            // The pipeline's own queue writes to that topic on this cluster, with the source's security settings.
            return context.DeadLetters
                ?? throw new InvalidOperationException("deadLetter.topic is set but the pipeline's dead-letter queue was not given to the Kafka source");
        }

        // Its own file, but counted in cdc.events.dead_lettered (stage "decode") like every other dead letter.
        var path = context.ResolvePath(deadLetter.Path);
        IDeadLetterQueue file = new JsonLinesDeadLetterQueue(DeadLetterOptions.DecodeLettersPath(path));
        return context.Services.GetService<PipelineMetrics>() is { } metrics ? new CountingDeadLetterQueue(file, metrics) : file;
    }
}
