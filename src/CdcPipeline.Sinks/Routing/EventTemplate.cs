using System.Text;
using CdcPipeline.Core.Translation;

namespace CdcPipeline.Sinks.Routing;

/// <summary>
/// A name with placeholders filled per event — <c>{type}</c>, <c>{subject}</c>, <c>{aggregateType}</c>,
/// <c>{sink}</c> — for routing keys, stream keys and channels (<c>domain:{type}</c>). Parsed once at
/// start-up so an unknown placeholder is a configuration error, not a surprise per event.
/// </summary>
public sealed class EventTemplate
{
    private static readonly string[] Known = ["type", "subject", "aggregateType", "sink"];
    private readonly (string Literal, string? Placeholder)[] _parts;
    private readonly string _sink;

    private EventTemplate(string text, string sink, (string, string?)[] parts)
    {
        Text = text;
        _sink = sink;
        _parts = parts;
    }

    public string Text { get; }

    public bool IsConstant => _parts.All(p => p.Placeholder is null);

    /// <summary>Parses <paramref name="text"/>; the error names the bad placeholder.</summary>
    public static bool TryParse(string text, string sink, out EventTemplate template, out string? error)
    {
        var parts = new List<(string, string?)>();
        var literal = new StringBuilder();
        error = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '{')
            {
                literal.Append(text[i]);
                continue;
            }

            var end = text.IndexOf('}', i + 1);
            if (end < 0)
            {
                error = $"'{text}': '{{' at {i} is never closed";
                template = null!;
                return false;
            }

            var name = text[(i + 1)..end];
            var known = Known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                error = $"'{text}': unknown placeholder '{{{name}}}'; use {string.Join(", ", Known.Select(k => "{" + k + "}"))}";
                template = null!;
                return false;
            }

            parts.Add((literal.ToString(), known));
            literal.Clear();
            i = end;
        }

        parts.Add((literal.ToString(), null));
        template = new EventTemplate(text, sink, [.. parts]);
        return true;
    }

    public string Render(DomainEvent e)
    {
        if (_parts.Length == 1)
        {
            return _parts[0].Literal;
        }

        var sb = new StringBuilder(Text.Length + 32);
        foreach (var (literal, placeholder) in _parts)
        {
            sb.Append(literal);
            sb.Append(placeholder switch
            {
                "type" => e.Type,
                "subject" => e.Subject ?? "",
                "aggregateType" => e.AggregateType ?? "",
                "sink" => _sink,
                _ => "",
            });
        }

        return sb.ToString();
    }
}
