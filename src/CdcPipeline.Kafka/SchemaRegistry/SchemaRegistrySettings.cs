using CdcPipeline.Core.Configuration;
using Confluent.SchemaRegistry;

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
/// </summary>
public static class SchemaRegistrySettings
{
    public const string Prefix = "schema.registry.";

    public static SchemaRegistryConfig ToConfig(string url, IReadOnlyDictionary<string, string>? settings)
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

        if (userInfo is not null && string.IsNullOrEmpty(config.BasicAuthUserInfo))
        {
            config.BasicAuthCredentialsSource ??= AuthCredentialsSource.UserInfo;
            config.BasicAuthUserInfo = userInfo;
        }

        return config;
    }

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
    public static ISchemaRegistryClient CreateClient(PipelineComponentContext context, string? url, IReadOnlyDictionary<string, string>? settings)
    {
        if (string.IsNullOrEmpty(url))
        {
            throw context.Error("schemaRegistryUrl", "format avro needs schemaRegistryUrl (e.g. http://schema-registry:8081)");
        }

        try
        {
            return new CachedSchemaRegistryClient(ToConfig(url, settings));
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
