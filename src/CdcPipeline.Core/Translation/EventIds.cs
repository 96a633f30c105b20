using System.Buffers;
using System.Globalization;
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
        change.Origin is { } origin ? For(origin, ruleId, index) : For(change.Position, ruleId, index);

    public static string For(SourcePosition position, string ruleId, int index = 0) => For(position.ToString(), ruleId, index);

    /// <summary>The id named <c>prefix|ruleId|index</c>, hashed from its UTF-8 without building the name as a string first.</summary>
    private static string For(string prefix, string ruleId, int index)
    {
        Span<byte> digits = stackalloc byte[11];
        index.TryFormat(digits, out var digitCount, provider: CultureInfo.InvariantCulture);
        var length = Encoding.UTF8.GetMaxByteCount(prefix.Length + ruleId.Length) + 2 + digitCount;
        byte[]? rented = null;
        var name = length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var n = Encoding.UTF8.GetBytes(prefix, name);
            name[n++] = (byte)'|';
            n += Encoding.UTF8.GetBytes(ruleId, name[n..]);
            name[n++] = (byte)'|';
            digits[..digitCount].CopyTo(name[n..]);
            return FromName(name[..(n + digitCount)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    public static string For(string name)
    {
        var length = Encoding.UTF8.GetMaxByteCount(name.Length);
        byte[]? rented = null;
        var bytes = length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            return FromName(bytes[..Encoding.UTF8.GetBytes(name, bytes)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static string FromName(ReadOnlySpan<byte> name)
    {
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // SHA-1 is what RFC 4122 name-based UUIDs use; no security property is needed.
        SHA1.HashData(name, hash);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true).ToString();
    }
}
