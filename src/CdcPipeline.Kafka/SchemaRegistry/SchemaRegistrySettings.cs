using CdcPipeline.Core.Configuration;
using Confluent.SchemaRegistry;

namespace CdcPipeline.Kafka.SchemaRegistry;

/// <summary>
/// The Schema Registry client of a Kafka source or sink, from <c>schemaRegistryUrl</c> and the <c>schemaRegistry:</c>
/// settings. Those are written as the Java clients and Kafka Connect spell them (<c>basic.auth.user.info</c>,
/// <c>basic.auth.credentials.source</c>) or as the .NET client does (<c>schema.registry.basic.auth.user.info</c>):
/// the .NET client reads only keys with the <c>schema.registry.</c> prefix and silently skips every other, so a
/// credential without it was never sent. A key the client does not know is a configuration error naming it.
/// </summary>
public static class SchemaRegistrySettings
{
    public const string Prefix = "schema.registry.";

    public static SchemaRegistryConfig ToConfig(string url, IReadOnlyDictionary<string, string>? settings)
    {
        var config = new SchemaRegistryConfig { Url = url };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            config.Set(key.StartsWith(Prefix, StringComparison.Ordinal) ? key : Prefix + key, value);
        }

        return config;
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
        catch (ArgumentException e)
        {
            // The client's messages name the key and, at most, a setting's expected form — never a value.
            throw context.Error("schemaRegistry", $"{e.Message} (Schema Registry client settings: basic.auth.user.info, basic.auth.credentials.source, ssl.ca.location, request.timeout.ms, …)");
        }
    }
}
