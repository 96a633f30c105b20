using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CdcPipeline.Consumer;

/// <summary>
/// The signature of the pipeline's webhook requests, for the sink that signs them and the service that receives them:
/// <c>X-Cdc-Timestamp: &lt;unix seconds&gt;</c> and
/// <c>X-Cdc-Signature: sha256=&lt;lower-case hex of HMAC-SHA256(secret, "&lt;timestamp&gt;." + body)&gt;</c>.
/// The timestamp is inside the MAC, so a captured request cannot be sent again later with a fresh timestamp; a receiver
/// refuses one whose timestamp is too far from its clock (<see cref="Verify"/>).
/// </summary>
public static class WebhookSignature
{
    /// <summary>The request header that carries the signature.</summary>
    public const string SignatureHeader = "X-Cdc-Signature";

    /// <summary>The request header that carries the signed timestamp (Unix seconds).</summary>
    public const string TimestampHeader = "X-Cdc-Timestamp";

    /// <summary>What the signature header's value starts with.</summary>
    public const string Prefix = "sha256=";

    /// <summary>How far a request's timestamp may be from the receiver's clock, either way, unless it says otherwise: 5 minutes.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    /// <summary>The <see cref="SignatureHeader"/> value of a request whose <see cref="TimestampHeader"/> is <paramref name="unixSeconds"/> and whose body is <paramref name="body"/>.</summary>
    /// <param name="secret">The webhook sink's <c>secret</c>.</param>
    /// <param name="unixSeconds">The timestamp sent in <see cref="TimestampHeader"/>.</param>
    /// <param name="body">The request body, as sent (bytes, not re-serialised).</param>
    public static string Compute(string secret, long unixSeconds, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var timestamp = unixSeconds.ToString(CultureInfo.InvariantCulture);
        var message = new byte[Encoding.ASCII.GetByteCount(timestamp) + 1 + body.Length];
        var n = Encoding.ASCII.GetBytes(timestamp, message);
        message[n] = (byte)'.';
        body.CopyTo(message.AsSpan(n + 1));
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
        return Prefix + Convert.ToHexStringLower(mac);
    }

    /// <summary>
    /// Whether a received request is the pipeline's: its signature is the one <paramref name="secret"/> makes of its timestamp
    /// and body (compared in constant time), and the timestamp is within <paramref name="tolerance"/> of <paramref name="time"/>'s
    /// clock. False when either header is missing or malformed. Pass the body's bytes as received, before any parsing.
    /// </summary>
    /// <param name="secret">The webhook sink's <c>secret</c>.</param>
    /// <param name="timestampHeader">The request's <see cref="TimestampHeader"/> value (null when it has none).</param>
    /// <param name="signatureHeader">The request's <see cref="SignatureHeader"/> value (null when it has none).</param>
    /// <param name="body">The request body as received.</param>
    /// <param name="time">The receiver's clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="tolerance">How far the timestamp may be from that clock, either way; <see cref="DefaultTolerance"/> when null. A
    /// retried delivery is signed again when it is sent, so only the clocks' difference and the request's transit count.</param>
    public static bool Verify(string secret, string? timestampHeader, string? signatureHeader, ReadOnlySpan<byte> body, TimeProvider? time = null, TimeSpan? tolerance = null)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (timestampHeader is null || signatureHeader is null
            || !long.TryParse(timestampHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var unixSeconds))
        {
            return false;
        }

        var now = (time ?? TimeProvider.System).GetUtcNow().ToUnixTimeSeconds();
        var allowed = (long)(tolerance ?? DefaultTolerance).TotalSeconds;
        if (Math.Abs(now - unixSeconds) > allowed)
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Compute(secret, unixSeconds, body));
        var actual = Encoding.ASCII.GetBytes(signatureHeader);
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }
}
