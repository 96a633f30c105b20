namespace CdcPipeline.Kafka;

/// <summary>How the configuration tells Kafka clusters apart: by their bootstrap servers, in any order and case.</summary>
public static class KafkaCluster
{
    /// <summary>The same for two <c>bootstrapServers</c> values naming the same brokers.</summary>
    public static string Key(string servers) =>
        string.Join(",", servers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order(StringComparer.OrdinalIgnoreCase)).ToUpperInvariant();

    public static bool Same(string? a, string? b) =>
        !string.IsNullOrWhiteSpace(a) && !string.IsNullOrWhiteSpace(b) && string.Equals(Key(a), Key(b), StringComparison.Ordinal);
}
