using System.Text.RegularExpressions;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Outbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// Builds a pipeline from its configuration and the registered factories. Everything is validated
/// before anything connects, so bad configuration fails at start-up with file, key and reason.
/// </summary>
public static class PipelineBuilder
{
    public static PipelineInstance Build(PipelineConfiguration configuration, IServiceProvider services) => Build(Validate(configuration, services));

    /// <summary>
    /// Every check <see cref="Build(PipelinePlan)"/> relies on, and nothing made: no sink, spool, producer or connection.
    /// <c>run</c> calls it before it binds its observability port, so a bad configuration is said before anything is served.
    /// </summary>
    /// <exception cref="ConfigurationException">What is wrong, with its key, file and line.</exception>
    public static PipelinePlan Validate(PipelineConfiguration configuration, IServiceProvider services)
    {
        var options = configuration.Options;
        var root = configuration.Root;

        var (sourceFactory, sourceSection) = SourceOf(configuration, services);

        var sinkFactories = services.GetServices<ISinkFactory>().ToDictionary(f => f.Kind, StringComparer.OrdinalIgnoreCase);
        var sinkSections = root.GetSection("sinks").GetChildren().ToList();
        if (sinkSections.Count == 0)
        {
            throw new ConfigurationException("sinks", $"no sinks configured; add at least one (kinds: {string.Join(", ", sinkFactories.Keys.Order(StringComparer.Ordinal))})", configuration.Locations);
        }

        var plans = new List<(SinkCommonOptions Common, ISinkFactory Factory, IConfigurationSection Section)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var section in sinkSections)
        {
            // retry: first, strictly: a bad value there is named by its own key and line (the lenient bind below, which
            // must pass over the kind's section, would name only the sink).
            ConfigBinding.Bind<RetryOptions>(section.GetSection("retry"), configuration.Locations);
            var common = new SinkCommonOptions();
            try
            {
                section.Bind(common);
            }
            catch (InvalidOperationException e)
            {
                throw new ConfigurationException(section.Path, e.InnerException?.Message ?? e.Message, configuration.Locations, e);
            }

            // The lenient bind passes over one value where the list is expected: that was no filter at all, every event sent.
            if (section.GetSection("types").Value is { Length: > 0 } single)
            {
                throw new ConfigurationException($"{section.Path}:types", ConfigBinding.ListExpected(single), configuration.Locations);
            }

            ConfigBinding.Validate(common, section.Path, configuration.Locations);
            if (!names.Add(common.Name))
            {
                throw new ConfigurationException($"{section.Path}:name", $"sink name '{common.Name}' is used twice", configuration.Locations);
            }

            var kind = configuration.KindOf(section, SinkCommonOptions.Keys, sinkFactories.Keys);
            if (!sinkFactories.TryGetValue(kind, out var factory))
            {
                throw new ConfigurationException($"{section.Path}:{kind}", $"unknown sink kind '{kind}'; expected one of: {string.Join(", ", sinkFactories.Keys.Order(StringComparer.Ordinal))}", configuration.Locations);
            }

            plans.Add((common, factory, section.GetSection(kind)));
        }

        // Two sinks sharing a state directory (two batch sinks on one spool) would mix or delete each other's data.
        ExclusiveDirectory.Check(
            plans.Select(p => (p.Common.Name, p.Factory, Context(p.Common.Name, p.Section))),
            configuration.Locations);

        var translator = Translator(configuration, services);

        // The source's, the dead letters' and every sink's own checks run before any sink is built (the source's and the dead
        // letters' see the whole configuration: a Kafka source refuses to read its own sinks' topics). A refused start must leave
        // nothing behind downstream: a batch sink takes its spool as it is built, before the next sink's bad setting would be found.
        var sourceContext = SourceContext(configuration, services, translator, sourceSection);
        sourceFactory.Validate(sourceContext);
        var deadLetterFactory = options.DeadLetter.Topic is not null ? services.GetRequiredService<IDeadLetterQueueFactory>() : null;
        deadLetterFactory?.Validate(configuration);
        foreach (var (common, factory, section) in plans)
        {
            factory.Validate(Context(common.Name, section));
        }

        return new PipelinePlan(configuration, services, translator, sourceFactory, sourceContext, deadLetterFactory, plans);

        PipelineComponentContext Context(string name, IConfigurationSection section) =>
            new(name, section, options, configuration.Locations, configuration.BaseDirectory, services);
    }

    /// <summary>
    /// The pipeline's source factory and the context <c>run</c> hands it (with <paramref name="translator"/>'s rule files), nothing
    /// validated or made: <c>dlq redrive</c> gets a Kafka source's decoder from it.
    /// </summary>
    /// <exception cref="ConfigurationException">No source, or one of a kind no factory makes.</exception>
    public static (ISourceFactory Factory, PipelineComponentContext Context) Source(PipelineConfiguration configuration, IServiceProvider services, IChangeTranslator translator)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var (factory, section) = SourceOf(configuration, services);
        return (factory, SourceContext(configuration, services, translator, section));
    }

    private static (ISourceFactory Factory, IConfigurationSection Section) SourceOf(PipelineConfiguration configuration, IServiceProvider services)
    {
        var sourceSection = configuration.Root.GetSection("source");
        var sourceFactories = services.GetServices<ISourceFactory>().ToDictionary(f => f.Kind, StringComparer.OrdinalIgnoreCase);
        if (!sourceSection.Exists())
        {
            throw new ConfigurationException("source", $"no source configured; add exactly one of: {string.Join(", ", sourceFactories.Keys.Order(StringComparer.Ordinal))}", configuration.Locations);
        }

        var sourceKind = configuration.KindOf(sourceSection, new HashSet<string>(), sourceFactories.Keys);
        if (!sourceFactories.TryGetValue(sourceKind, out var sourceFactory))
        {
            throw new ConfigurationException($"source:{sourceKind}", $"unknown source kind '{sourceKind}'; expected one of: {string.Join(", ", sourceFactories.Keys.Order(StringComparer.Ordinal))}", configuration.Locations);
        }

        return (sourceFactory, sourceSection.GetSection(sourceKind));
    }

    private static PipelineComponentContext SourceContext(PipelineConfiguration configuration, IServiceProvider services, IChangeTranslator translator, IConfigurationSection section) =>
        new(configuration.Options.Name, section, configuration.Options, configuration.Locations, configuration.BaseDirectory, services)
        {
            RuleFiles = Translators.RuleFiles(translator).ToList(),
            Configuration = configuration,
        };

    /// <summary>
    /// The pipeline's translator as <c>run</c> uses it: the registered <see cref="ITranslatorProvider"/>'s (rules from
    /// <c>rules</c>, C# translators or pass-through), with the outbox routing in front when configured. <c>dlq redrive</c>
    /// translates a <c>translate</c> letter's change again with it, so a fixed rule file applies exactly as it would in <c>run</c>.
    /// </summary>
    /// <exception cref="ConfigurationException">The rules directory does not exist, a rule file or the outbox settings are wrong.</exception>
    public static IChangeTranslator Translator(PipelineConfiguration configuration, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = configuration.Options;
        string? rulesDirectory = null;
        if (!string.IsNullOrEmpty(options.Rules))
        {
            rulesDirectory = Path.GetFullPath(Path.Combine(configuration.BaseDirectory, options.Rules));
            if (!Directory.Exists(rulesDirectory))
            {
                throw new ConfigurationException("rules", $"rules directory '{rulesDirectory}' does not exist", configuration.Locations);
            }
        }

        var translator = services.GetRequiredService<ITranslatorProvider>().Create(options, rulesDirectory);
        return WithOutbox(configuration, translator, services);
    }

    /// <summary>Makes the pipeline <paramref name="plan"/> checked: its sinks (a batch sink takes its spool), dead letters and source.</summary>
    public static PipelineInstance Build(PipelinePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (configuration, services, translator, sourceFactory, sourceContext, deadLetterFactory, plans) =
            (plan.Configuration, plan.Services, plan.Translator, plan.SourceFactory, plan.SourceContext, plan.DeadLetterFactory, plan.Sinks);
        var options = configuration.Options;
        var metrics = services.GetService<PipelineMetrics>();
        var sinks = new List<SinkBinding>();
        IChangeSource? source = null;
        IDeadLetterQueue? deadLetters = null;
        try
        {
            foreach (var (common, factory, section) in plans)
            {
                sinks.Add(new SinkBinding(factory.Create(Context(common.Name, section)), common.ToPolicy()));
            }

            deadLetters = deadLetterFactory is not null
                ? deadLetterFactory.Create(configuration, services)
                : new JsonLinesDeadLetterQueue(Path.GetFullPath(Path.Combine(configuration.BaseDirectory, options.DeadLetter.Path)));

            source = sourceFactory.Create(sourceContext with { DeadLetters = metrics is null ? deadLetters : new CountingDeadLetterQueue(deadLetters, metrics) });
        }
        catch
        {
            // Closing is asynchronous (a RabbitMQ connection, a Kafka flush, a spool lock): the failed start returns only
            // once the parts built so far let go, or they would still hold them when `run` exits or the next start tries.
            // Build runs in a service-provider factory, which is synchronous; there is no synchronization context to block.
            CloseAfterFailedBuildAsync(sinks, deadLetters, services).GetAwaiter().GetResult();
            throw;
        }

        var runner = new PipelineRunner(
            source,
            translator,
            sinks,
            deadLetters,
            new PipelineRunnerOptions
            {
                BufferCapacity = options.Runner.BufferCapacity,
                MaxBatchSize = options.Runner.MaxBatchSize,
                DrainTimeout = options.Runner.DrainTimeout,
                ExpectedFailures = services.GetServices<IExpectedDeliveryFailures>().ToArray(),
            },
            services.GetService<ILogger<PipelineRunner>>(),
            services.GetService<TimeProvider>(),
            services.GetService<IFailureStore>(),
            metrics);
        if (source is ISourceLag lag)
        {
            metrics?.ObserveSourceLag(lag);
        }

        if (source is ISourceFailingSinks held)
        {
            held.ObserveFailingSinks(() => runner.FailingSinks);
        }

        return new PipelineInstance(runner, source, sinks, deadLetters);

        PipelineComponentContext Context(string name, IConfigurationSection section) =>
            new(name, section, options, configuration.Locations, configuration.BaseDirectory, services);
    }

    /// <summary>Closes what a failed build made, every part even when one fails: the build's error is what the caller sees.</summary>
    private static async Task CloseAfterFailedBuildAsync(List<SinkBinding> sinks, IDeadLetterQueue? deadLetters, IServiceProvider services)
    {
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger(typeof(PipelineBuilder).FullName!) ?? NullLogger.Instance;
        foreach (var sink in sinks)
        {
            try
            {
                await sink.Sink.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Log.CloseAfterFailedStartFailed(logger, e, "sink " + sink.Sink.Name);
            }
        }

        if (deadLetters is IAsyncDisposable disposable)
        {
            try
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Log.CloseAfterFailedStartFailed(logger, e, "the dead-letter queue");
            }
        }
    }

    /// <summary>
    /// <c>outbox:</c> (or a <c>source.outboxPolling</c>) puts Debezium-style outbox routing in front of the
    /// configured translator, whatever it is (rules, C# translators or pass-through), so the two combine
    /// instead of excluding each other.
    /// </summary>
    private static IChangeTranslator WithOutbox(PipelineConfiguration configuration, IChangeTranslator translator, IServiceProvider services)
    {
        var section = configuration.Root.GetSection("outbox");
        var polling = configuration.Root.GetSection("source:outboxPolling");
        OutboxOptions outboxOptions;
        if (section.Exists())
        {
            outboxOptions = ConfigBinding.Bind<OutboxOptions>(section, configuration.Locations);
            if (polling.Exists())
            {
                CheckRelayTable(configuration, outboxOptions, polling["table"]);
            }
        }
        else if (polling.Exists())
        {
            // The polling relay reads nothing but its outbox table: it implies the outbox routing with defaults.
            outboxOptions = new OutboxOptions { Table = polling["table"] ?? new OutboxOptions().Table };
        }
        else
        {
            return translator;
        }

        OutboxTranslator outbox;
        try
        {
            outbox = new OutboxTranslator(configuration.Options.Name, outboxOptions, services.GetService<ILogger<OutboxTranslator>>());
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException("outbox:additionalPlacement", e.Message, configuration.Locations, e);
        }

        return new OutboxRoutingTranslator(outbox, translator);
    }

    /// <summary>
    /// The polling relay yields rows of its own table only, named as PostgreSQL names it (<c>public.outbox</c> for
    /// <c>Outbox</c>): an <c>outbox.table</c> naming another table would let none of them become an outbox event — each
    /// would pass on as a raw change, or to the rules — so the two must name one table, however each spells it.
    /// </summary>
    private static void CheckRelayTable(PipelineConfiguration configuration, OutboxOptions outbox, string? configured)
    {
        var relayTable = configured ?? new OutboxOptions().Table;
        if (!Regex.IsMatch(relayTable, PgNames.TablePattern, RegexOptions.CultureInvariant))
        {
            return; // the relay's own validation names that key
        }

        var relayed = PgNames.QualifiedTable(relayTable);
        if (string.Equals(relayed, outbox.QualifiedTable, StringComparison.Ordinal))
        {
            return;
        }

        var where = configured is null
            ? "not set: the default"
            : configuration.Locations.Describe("source:outboxPolling:table") ?? "set";
        throw new ConfigurationException(
            "outbox:table",
            $"names the table {outbox.QualifiedTable} ('{outbox.Table}'), but source.outboxPolling.table ({where}) relays {relayed} ('{relayTable}'), " +
            "and the relay reads nothing else: none of its rows would become an outbox event. Name the relay's table in both " +
            "(case and a missing 'public.' do not matter), or remove outbox.table to use the relay's",
            configuration.Locations);
    }
}
