using System.Globalization;
using CdcPipeline.Core.Configuration;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;

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
        foreach (var name in (string[])["bootstrap.servers", "metadata.broker.list"])
        {
            if (CredentialsIn(config.Get(name), $"under {section}:") is { } credentials)
            {
                var given = settings?.Keys.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
                throw context.Error(given is null ? "bootstrapServers" : $"{section}:{given}", credentials);
            }
        }

        if (Find(settings, "bootstrap.servers") is { } servers && Find(settings, "metadata.broker.list") is { } alias
            && !string.Equals(KafkaCluster.Key(servers), KafkaCluster.Key(alias), StringComparison.Ordinal))
        {
            throw context.Error(
                $"{section}:{KeyOf(settings, "metadata.broker.list")}",
                $"names other servers than bootstrap.servers under {section}: (metadata.broker.list is librdkafka's other name for it, and which one it "
                    + "uses depends on their order); give the cluster once, as bootstrapServers (or one of the two here)");
        }

        if (Refusal(config, settings) is var (key, reason))
        {
            throw context.Error(
                key is null ? section : $"{section}:{key}",
                $"{reason} (see librdkafka's CONFIGURATION.md for the {section} settings it knows)");
        }
    }

    /// <summary>
    /// What librdkafka refuses in <paramref name="config"/> (it creates a client, which connects to nothing until it is used):
    /// the key of <paramref name="settings"/> its message names (null when it names none) and why, never a secret's value;
    /// null when it takes the configuration.
    /// </summary>
    public static (string? Key, string Reason)? Refusal(ClientConfig config, IReadOnlyDictionary<string, string>? settings)
    {
        try
        {
            using IDisposable client = config switch
            {
                ConsumerConfig consumer => new ConsumerBuilder<Null, Null>(consumer).SetLogHandler((_, _) => { }).Build(),
                ProducerConfig producer => new ProducerBuilder<Null, Null>(producer).SetLogHandler((_, _) => { }).Build(),
                _ => new ProducerBuilder<Null, Null>(new ProducerConfig(config.ToDictionary(kv => kv.Key, kv => kv.Value))).SetLogHandler((_, _) => { }).Build(),
            };
            return null;
        }
        catch (Exception e) when (e is ArgumentException or KafkaException or InvalidOperationException)
        {
            // librdkafka names the property it refused: No such configuration property: "lingr.ms"
            // or only the value it refused: Unsupported SASL mechanism: PLAINX (a secret's value is never looked for).
            var key = settings?.Keys.OrderByDescending(k => k.Length).FirstOrDefault(k => e.Message.Contains(k, StringComparison.Ordinal))
                ?? settings?.Where(s => !IsSecret(s.Key) && s.Value.Length > 0 && e.Message.Contains(s.Value, StringComparison.Ordinal))
                    .OrderByDescending(s => s.Value.Length).Select(s => s.Key).FirstOrDefault();
            return (key, IsSecret(key ?? "") ? "librdkafka refused this setting" : e.Message.TrimEnd('.'));
        }
    }

    /// <summary>
    /// Why <paramref name="servers"/> cannot be librdkafka's <c>bootstrap.servers</c> because a broker in it carries credentials
    /// (<c>SASL_SSL://user:password@broker:9092</c>, as the Schema Registry and Connect URLs take them); null when none does.
    /// librdkafka takes no credentials there: it looks <c>user:password@broker</c> up as a host name and names it in each
    /// connection error it reports, which goes to the log and into the errors of <c>replay</c> and <c>dlq</c>. The reason
    /// never repeats the servers. A host name never contains <c>@</c>, so any <c>@</c> is credentials.
    /// </summary>
    /// <param name="settings">Where the credentials belong instead, e.g. <c>under consumer:</c>.</param>
    public static string? CredentialsIn(string? servers, string settings)
    {
        if (servers is null || !servers.Contains('@', StringComparison.Ordinal))
        {
            return null;
        }

        var brokers = servers.Split(',');
        var broker = Array.FindIndex(brokers, b => b.Contains('@', StringComparison.Ordinal)) + 1;
        return string.Create(CultureInfo.InvariantCulture, $"broker {broker} of {brokers.Length} holds credentials (user:password@ before its host), which librdkafka does not take there: ")
            + "it would look them up as part of the host name and print them in every connection error. Write only [protocol://]host:port here, "
            + $"and give the credentials as sasl.username and sasl.password {settings} (with security.protocol SASL_SSL and sasl.mechanism PLAIN or SCRAM-SHA-512)";
    }

    /// <summary>
    /// The servers a client made from <paramref name="configured"/> (the section's <c>bootstrapServers</c>) and its
    /// <c>consumer:</c> / <c>producer:</c> <paramref name="settings"/> connects to: <c>bootstrap.servers</c> there (or its
    /// alias <c>metadata.broker.list</c>) wins, as every setting there does. Everything that must reach the same cluster as
    /// that client (the dead letters, exactly-once's pairing of source and sink, the check that a source does not read its own
    /// output, <c>replay</c> and <c>dlq</c>) takes the servers from here. <c>Key</c> is where they are set, relative to the section.
    /// </summary>
    public static (string Servers, string Key) ServersOf(string? configured, IReadOnlyDictionary<string, string>? settings, string section) =>
        Find(settings, "bootstrap.servers") is { } servers ? (servers, $"{section}:{KeyOf(settings, "bootstrap.servers")}")
        : Find(settings, "metadata.broker.list") is { } alias ? (alias, $"{section}:{KeyOf(settings, "metadata.broker.list")}")
        : (configured ?? "", "bootstrapServers");

    /// <summary><see cref="ServersOf(string?, IReadOnlyDictionary{string, string}?, string)"/> of a Kafka section (<c>source:kafka</c>, <c>sinks:0:kafka</c>) and its client settings map.</summary>
    public static (string Servers, string Key) ServersOf(IConfigurationSection section, string clientSettings) =>
        ServersOf(section["bootstrapServers"], Settings(section.GetSection(clientSettings)), clientSettings);

    /// <summary>The settings of a <c>consumer:</c> / <c>producer:</c> map as written.</summary>
    public static Dictionary<string, string> Settings(IConfigurationSection map) =>
        map.GetChildren().Where(s => s.Value is not null).ToDictionary(s => s.Key, s => s.Value!, StringComparer.Ordinal);

    private static string KeyOf(IReadOnlyDictionary<string, string>? settings, string name) =>
        settings?.Keys.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) ?? name;

    /// <summary>The value of librdkafka setting <paramref name="name"/> in <paramref name="settings"/>, its key in any case; null when absent.</summary>
    public static string? Find(IReadOnlyDictionary<string, string>? settings, string name) =>
        settings?.FirstOrDefault(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>True for librdkafka keys whose values must never be logged or printed.</summary>
    public static bool IsSecret(string key) =>
        key.Contains("password", StringComparison.OrdinalIgnoreCase)
        || key.Contains("secret", StringComparison.OrdinalIgnoreCase)
        || key.Contains("sasl.jaas", StringComparison.OrdinalIgnoreCase)
        || key.Contains("token", StringComparison.OrdinalIgnoreCase)
        || key.Contains("key.pem", StringComparison.OrdinalIgnoreCase)
        || key.Equals("ssl.key", StringComparison.OrdinalIgnoreCase)
        || key.Contains("basic.auth.user.info", StringComparison.OrdinalIgnoreCase);
}
