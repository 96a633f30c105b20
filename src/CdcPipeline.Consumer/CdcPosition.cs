using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace CdcPipeline.Consumer;

/// <summary>
/// The CloudEvents extension <c>cdcposition</c>, <c>{stream}@{major}:{minor}</c> (e.g. <c>cdc_demo_slot@30821688:0</c>): where the
/// change an event came from sits in its source. Positions of one <see cref="Stream"/> are ordered, by <see cref="Major"/> and then
/// <see cref="Minor"/>, as numbers; positions of different streams are not comparable.
/// </summary>
/// <param name="Stream">A replication slot's name, or a Kafka <c>topic/partition</c>.</param>
/// <param name="Major">The commit LSN (a slot), or the offset (Kafka).</param>
/// <param name="Minor">The change's index within its transaction (a slot); 0 for Kafka.</param>
public readonly record struct CdcPosition(string Stream, long Major, long Minor) : IComparable<CdcPosition>
{
    /// <summary>Orders two positions of one stream.</summary>
    /// <exception cref="InvalidOperationException">The positions are of different streams, which are not ordered.</exception>
    public int CompareTo(CdcPosition other)
    {
        if (!string.Equals(Stream, other.Stream, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"positions of different streams are not ordered: '{Stream}' and '{other.Stream}'; compare positions within one stream only");
        }

        var c = Major.CompareTo(other.Major);
        return c != 0 ? c : Minor.CompareTo(other.Minor);
    }

    /// <summary>Whether <paramref name="a"/> comes before <paramref name="b"/> (see <see cref="CompareTo"/>).</summary>
    public static bool operator <(CdcPosition a, CdcPosition b) => a.CompareTo(b) < 0;

    /// <summary>Whether <paramref name="a"/> comes after <paramref name="b"/> (see <see cref="CompareTo"/>).</summary>
    public static bool operator >(CdcPosition a, CdcPosition b) => a.CompareTo(b) > 0;

    /// <summary>Whether <paramref name="a"/> is <paramref name="b"/> or comes before it (see <see cref="CompareTo"/>).</summary>
    public static bool operator <=(CdcPosition a, CdcPosition b) => a.CompareTo(b) <= 0;

    /// <summary>Whether <paramref name="a"/> is <paramref name="b"/> or comes after it (see <see cref="CompareTo"/>).</summary>
    public static bool operator >=(CdcPosition a, CdcPosition b) => a.CompareTo(b) >= 0;

    /// <summary>Reads <c>{stream}@{major}:{minor}</c>, as the pipeline writes <c>cdcposition</c>.</summary>
    /// <exception cref="FormatException"><paramref name="text"/> is not of that form (an empty stream, a major or minor that is not a
    /// non-negative integer).</exception>
    public static CdcPosition Parse(string text) =>
        TryParse(text, out var position)
            ? position
            : throw new FormatException($"'{text}' is not a cdcposition: expected {{stream}}@{{major}}:{{minor}} with non-negative integers, e.g. cdc_demo_slot@30821688:0");

    /// <summary>Reads <c>{stream}@{major}:{minor}</c> (e.g. a <c>ce_cdcposition</c> header's value); false when <paramref name="text"/> is not of that form.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out CdcPosition position)
    {
        position = default;
        if (text is null)
        {
            return false;
        }

        // The stream is a slot name or topic/partition: neither holds '@' or ':', but split at the last '@' in any case.
        var at = text.LastIndexOf('@');
        var colon = at < 0 ? -1 : text.IndexOf(':', at + 1);
        if (at <= 0 || colon < 0
            || !long.TryParse(text.AsSpan(at + 1, colon - at - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !long.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            return false;
        }

        position = new CdcPosition(text[..at], major, minor);
        return true;
    }

    /// <summary><c>{stream}@{major}:{minor}</c>, as in the event.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Stream}@{Major}:{Minor}");
}
