using System.Globalization;
using CdcPipeline.Core.Configuration;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;

namespace CdcPipeline.Kafka.SchemaRegistry;

/// <summary>
/// The Schema Registry client of a Kafka source or sink, from <c>schemaRegistryUrl</c> and the <c>schemaRegistry:</c>
/// settings. Those are written as the Java clients and Kafka Connect spell them (<c>basic.auth.user.info</c>,
/// <c>basic.auth.credentials.source</c>) or as the .NET client does (<c>schema.registry.basic.auth.user.info</c>):
/// the .NET client reads only keys with the <c>schema.registry.</c> prefix and silently skips every other, so a
/// credential without it was never sent. A key the client does not know is a configuration error naming it.
/// Credentials in the URL (<c>https://user:password@registry:8081</c>, the Java clients' <c>basic.auth.credentials.source=URL</c>)
/// are taken out of it and sent as basic auth: the .NET client neither sends them nor keeps them out of its error
/// messages ("[https://user:password@registry:8081/] HttpRequestException: …"), which go to the log and into dead letters.
/// <c>basic.auth.credentials.source: SASL_INHERIT</c> sends the Kafka client's own <c>sasl.username</c> and <c>sasl.password</c>
/// (of <c>consumer:</c> or <c>producer:</c>), as the Java clients send their SASL credentials: the .NET client looks for them
/// among its own settings, where they never are.
/// </summary>
public static class SchemaRegistrySettings
{
    public const string Prefix = "schema.registry.";

    public const string SaslInherit = "SASL_INHERIT";

    private const string SerializerPrefix = "avro.serializer.";

    private static readonly string[] SaslCredentials = ["sasl.username", "sasl.password"];

    /// <param name="kafkaClient">The <c>consumer:</c> / <c>producer:</c> settings of the same source or sink, for <c>SASL_INHERIT</c>.</param>
    public static SchemaRegistryConfig ToConfig(string url, IReadOnlyDictionary<string, string>? settings, IReadOnlyDictionary<string, string>? kafkaClient = null)
    {
        var (bareUrl, userInfo) = SplitUserInfo(url);
        var config = new SchemaRegistryConfig { Url = bareUrl };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            config.Set(key.StartsWith(Prefix, StringComparison.Ordinal) ? key : Prefix + key, value);
        }

        if (string.Equals(config.Get(Prefix + "basic.auth.credentials.source"), "URL", StringComparison.OrdinalIgnoreCase))
        {
            // The Java clients' name for "the credentials are in the URL"; the .NET client knows only USER_INFO and SASL_INHERIT.
            config.Set(Prefix + "basic.auth.credentials.source", "USER_INFO");
        }

        if (int.TryParse(config.Get(Prefix + "max.retries"), NumberStyles.None, CultureInfo.InvariantCulture, out var retries) && retries == 0)
        {
            // The .NET client makes max.retries attempts, not one plus that many: with 0 it sends no request at all and every
            // call fails with a NullReferenceException. No retry is one attempt.
            config.MaxRetries = 1;
        }

        if (IsSaslInherit(config))
        {
            config.Set(Prefix + "basic.auth.credentials.source", SaslInherit);
            foreach (var name in SaslCredentials)
            {
                if (KafkaClientSettings.Find(kafkaClient, name) is { } value)
                {
                    // Unprefixed: where the .NET client looks for the credentials SASL_INHERIT names.
                    config.Set(name, value);
                }
            }
        }

        if (userInfo is not null && string.IsNullOrEmpty(config.BasicAuthUserInfo))
        {
            config.BasicAuthCredentialsSource ??= AuthCredentialsSource.UserInfo;
            config.BasicAuthUserInfo = userInfo;
        }

        return config;
    }

    /// <summary>
    /// The Avro serializer's settings of a sink's <c>schemaRegistry:</c> map, spelled as the Java serializer (and Kafka Connect's
    /// AvroConverter) spells them or as the .NET one does: <c>auto.register.schemas</c> (default true) and <c>use.latest.version</c>
    /// (default false), e.g. false and true against a registry where schemas are registered ahead, by CI, and producers may
    /// only read. The rest of the map is the registry client's.
    /// </summary>
    /// <exception cref="ConfigurationException">A value that is not true or false, or both set to true.</exception>
    public static (AvroSerializerConfig Serializer, Dictionary<string, string>? Client) SplitSerializerSettings(
        PipelineComponentContext context, IReadOnlyDictionary<string, string>? settings)
    {
        var serializer = new AvroSerializerConfig { AutoRegisterSchemas = true };
        if (settings is null)
        {
            return (serializer, null);
        }

        var client = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in settings)
        {
            var name = key.StartsWith(SerializerPrefix, StringComparison.Ordinal) ? key[SerializerPrefix.Length..] : key;
            if (name is not ("auto.register.schemas" or "use.latest.version"))
            {
                client[key] = value;
                continue;
            }

            if (!bool.TryParse(value, out var flag))
            {
                throw context.Error($"schemaRegistry:{key}", $"must be true or false, not '{value}'");
            }

            if (name == "auto.register.schemas")
            {
                serializer.AutoRegisterSchemas = flag;
            }
            else
            {
                serializer.UseLatestVersion = flag;
            }
        }

        if (serializer.AutoRegisterSchemas == true && serializer.UseLatestVersion == true)
        {
            throw context.Error("schemaRegistry", "use.latest.version: true writes with the subject's latest registered schema and needs auto.register.schemas: false (as Confluent's serializers do)");
        }

        return (serializer, client);
    }

    private static bool IsSaslInherit(SchemaRegistryConfig config) =>
        string.Equals(config.Get(Prefix + "basic.auth.credentials.source"), SaslInherit, StringComparison.OrdinalIgnoreCase);

    /// <summary><paramref name="urls"/> (comma-separated) without <c>user:password@</c>, and the (unescaped) user info of the first that had one.</summary>
    private static (string Urls, string? UserInfo) SplitUserInfo(string urls)
    {
        string? userInfo = null;
        var bare = urls.Split(',').Select(part =>
        {
            var trimmed = part.Trim();
            if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri) || UrlCredentials.Split(uri) is not (var bareUri, { } credentials))
            {
                return trimmed;
            }

            userInfo ??= credentials;
            return bareUri.GetLeftPart(UriPartial.Path).TrimEnd('/');
        });
        return (string.Join(',', bare), userInfo);
    }

    /// <exception cref="ConfigurationException">No URL, or a setting the client refuses.</exception>
    /// <param name="kafkaClient">The Kafka client settings of the same source or sink (for <c>SASL_INHERIT</c>).</param>
    /// <param name="kafkaSection">Their section's name, <c>consumer</c> or <c>producer</c>, for errors.</param>
    public static ISchemaRegistryClient CreateClient(
        PipelineComponentContext context,
        string? url,
        IReadOnlyDictionary<string, string>? settings,
        IReadOnlyDictionary<string, string>? kafkaClient = null,
        string kafkaSection = "consumer")
    {
        if (string.IsNullOrEmpty(url))
        {
            throw context.Error("schemaRegistryUrl", "format avro needs schemaRegistryUrl (e.g. http://schema-registry:8081)");
        }

        try
        {
            var config = ToConfig(url, settings, kafkaClient);
            if (config.Get(Prefix + "max.retries") is { } retries && !int.TryParse(retries, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                throw context.Error("schemaRegistry", $"max.retries must be a whole number of retries, 0 or more, not '{retries}'");
            }

            if (IsSaslInherit(config) && SaslCredentials.Any(name => KafkaClientSettings.Find(kafkaClient, name) is null))
            {
                throw context.Error("schemaRegistry", $"basic.auth.credentials.source SASL_INHERIT sends the Kafka client's sasl.username and sasl.password to the registry, "
                    + $"and {kafkaSection}: has {(KafkaClientSettings.Find(kafkaClient, "sasl.username") is null ? "no sasl.username" : "no sasl.password")}: give them there, or the registry's own credentials as basic.auth.user.info");
            }

            return new CachedSchemaRegistryClient(config);
        }
        catch (UriFormatException e)
        {
            // The client parses each URL; its message ("Invalid URI: Invalid port specified.") names no URL, and the URL is not repeated.
            throw context.Error("schemaRegistryUrl", $"not a valid URL ({e.Message.TrimEnd('.')}): write it as http(s)://host:port, with credentials as https://user:password@host:port, "
                + "and '#', '/', '?' and '@' in the password written as %23, %2F, %3F and %40 (or give them as basic.auth.user.info under schemaRegistry:)");
        }
        catch (ArgumentException e)
        {
            // The client's messages name the key and, at most, a setting's expected form — never a value.
            throw context.Error("schemaRegistry", $"{e.Message} (Schema Registry client settings: basic.auth.user.info, basic.auth.credentials.source, ssl.ca.location, request.timeout.ms, …)");
        }
    }
}
