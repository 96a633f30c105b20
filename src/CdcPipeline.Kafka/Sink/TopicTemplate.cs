using System.Text;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Kafka.Sink;

/// <summary>
/// A topic name template. Placeholders: <c>{type}</c> the event type (<c>OrderPlaced</c>, or
/// <c>cdc.change</c> for raw changes), <c>{aggregate}</c> the aggregate type (<c>Order</c>; the table
/// name when unset), <c>{table}</c> and <c>{schema}</c> of the source change, <c>{topic}</c> the Kafka
/// topic the change came from (the table's qualified name on the embedded path), <c>{pipeline}</c>
/// the pipeline name. Characters Kafka does not allow in topic names become <c>_</c> in a placeholder's value;
/// the text around the placeholders must be a legal name already (a constant topic is used as written). A name
/// rendered longer than 249 characters (or '.', '..') is an <see cref="InvalidTopicNameException"/>: the sink
/// treats that event as one Kafka can never take.
/// </summary>
public sealed class TopicTemplate
{
    private static readonly string[] Placeholders = ["type", "aggregate", "table", "schema", "topic", "pipeline"];
    private const int MaxLength = KafkaTopics.MaxNameLength;
    private readonly string _template;
    private readonly string _pipeline;
    private readonly bool _constant;

    public TopicTemplate(string template, string pipeline)
    {
        var unknown = System.Text.RegularExpressions.Regex.Matches(template, @"\{([^}]*)\}")
            .Select(m => m.Groups[1].Value)
            .FirstOrDefault(p => !Placeholders.Contains(p, StringComparer.Ordinal));
        if (unknown is not null)
        {
            throw new ArgumentException($"unknown placeholder '{{{unknown}}}' in topic template '{template}'; use {string.Join(", ", Placeholders.Select(p => "{" + p + "}"))}");
        }

        // Placeholders are made legal when rendered; the text around them is taken as written, so it must be legal already.
        var literal = System.Text.RegularExpressions.Regex.Replace(template, @"\{[^}]*\}", "");
        var bad = literal.FirstOrDefault(c => !IsLegal(c));
        if (bad != default)
        {
            throw new ArgumentException($"topic template '{template}' contains '{bad}': Kafka topic names allow only ASCII letters, digits, '.', '_' and '-'");
        }

        _constant = !template.Contains('{', StringComparison.Ordinal);
        if (_constant && KafkaTopics.NameProblem(template) is { } problem)
        {
            throw new ArgumentException(problem);
        }

        // Every name it gives is at least this long: the sink could deliver none of its events.
        if (literal.Length > MaxLength)
        {
            throw new ArgumentException($"topic template '{template[..40]}…' has {literal.Length} characters besides its placeholders; Kafka topic names have at most {MaxLength}");
        }

        _template = template;
        _pipeline = pipeline;
        var first = template.IndexOf('{', StringComparison.Ordinal);
        LiteralPrefix = first < 0 ? template : template[..first];
        PlaceholdersUsed = Placeholders.Where(p => template.Contains("{" + p + "}", StringComparison.Ordinal)).ToList();
    }

    /// <summary>The text before the first placeholder: every name the template gives starts with it (all of it for a constant topic).</summary>
    public string LiteralPrefix { get; }

    /// <summary>The placeholders the template uses (<c>type</c>, <c>table</c>, …), each once; none for a constant topic.</summary>
    public IReadOnlyList<string> PlaceholdersUsed { get; }

    /// <summary>
    /// The name the template gives with these placeholder values, made legal as <see cref="Render"/> makes it: for start-up checks
    /// that try the names a configuration can produce, not for delivery.
    /// </summary>
    public string RenderSample(IReadOnlyDictionary<string, string> values)
    {
        var name = new StringBuilder(_template).Replace("{pipeline}", _pipeline);
        foreach (var (placeholder, value) in values)
        {
            name.Replace("{" + placeholder + "}", value);
        }

        // The text around the placeholders is legal already (the constructor checked it), so this touches only their values.
        for (var i = 0; i < name.Length; i++)
        {
            if (!IsLegal(name[i]))
            {
                name[i] = '_';
            }
        }

        return name.ToString();
    }

    /// <summary>The template as configured (for logs).</summary>
    public override string ToString() => _template;

    public string Render(DomainEvent e)
    {
        if (_constant)
        {
            return _template;
        }

        var change = e.Change.Source;
        var name = new StringBuilder(_template)
            .Replace("{type}", e.Type)
            .Replace("{aggregate}", e.AggregateType ?? change.Table ?? "unknown")
            .Replace("{table}", change.Table ?? "unknown")
            .Replace("{schema}", change.Schema ?? "unknown")
            .Replace("{topic}", change.Topic ?? change.QualifiedTable)
            .Replace("{pipeline}", _pipeline);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (!IsLegal(c))
            {
                name[i] = '_';
            }
        }

        // Kafka refuses such a name (InvalidTopicException): the event could never be delivered, whatever the retries.
        if (name.Length > MaxLength)
        {
            throw new InvalidTopicNameException($"topic template '{_template}' gives a {name.Length}-character name for event type '{Truncated(e.Type)}' ('{Truncated(name.ToString())}'); Kafka topic names have at most {MaxLength}");
        }

        if (name.Length == 0 || name is ['.'] or ['.', '.'])
        {
            throw new InvalidTopicNameException($"topic template '{_template}' gives '{name}' for event type '{Truncated(e.Type)}', which Kafka does not allow as a topic name");
        }

        return name.ToString();
    }

    private static string Truncated(string text) => text.Length <= 60 ? text : text[..60] + "…";

    private static bool IsLegal(char c) => KafkaTopics.IsLegalNameCharacter(c);
}

/// <summary>A topic template rendered, for one event, a name Kafka does not allow (too long, or '.' / '..').</summary>
public sealed class InvalidTopicNameException(string message) : ArgumentException(message);
