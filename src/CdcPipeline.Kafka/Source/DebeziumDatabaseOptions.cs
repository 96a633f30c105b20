namespace CdcPipeline.Kafka.Source;

/// <summary>How Kafka Connect reaches the legacy database (as seen from the Connect container).</summary>
public sealed class DebeziumDatabaseOptions
{
    public string Hostname { get; set; } = "postgres";

    public int Port { get; set; } = 5432;

    public string User { get; set; } = "cdc";

    /// <summary>Write <c>${CDC_DB_PASSWORD}</c> or Connect's <c>${file:…}</c> config-provider syntax; never logged.</summary>
    public string Password { get; set; } = "";

    public string Dbname { get; set; } = "legacy";
}
