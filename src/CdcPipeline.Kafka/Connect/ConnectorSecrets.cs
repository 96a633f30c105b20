using System.Text.Json.Nodes;

namespace CdcPipeline.Kafka.Connect;

/// <summary>
/// Hides secret values in a connector configuration before it is shown. Connect answers a config change with the
/// config as stored, so a literal <c>database.password</c> would come back to the terminal (and into CI logs).
/// A config-provider reference (<c>${env:CDC_DB_PASSWORD}</c>, <c>${file:/secrets/db.properties:password}</c>)
/// is no secret and stays visible: it says where the secret comes from.
/// </summary>
public static class ConnectorSecrets
{
    /// <summary>What Connect itself prints for a password-type value.</summary>
    public const string Hidden = "[hidden]";

    /// <summary>
    /// A copy of <paramref name="node"/> (a connector config, or Connect's connector info with a <c>config</c> object)
    /// whose secret values are <see cref="Hidden"/>.
    /// </summary>
    public static JsonNode? Redact(JsonNode? node)
    {
        if (node?.DeepClone() is not JsonObject copy)
        {
            return node?.DeepClone();
        }

        var config = copy["config"] as JsonObject ?? copy;
        foreach (var key in config.Select(p => p.Key).ToList())
        {
            if (IsSecret(key) && config[key] is JsonValue value && value.TryGetValue<string>(out var text) && !IsReference(text))
            {
                config[key] = Hidden;
            }
            else if (config[key] is JsonValue url && url.TryGetValue<string>(out var address) && WithoutPassword(address) is { } shown)
            {
                config[key] = shown;
            }
        }

        return copy;
    }

    /// <summary>
    /// Keys that carry a secret: passwords (<c>database.password</c>, <c>database.sslpassword</c>, <c>*.ssl.key.password</c>),
    /// Schema Registry credentials (<c>*.basic.auth.user.info</c>) and SASL logins (<c>*.sasl.jaas.config</c>).
    /// </summary>
    private static bool IsSecret(string key) =>
        key.EndsWith("password", StringComparison.OrdinalIgnoreCase)
        || key.EndsWith("basic.auth.user.info", StringComparison.OrdinalIgnoreCase)
        || key.EndsWith("sasl.jaas.config", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// <paramref name="value"/> with the password of its URLs (comma-separated, <c>https://user:password@host</c>, as a converter's
    /// <c>schema.registry.url</c> carries it for <c>basic.auth.credentials.source=URL</c>) hidden; null when there is none.
    /// </summary>
    private static string? WithoutPassword(string value)
    {
        var changed = false;
        var parts = value.Split(',').Select(part =>
        {
            var at = part.IndexOf('@', StringComparison.Ordinal);
            var scheme = part.IndexOf("://", StringComparison.Ordinal);
            if (scheme < 0 || at < scheme || part.IndexOf('/', scheme + 3) is var slash and >= 0 && slash < at)
            {
                return part;
            }

            var colon = part.IndexOf(':', scheme + 3);
            if (colon < 0 || colon > at || part.AsSpan(colon + 1, at - colon - 1).SequenceEqual(Hidden))
            {
                return part;
            }

            changed = true;
            return string.Concat(part.AsSpan(0, colon + 1), Hidden, part.AsSpan(at));
        }).ToList();
        return changed ? string.Join(',', parts) : null;
    }

    private static bool IsReference(string value) =>
        value.StartsWith("${", StringComparison.Ordinal) && value.EndsWith('}') && value.IndexOf('}', StringComparison.Ordinal) == value.Length - 1 && value.Contains(':', StringComparison.Ordinal);
}
