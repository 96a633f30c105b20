using System.Text.Json.Nodes;
using CdcPipeline.Kafka.Connect;

namespace CdcPipeline.Tests.Kafka;

/// <summary>What <c>connector apply</c> prints of the config Connect stored.</summary>
public class ConnectorSecretsTests
{
    [Fact]
    public void A_password_in_a_converters_schema_registry_url_is_hidden_and_the_rest_of_the_url_stays()
    {
        // AvroConverter with basic.auth.credentials.source=URL reads its registry login from the URL.
        var info = JsonNode.Parse("""
            {"name":"c","config":{"value.converter.schema.registry.url":"https://cdc:hunter2@schema-registry:8081","key.converter.schema.registry.url":"http://schema-registry:8081/a@b"}}
            """);
        var shown = ConnectorSecrets.Redact(info)!.ToJsonString();
        Assert.DoesNotContain("hunter2", shown, StringComparison.Ordinal);
        Assert.Equal($"https://cdc:{ConnectorSecrets.Hidden}@schema-registry:8081", ConnectorSecrets.Redact(info)!["config"]!["value.converter.schema.registry.url"]!.GetValue<string>());
        Assert.Equal("http://schema-registry:8081/a@b", ConnectorSecrets.Redact(info)!["config"]!["key.converter.schema.registry.url"]!.GetValue<string>());
    }
}
