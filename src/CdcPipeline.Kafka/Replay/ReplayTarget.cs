using System.Globalization;
using System.Text.RegularExpressions;

namespace CdcPipeline.Kafka.Replay;

/// <summary>Where <c>replay --to</c> moves a group: <c>earliest</c>, <c>latest</c>, <c>offset:P:N</c> (partition P to offset N) or <c>timestamp:ISO</c> (with its zone: Z or an offset).</summary>
public sealed partial record ReplayTarget(ReplayTargetKind Kind, int? Partition = null, long? Offset = null, DateTimeOffset? Timestamp = null)
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
            // The invariant culture also reads 01/03/2024 (as January 3rd) and "1 March 2024": only the ISO form is unambiguous.
            if (IsoTime().IsMatch(iso) && DateTimeOffset.TryParse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts))
            {
                // Without a zone the time is ambiguous: Kafka's own kafka-consumer-groups --to-datetime reads it as the machine's
                // local time, this command read it as UTC. A guess an hour or two off skips (or repeats) that much of the history.
                if (DateTime.TryParse(iso, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var local) && local.Kind == DateTimeKind.Unspecified)
                {
                    throw new FormatException(
                        $"'{iso}' has no time zone: add Z for UTC or the offset it was written in, e.g. timestamp:{local:yyyy-MM-dd'T'HH:mm:ss}Z or timestamp:{local:yyyy-MM-dd'T'HH:mm:ss}+02:00");
                }

                return new ReplayTarget(ReplayTargetKind.Timestamp, Timestamp: ts);
            }

            throw new FormatException($"'{iso}' is not an ISO-8601 time (YYYY-MM-DDTHH:MM:SS with Z or an offset); write e.g. timestamp:2024-03-01T08:00:00Z");
        }

        throw new FormatException($"'{text}': --to takes earliest, latest, offset:PARTITION:OFFSET or timestamp:ISO-8601");
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoTime();
}

public enum ReplayTargetKind
{
    Earliest,
    Latest,
    Offset,
    Timestamp,
}
