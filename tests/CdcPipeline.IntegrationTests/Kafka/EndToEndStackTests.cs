namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// The end-to-end suite (PostgreSQL + Kafka + Schema Registry + Debezium Connect in containers: register
/// the connector, write legacy rows, assert domain events; replay by timestamp). Docker is probed once
/// per run, cheaply (the engine's socket or DOCKER_HOST), so the skip costs nothing on machines without it.
/// </summary>
public sealed class EndToEndStackTests
{
    private static readonly Lazy<string?> DockerMissing = new(() =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } || File.Exists("/var/run/docker.sock")
            ? null
            : "no Docker engine (neither DOCKER_HOST nor /var/run/docker.sock)");

    [Fact]
    public void Debezium_to_domain_topics_through_the_containerised_stack()
    {
        if (DockerMissing.Value is { } reason)
        {
            Assert.Skip(reason + ": the containerised end-to-end suite needs one");
        }

        Assert.Skip("Docker is present, but the containerised end-to-end suite is not written yet (see the Kafka branch report); use 'docker compose up' and README's walkthrough meanwhile");
    }
}
