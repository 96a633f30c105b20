using System.Globalization;

namespace CdcPipeline.Kafka.Replay;

/// <summary>Where <c>replay --to</c> moves a group: <c>earliest</c>, <c>latest</c>, <c>offset:P:N</c> (partition P to offset N) or <c>timestamp:ISO</c>.</summary>
public sealed record ReplayTarget(ReplayTargetKind Kind, int? Partition = null, long? Offset = null, DateTimeOffset? Timestamp = null)
{
    public static ReplayTarget Parse(string text)
    {
        if (string.Equals(text, "earliest", StringComparison.OrdinalIgnoreCase))
        {
            return new ReplayTarget(ReplayTargetKind.Earliest);
        }

        if (string.Equals(text, "latest", StringComparison.OrdinalIgnoreCase))
        {
            return new ReplayTarget(ReplayTargetKind.Latest);
        }

        if (text.StartsWith("offset:", StringComparison.OrdinalIgnoreCase))
        {
            var parts = text.Split(':');
            if (parts.Length == 3
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
                && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                return new ReplayTarget(ReplayTargetKind.Offset, partition, offset);
            }

            throw new FormatException($"'{text}': write offset:PARTITION:OFFSET, e.g. offset:0:1500");
        }

        if (text.StartsWith("timestamp:", StringComparison.OrdinalIgnoreCase))
        {
            var iso = text["timestamp:".Length..];
            if (DateTimeOffset.TryParse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts))
            {
                return new ReplayTarget(ReplayTargetKind.Timestamp, Timestamp: ts);
            }

            throw new FormatException($"'{iso}' is not an ISO-8601 time; write e.g. timestamp:2024-03-01T08:00:00Z");
        }

        throw new FormatException($"'{text}': --to takes earliest, latest, offset:PARTITION:OFFSET or timestamp:ISO-8601");
    }
}

public enum ReplayTargetKind
{
    Earliest,
    Latest,
    Offset,
    Timestamp,
}
