using System.Globalization;
using Confluent.Kafka;

namespace CdcPipeline.Kafka;

/// <summary>
/// librdkafka settings from a <c>consumer:</c> / <c>producer:</c> map, passed through untouched
/// (TLS, SASL, timeouts), and a way to show them without their secrets.
/// </summary>
public static class KafkaClientSettings
{
    /// <summary>Copies <paramref name="settings"/> onto <paramref name="config"/> (after our own defaults, so the user has the last word).</summary>
    public static void Apply(ClientConfig config, IReadOnlyDictionary<string, string>? settings)
    {
        if (settings is null)
        {
            return;
        }

        foreach (var (key, value) in settings)
        {
            config.Set(key, value);
        }
    }

    /// <summary>True for librdkafka keys whose values must never be logged or printed.</summary>
    public static bool IsSecret(string key) =>
        key.Contains("password", StringComparison.OrdinalIgnoreCase)
        || key.Contains("secret", StringComparison.OrdinalIgnoreCase)
        || key.Contains("sasl.jaas", StringComparison.OrdinalIgnoreCase)
        || key.Contains("token", StringComparison.OrdinalIgnoreCase)
        || key.Contains("key.pem", StringComparison.OrdinalIgnoreCase)
        || key.Equals("ssl.key", StringComparison.OrdinalIgnoreCase)
        || key.Contains("basic.auth.user.info", StringComparison.OrdinalIgnoreCase);

    /// <summary><c>key=value, …</c> with secret values replaced by <c>***</c>: safe for logs.</summary>
    public static string Describe(IEnumerable<KeyValuePair<string, string>> config) =>
        string.Join(", ", config.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key}={(IsSecret(kv.Key) ? "***" : kv.Value)}")));
}
