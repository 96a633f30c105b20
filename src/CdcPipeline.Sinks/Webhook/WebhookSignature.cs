using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CdcPipeline.Sinks.Webhook;

/// <summary>
/// The signature scheme a receiver verifies:
/// <c>X-Cdc-Timestamp: &lt;unix seconds&gt;</c> and
/// <c>X-Cdc-Signature: sha256=&lt;lower-case hex of HMAC-SHA256(secret, "&lt;timestamp&gt;." + body)&gt;</c>.
/// The timestamp is inside the MAC so a captured request cannot be replayed later with a fresh
/// timestamp; receivers should reject timestamps too far from their clock (e.g. 5 minutes) and
/// compare signatures in constant time.
/// </summary>
public static class WebhookSignature
{
    public const string SignatureHeader = "X-Cdc-Signature";
    public const string TimestampHeader = "X-Cdc-Timestamp";
    public const string Prefix = "sha256=";

    public static string Compute(string secret, long unixSeconds, ReadOnlySpan<byte> body)
    {
        var timestamp = unixSeconds.ToString(CultureInfo.InvariantCulture);
        var message = new byte[Encoding.ASCII.GetByteCount(timestamp) + 1 + body.Length];
        var n = Encoding.ASCII.GetBytes(timestamp, message);
        message[n] = (byte)'.';
        body.CopyTo(message.AsSpan(n + 1));
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
        return Prefix + Convert.ToHexStringLower(mac);
    }

    /// <summary>Receiver side: constant-time check of a signature header value.</summary>
    public static bool Verify(string secret, string timestampHeader, string signatureHeader, ReadOnlySpan<byte> body)
    {
        if (!long.TryParse(timestampHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var unixSeconds))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Compute(secret, unixSeconds, body));
        var actual = Encoding.ASCII.GetBytes(signatureHeader);
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }
}
