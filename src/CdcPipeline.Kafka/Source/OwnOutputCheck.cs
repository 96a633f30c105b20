using System.Globalization;
using System.Text.RegularExpressions;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.Sink;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Kafka.Source;

/// <summary>
/// Refuses, at start-up, a Kafka source that would read what its own pipeline writes to the same cluster (same bootstrap
/// servers): the dead-letter topic (each letter comes back as a record, fails to decode and is dead-lettered again, for
/// ever) or a Kafka sink's topics (domain events read back as Debezium records, each failing to decode into the dead
/// letters, or worse, translated again).
/// <para>
/// A constant name is checked exactly. A template's names depend on the events, so what can be checked is: the names it
/// gives for the values this configuration declares (event types of the rule files and of the sink's <c>types</c>, or
/// <c>cdc.change</c> without rules; the tables and schemas of the rule files, the connector and the listed topics; the
/// listed topics for <c>{topic}</c>), and its literal prefix against every pattern of the subscription, which then
/// matches whatever the placeholders add. Beyond that it cannot see: event types a C# translator or the outbox makes up at
/// run time, or a <c>{topic}</c> value under a pattern subscription. Patterns are matched with .NET's regular expressions;
/// <see cref="TopicPatternCheck"/> already refused what librdkafka's POSIX ones would read differently.
/// </para>
/// </summary>
internal static class OwnOutputCheck
{
    /// <summary>More sample names than any real template and rule set give; beyond it the check stops trying.</summary>
    private const int MaxSamples = 10_000;

    /// <param name="consumerServers">The servers the source's consumer connects to (after its <c>consumer:</c> settings).</param>
    public static void Check(PipelineComponentContext context, KafkaSourceOptions options, string consumerServers, IReadOnlyList<string> subscription)
    {
        var entries = Entries(context, options, subscription);

        // The dead letters go to the cluster the source's consumer reads (see KafkaDeadLetterQueueFactory.ClusterFor).
        if (context.Pipeline.DeadLetter.Topic is { Length: > 0 } deadLetters
            && entries.FirstOrDefault(e => e.Matches(deadLetters)) is { } entry)
        {
            throw new ConfigurationException(
                "deadLetter:topic",
                $"dead letters go to '{deadLetters}', which the Kafka source reads as well ({Setting(entry, context.Locations)}) on the same cluster "
                    + $"({consumerServers}): every dead letter would come back as a record, fail to decode and be dead-lettered again, without end. "
                    + "Give deadLetter.topic a name the source does not subscribe to, or narrow the subscription",
                context.Locations);
        }

        if (context.Configuration?.Root is not { } root)
        {
            return;
        }

        foreach (var sink in root.GetSection("sinks").GetChildren())
        {
            var kafka = sink.GetSection("kafka");
            if (!kafka.Exists() || !KafkaCluster.Same(KafkaClientSettings.ServersOf(kafka, "producer").Servers, consumerServers))
            {
                continue;
            }

            TopicTemplate template;
            try
            {
                template = new TopicTemplate(kafka["topic"] ?? new KafkaSinkOptions().Topic, context.Pipeline.Name);
            }
            catch (ArgumentException)
            {
                // The sink's own factory names what is wrong with it.
                continue;
            }

            if (Conflict(template, entries, context, sink) is not var (name, matched, why))
            {
                continue;
            }

            throw new ConfigurationException(
                kafka.GetSection("topic").Path,
                $"sink '{sink["name"]}' writes {why}, which the Kafka source reads ({Setting(matched, context.Locations)}) on the same cluster "
                    + $"({consumerServers}): its domain events would come back as change records that fail to decode and go to the dead letters "
                    + $"('{name}' is one such topic). Give the sink a topic template the source does not subscribe to (e.g. 'domain.{{type}}'), "
                    + "or narrow the subscription",
                context.Locations);
        }
    }

    /// <summary>The first subscription entry a name of <paramref name="template"/> falls into, that name, and how it is produced.</summary>
    private static (string Name, Entry Matched, string Why)? Conflict(TopicTemplate template, IReadOnlyList<Entry> entries, PipelineComponentContext context, IConfigurationSection sink)
    {
        if (template.PlaceholdersUsed.Count == 0)
        {
            var constant = template.LiteralPrefix;
            return entries.FirstOrDefault(e => e.Matches(constant)) is { } entry ? (constant, entry, $"to '{constant}'") : null;
        }

        // A pattern that matches the prefix itself matches every name that goes on from it (it is not anchored at the end there).
        if (template.LiteralPrefix.Length > 0 && entries.FirstOrDefault(e => e.Pattern is not null && e.Matches(template.LiteralPrefix)) is { } prefixed)
        {
            return (template.LiteralPrefix + "…", prefixed, $"to '{template}', every name of which starts with '{template.LiteralPrefix}'");
        }

        var values = SampleValues(context, sink, entries);
        foreach (var sample in Samples(template.PlaceholdersUsed, values))
        {
            var name = template.RenderSample(sample);
            if (entries.FirstOrDefault(e => e.Matches(name)) is { } entry)
            {
                var given = string.Join(", ", sample.Where(kv => kv.Key != "pipeline").Select(kv => $"{{{kv.Key}}} = {kv.Value}"));
                return (name, entry, $"to '{template}', which gives '{name}'{(given.Length > 0 ? $" for {given}" : "")}");
            }
        }

        return null;
    }

    /// <summary>Every combination of the sample values of the placeholders used (at most <see cref="MaxSamples"/>).</summary>
    private static IEnumerable<Dictionary<string, string>> Samples(IReadOnlyList<string> placeholders, IReadOnlyDictionary<string, IReadOnlyList<string>> values)
    {
        var used = placeholders.Where(p => p != "pipeline").ToList();
        if (used.Any(p => values[p].Count == 0))
        {
            // A value this configuration does not declare ({topic} under a pattern): nothing to try.
            yield break;
        }

        var index = new int[used.Count];
        for (var n = 0; n < MaxSamples; n++)
        {
            var sample = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < used.Count; i++)
            {
                sample[used[i]] = values[used[i]][index[i]];
            }

            yield return sample;

            // The next combination, the last placeholder fastest.
            var j = used.Count - 1;
            while (j >= 0 && ++index[j] == values[used[j]].Count)
            {
                index[j] = 0;
                j--;
            }

            if (j < 0)
            {
                yield break;
            }
        }
    }

    /// <summary>The values this configuration declares for each placeholder (<c>{pipeline}</c> is the template's own).</summary>
    private static Dictionary<string, IReadOnlyList<string>> SampleValues(PipelineComponentContext context, IConfigurationSection sink, IReadOnlyList<Entry> entries)
    {
        var types = new HashSet<string>(StringComparer.Ordinal);
        var aggregates = new HashSet<string>(StringComparer.Ordinal);
        var tables = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in context.RuleFiles)
        {
            tables.Add(file.Table);
            if (file.Aggregate is { } aggregate)
            {
                aggregates.Add(aggregate);
            }

            foreach (var rule in file.Events)
            {
                types.Add(rule.Type);
                if (rule.Aggregate is { } eventAggregate)
                {
                    aggregates.Add(eventAggregate);
                }
            }
        }

        if (context.RuleFiles.Count == 0)
        {
            types.Add(DomainEvent.RawChangeType);
        }

        types.UnionWith(sink.GetSection("types").GetChildren().Select(t => t.Value).OfType<string>());
        foreach (var table in context.Section.GetSection("debezium:tables").GetChildren().Select(t => t.Value).OfType<string>())
        {
            tables.Add(table.Contains('.', StringComparison.Ordinal) ? table : "public." + table);
        }

        // Debezium names a table's topic {prefix}.{schema}.{table}.
        var topics = entries.Where(e => e.Pattern is null).Select(e => e.Text).ToList();
        foreach (var parts in topics.Select(t => t.Split('.')).Where(p => p.Length >= 3))
        {
            tables.Add(parts[^2] + "." + parts[^1]);
        }

        var schemas = tables.Select(t => t[..t.IndexOf('.', StringComparison.Ordinal)]).Distinct(StringComparer.Ordinal).ToList();
        var names = tables.Select(t => t[(t.IndexOf('.', StringComparison.Ordinal) + 1)..]).Distinct(StringComparer.Ordinal).ToList();
        aggregates.UnionWith(names);
        return new(StringComparer.Ordinal)
        {
            ["type"] = types.ToList(),
            ["aggregate"] = aggregates.ToList(),
            ["table"] = names,
            ["schema"] = schemas,
            ["topic"] = topics,
        };
    }

    /// <summary>The subscription's entries, each with the key it is configured at.</summary>
    private static List<Entry> Entries(PipelineComponentContext context, KafkaSourceOptions options, IReadOnlyList<string> subscription)
    {
        string KeyOf(int i) =>
            options.Topics is { Count: > 0 } ? string.Create(CultureInfo.InvariantCulture, $"{context.Section.Path}:topics:{i}")
            : !string.IsNullOrEmpty(options.TopicPattern) ? $"{context.Section.Path}:topicPattern"
            : $"{context.Section.Path}:debezium:topicPrefix";

        var entries = new List<Entry>(subscription.Count);
        for (var i = 0; i < subscription.Count; i++)
        {
            var text = subscription[i];
            Regex? pattern = null;
            if (text.StartsWith('^'))
            {
                try
                {
                    pattern = new Regex(text, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException)
                {
                    // Not a .NET expression: nothing to compare names with (librdkafka reports what it makes of it).
                    continue;
                }
            }

            entries.Add(new Entry(KeyOf(i), text, pattern));
        }

        return entries;
    }

    private static string Setting(Entry entry, ConfigurationLocations locations)
    {
        var where = locations.Describe(entry.Key) is { } location ? ", " + location : "";
        return $"{entry.Key.Replace(':', '.')} '{entry.Text}'{where}";
    }

    /// <summary>A topic the source subscribes to, or (starting with <c>^</c>) a pattern of topics, as librdkafka reads the list.</summary>
    private sealed record Entry(string Key, string Text, Regex? Pattern)
    {
        public bool Matches(string topic) => Pattern?.IsMatch(topic) ?? string.Equals(Text, topic, StringComparison.Ordinal);
    }
}
