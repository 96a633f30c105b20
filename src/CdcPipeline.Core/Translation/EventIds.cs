using System.Security.Cryptography;
using System.Text;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation;

/// <summary>
/// Deterministic event ids: a name-based (version 5 style, SHA-1) UUID of the change, the rule and the index
/// of the event among those the rule produced. A replay of the same change produces the same ids, which is
/// what lets downstream consumers de-duplicate. A change is named by its <see cref="ChangeEvent.Origin"/> when
/// it has one (a Debezium change: the same change Kafka Connect wrote twice, at two offsets, gets the same
/// ids), else by its <see cref="SourcePosition"/>.
/// </summary>
public static class EventIds
{
    /// <summary>The id of an event made from <paramref name="change"/>: what translators should call.</summary>
    public static string For(ChangeEvent change, string ruleId, int index = 0) =>
        change.Origin is { } origin
            ? For(string.Concat(origin, "|", ruleId, "|", index.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            : For(change.Position, ruleId, index);

    public static string For(SourcePosition position, string ruleId, int index = 0) =>
        For(string.Concat(position.ToString(), "|", ruleId, "|", index.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public static string For(string name)
    {
        Span<byte> hash = stackalloc byte[20];
        var bytes = Encoding.UTF8.GetBytes(name);
#pragma warning disable CA5350 // SHA-1 is what RFC 4122 name-based UUIDs use; no security property is needed.
        SHA1.HashData(bytes, hash);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true).ToString();
    }
}
