using CdcPipeline.Kafka;
using Confluent.Kafka;

namespace CdcPipeline.Tests.Kafka;

public sealed class ClientLogTailTests
{
    [Fact]
    public async Task Librdkafkas_warning_is_kept_without_the_credentials_of_a_url_it_names()
    {
        // librdkafka logs the OIDC token endpoint it could not reach as configured: "Failed to retrieve OIDC token from
        // "https://idp:password@host/token": …". replay and dlq print the last such line in their error.
        var tail = new ClientLogTail();
        var config = new ConsumerConfig
        {
            BootstrapServers = "127.0.0.1:9",
            GroupId = "g",
            SecurityProtocol = SecurityProtocol.SaslPlaintext,
            SaslMechanism = SaslMechanism.OAuthBearer,
            SaslOauthbearerMethod = SaslOauthbearerMethod.Oidc,
            SaslOauthbearerClientId = "cdc",
            SaslOauthbearerClientSecret = "client-secret",
            SaslOauthbearerTokenEndpointUrl = "http://idp:S3cret-pw@127.0.0.1:9/token",
        };
        using var consumer = new ConsumerBuilder<Null, Null>(config).SetLogHandler(tail.Handle).Build();
        consumer.Subscribe("t");
        for (var i = 0; i < 300 && tail.Last?.Contains("OIDC", StringComparison.Ordinal) != true; i++)
        {
            consumer.Consume(100);
            await Task.Yield();
        }

        Assert.Contains("Failed to retrieve OIDC token from \"http://***@127.0.0.1:9/token\"", tail.Last, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret", tail.Last, StringComparison.Ordinal);
    }
}
