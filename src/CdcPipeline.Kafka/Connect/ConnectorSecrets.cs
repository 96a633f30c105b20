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

    private static bool IsReference(string value) =>
        value.StartsWith("${", StringComparison.Ordinal) && value.EndsWith('}') && value.IndexOf('}', StringComparison.Ordinal) == value.Length - 1 && value.Contains(':', StringComparison.Ordinal);
}
