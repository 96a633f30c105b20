namespace CdcPipeline.Kafka.Source;

/// <summary>How Kafka Connect reaches the legacy database (as seen from the Connect container).</summary>
public sealed class DebeziumDatabaseOptions
{
    public string Hostname { get; set; } = "postgres";

    public int Port { get; set; } = 5432;

    public string User { get; set; } = "cdc";

    /// <summary>
    /// Best a reference the Connect worker resolves, <c>${env:CDC_DB_PASSWORD}</c> or <c>${file:…}</c>. A literal (or
    /// <c>${CDC_DB_PASSWORD}</c>, which the pipeline config loader expands) is sent by <c>connector apply</c> and stored by
    /// Connect in its config topic; <c>connector render</c> and <c>apply</c> print it as <c>[hidden]</c>.
    /// </summary>
    public string Password { get; set; } = "";

    public string Dbname { get; set; } = "legacy";
}
