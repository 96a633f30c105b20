using System.Security.Cryptography;
using System.Text;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// Every form Debezium's PostgreSQL connector gives the unchanged-TOAST placeholder, so none leaks:
/// the string itself (text, json, xml…), its UTF-8 bytes (bytea), their base64/hex text
/// (<c>binary.handling.mode</c>), a one-element list of either (text[]/bytea[]), the bytes as
/// integers (int[]/bigint[]), a one-element list of the name-based UUID of the bytes (uuid[]), and a
/// one-entry map placeholder→placeholder (hstore as a map).
/// </summary>
internal sealed class UnavailablePlaceholder
{
    public UnavailablePlaceholder(string text)
    {
        Text = text;
        Bytes = Encoding.UTF8.GetBytes(text);
        Base64 = Convert.ToBase64String(Bytes);
        Base64UrlSafe = Base64.Replace('+', '-').Replace('/', '_');
        Hex = Convert.ToHexStringLower(Bytes);
        Uuid = NameUuid(Bytes);
        LongestTextUtf8 = Math.Max(Bytes.Length, Math.Max(Base64.Length, Hex.Length));
    }

    public string Text { get; }
    public byte[] Bytes { get; }
    public string Base64 { get; }
    public string Base64UrlSafe { get; }
    public string Hex { get; }
    public string Uuid { get; }

    /// <summary>The UTF-8 length of the longest form <see cref="IsText"/> knows: a longer text is none of them.</summary>
    public int LongestTextUtf8 { get; }

    public bool IsText(string s) =>
        s.Length >= Text.Length && (s == Text || s == Base64 || s == Base64UrlSafe || s == Hex);

    public bool IsBytes(ReadOnlySpan<byte> b) => b.SequenceEqual(Bytes);

    /// <summary>Debezium's placeholder for an unchanged TOASTed array of any element type.</summary>
    public bool IsArray(IReadOnlyList<object?> list)
    {
        if (list.Count == 1)
        {
            // Elements are usually converted already: a placeholder element has become Unavailable.
            return list[0] switch
            {
                Changes.Unavailable => true,
                string s => s == Text || s == Uuid || IsText(s),
                byte[] b => IsBytes(b),
                _ => false,
            };
        }

        if (list.Count != Bytes.Length)
        {
            return false;
        }

        for (var i = 0; i < Bytes.Length; i++)
        {
            if (list[i] is not long l || l != (sbyte)Bytes[i])
            {
                return false;
            }
        }

        return true;
    }

    // Java's UUID.nameUUIDFromBytes: an MD5 (version 3) UUID, which Debezium uses for uuid[] placeholders.
    private static string NameUuid(byte[] bytes)
    {
#pragma warning disable CA5351 // MD5 is what Java's name-based UUID uses; not a security use.
        var md5 = MD5.HashData(bytes);
#pragma warning restore CA5351
        md5[6] = (byte)((md5[6] & 0x0f) | 0x30);
        md5[8] = (byte)((md5[8] & 0x3f) | 0x80);
        var hex = Convert.ToHexStringLower(md5);
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }
}
