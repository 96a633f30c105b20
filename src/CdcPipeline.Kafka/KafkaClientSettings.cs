using System.Globalization;
using CdcPipeline.Core.Configuration;
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

    /// <summary>
    /// Start-up check of a <c>consumer:</c> / <c>producer:</c> map: librdkafka itself judges the merged
    /// configuration (it creates a client, which connects to nothing until it is used). A key it does not
    /// know (<c>lingr.ms</c>) or a value it refuses is a <see cref="ConfigurationException"/> naming that
    /// key's line, instead of librdkafka's bare message at the first poll or delivery.
    /// </summary>
    public static void Validate(ClientConfig config, IReadOnlyDictionary<string, string>? settings, PipelineComponentContext context, string section)
    {
        try
        {
            using IDisposable client = config switch
            {
                ConsumerConfig consumer => new ConsumerBuilder<Null, Null>(consumer).SetLogHandler((_, _) => { }).Build(),
                ProducerConfig producer => new ProducerBuilder<Null, Null>(producer).SetLogHandler((_, _) => { }).Build(),
                _ => throw new NotSupportedException($"{config.GetType().Name}: only a ConsumerConfig or a ProducerConfig can be checked"),
            };
        }
        catch (Exception e) when (e is ArgumentException or KafkaException or InvalidOperationException)
        {
            // librdkafka names the property it refused: No such configuration property: "lingr.ms"
            var key = settings?.Keys.OrderByDescending(k => k.Length).FirstOrDefault(k => e.Message.Contains(k, StringComparison.Ordinal));
            var reason = IsSecret(key ?? "") ? "librdkafka refused this setting" : e.Message.TrimEnd('.');
            throw context.Error(
                key is null ? section : $"{section}:{key}",
                $"{reason} (see librdkafka's CONFIGURATION.md for the {section} settings it knows)");
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
