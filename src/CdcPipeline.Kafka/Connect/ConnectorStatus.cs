using System.Globalization;
using System.Text.Json.Nodes;

namespace CdcPipeline.Kafka.Connect;

/// <summary>
/// Reads Kafka Connect's <c>GET /connectors/{name}/status</c> answer
/// (<c>{"connector":{"state":…,"trace":…},"tasks":[{"id":0,"state":…,"trace":…}]}</c>) for what failed.
/// </summary>
public static class ConnectorStatus
{
    /// <summary>
    /// One line per FAILED part (the connector, or a task by id) with the first line of its trace, Connect's
    /// Java exception; empty when nothing failed. RUNNING, PAUSED, UNASSIGNED and RESTARTING are not failures.
    /// </summary>
    public static IReadOnlyList<string> Failures(JsonNode? status)
    {
        var failures = new List<string>();
        if (IsFailed(status?["connector"]))
        {
            failures.Add("the connector is FAILED" + Trace(status!["connector"]));
        }

        if (status?["tasks"] is JsonArray tasks)
        {
            foreach (var task in tasks)
            {
                if (IsFailed(task))
                {
                    var id = task!["id"] is JsonValue v && v.TryGetValue<int>(out var n) ? n.ToString(CultureInfo.InvariantCulture) : "?";
                    failures.Add($"task {id} is FAILED" + Trace(task));
                }
            }
        }

        return failures;
    }

    private static bool IsFailed(JsonNode? part) =>
        part?["state"] is JsonValue state && state.TryGetValue<string>(out var s) && string.Equals(s, "FAILED", StringComparison.OrdinalIgnoreCase);

    private static string Trace(JsonNode? part)
    {
        if (part?["trace"] is not JsonValue trace || !trace.TryGetValue<string>(out var text) || string.IsNullOrWhiteSpace(text))
        {
            return "";
        }

        var first = text.AsSpan().TrimStart();
        var end = first.IndexOfAny('\r', '\n');
        return ": " + (end < 0 ? first : first[..end]).ToString();
    }
}
