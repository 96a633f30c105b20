using System.Globalization;
using System.Net;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using Testcontainers.Kafka;
using Testcontainers.PostgreSql;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// The production stack of docker-compose.yml in Testcontainers: PostgreSQL 15 (logical WAL, the sample
/// schema, seed and the DBA's setup script as init scripts), Kafka (KRaft), Schema Registry and Debezium's
/// Kafka Connect, on one network whose aliases (postgres, kafka, schema-registry, connect) are the hostnames
/// the connector configuration names. The test process reaches each service through its host-mapped port.
/// </summary>
internal sealed class ContainerStack : IAsyncDisposable
{
    /// <summary>The broker's listener for the other containers; the host uses the mapped port of 9092.</summary>
    public const string InternalBootstrap = "kafka:19092";

    private const int ConnectPort = 8083;
    private const int RegistryPort = 8081;
    private const string InitDirectory = "/docker-entrypoint-initdb.d/";

    private readonly INetwork _network;
    private readonly PostgreSqlContainer _postgres;
    private readonly KafkaContainer _kafka;
    private readonly IContainer _registry;
    private readonly IContainer _connect;

    private ContainerStack(INetwork network, PostgreSqlContainer postgres, KafkaContainer kafka, IContainer registry, IContainer connect)
    {
        _network = network;
        _postgres = postgres;
        _kafka = kafka;
        _registry = registry;
        _connect = connect;
    }

    /// <summary>Npgsql connection string (superuser, database legacy) through the host-mapped port.</summary>
    public string PostgresConnectionString => _postgres.GetConnectionString();

    /// <summary>The broker's host-mapped PLAINTEXT listener (host:port, as librdkafka wants it).</summary>
    public string KafkaBootstrap => string.Create(CultureInfo.InvariantCulture, $"{_kafka.Hostname}:{_kafka.GetMappedPublicPort(9092)}");

    public Uri ConnectUrl => new(string.Create(CultureInfo.InvariantCulture, $"http://{_connect.Hostname}:{_connect.GetMappedPublicPort(ConnectPort)}/"));

    public Uri RegistryUrl => new(string.Create(CultureInfo.InvariantCulture, $"http://{_registry.Hostname}:{_registry.GetMappedPublicPort(RegistryPort)}/"));

    /// <summary>
    /// Debezium's Connect image of the PostgreSQL connector version that <c>connector-config/Dockerfile</c> installs
    /// for compose, so that this suite tests the connector the production stack runs and a version bump there
    /// is tested here too.
    /// </summary>
    internal static string DebeziumConnectImage()
    {
        var dockerfile = Path.Combine(KafkaRecords.RepositoryRoot, "connector-config", "Dockerfile");
        var match = System.Text.RegularExpressions.Regex.Match(
            File.ReadAllText(dockerfile), @"debezium/debezium-connector-postgresql:(?<version>\d+\.\d+\.\d+)\b");
        return match.Success
            ? $"quay.io/debezium/connect:{match.Groups["version"].Value}.Final"
            : throw new InvalidOperationException($"{dockerfile} installs no debezium/debezium-connector-postgresql:<x.y.z>: the end-to-end suite takes Debezium's version from there");
    }

    /// <summary>
    /// Builds the containers (this is where Testcontainers throws <see cref="DockerUnavailableException"/>
    /// without an engine), then starts them: PostgreSQL and Kafka together, then the two services that
    /// need the broker. Whatever started is disposed again when a later start fails.
    /// </summary>
    public static async Task<ContainerStack> StartAsync(CancellationToken cancellationToken)
    {
        var samples = Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders");
        var setup = Path.Combine(KafkaRecords.RepositoryRoot, "connector-config", "postgres-setup.sql");
        var network = new NetworkBuilder().Build();

        // Init scripts run in file-name order, into POSTGRES_DB (legacy): tables, rows, then the cdc role,
        // the publication and REPLICA IDENTITY FULL that postgres-setup.sql adds for Debezium and the rules.
        var postgres = new PostgreSqlBuilder("postgres:15")
            .WithNetwork(network)
            .WithNetworkAliases("postgres")
            .WithDatabase("legacy")
            .WithUsername("postgres")
            .WithPassword("postgres")
            .WithCommand("-c", "wal_level=logical", "-c", "max_replication_slots=10", "-c", "max_wal_senders=10")
            .WithResourceMapping(await File.ReadAllBytesAsync(Path.Combine(samples, "schema.sql"), cancellationToken), InitDirectory + "01-schema.sql")
            .WithResourceMapping(await File.ReadAllBytesAsync(Path.Combine(samples, "seed.sql"), cancellationToken), InitDirectory + "02-seed.sql")
            .WithResourceMapping(await File.ReadAllBytesAsync(setup, cancellationToken), InitDirectory + "03-postgres-setup.sql")
            .Build();

        // WithListener adds a listener on kafka:19092 and the alias "kafka" on the network, which is what
        // Connect and Schema Registry bootstrap from; the advertised PLAINTEXT listener stays the host's.
        var kafka = new KafkaBuilder("confluentinc/cp-kafka:7.7.1")
            .WithKRaft()
            .WithNetwork(network)
            .WithListener(InternalBootstrap)
            .Build();

        var registry = new ContainerBuilder("confluentinc/cp-schema-registry:7.7.1")
            .WithNetwork(network)
            .WithNetworkAliases("schema-registry")
            .WithEnvironment("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
            .WithEnvironment("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:" + RegistryPort.ToString(CultureInfo.InvariantCulture))
            .WithEnvironment("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", "PLAINTEXT://" + InternalBootstrap)
            .WithPortBinding(RegistryPort, assignRandomHostPort: true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(
                r => r.ForPort(RegistryPort).ForPath("/subjects").ForStatusCode(HttpStatusCode.OK),
                w => w.WithTimeout(TimeSpan.FromMinutes(2))))
            .Build();

        // The connector version compose runs (connector-config/Dockerfile), in Debezium's own image: its image has no Confluent Avro converter, so the worker and the connector use the JSON
        // converter with schemas (the pipeline's format: json path). One broker: replication factor 1 (the
        // image turns CONNECT_* variables into worker properties: config.storage.replication.factor etc.).
        var connect = new ContainerBuilder(DebeziumConnectImage())
            .WithNetwork(network)
            .WithNetworkAliases("connect")
            .WithEnvironment("BOOTSTRAP_SERVERS", InternalBootstrap)
            .WithEnvironment("GROUP_ID", "cdc-e2e-connect")
            .WithEnvironment("CONFIG_STORAGE_TOPIC", "cdc_e2e_connect_configs")
            .WithEnvironment("OFFSET_STORAGE_TOPIC", "cdc_e2e_connect_offsets")
            .WithEnvironment("STATUS_STORAGE_TOPIC", "cdc_e2e_connect_statuses")
            .WithEnvironment("CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR", "1")
            .WithEnvironment("CONNECT_OFFSET_STORAGE_REPLICATION_FACTOR", "1")
            .WithEnvironment("CONNECT_STATUS_STORAGE_REPLICATION_FACTOR", "1")
            .WithEnvironment("KEY_CONVERTER", "org.apache.kafka.connect.json.JsonConverter")
            .WithEnvironment("VALUE_CONVERTER", "org.apache.kafka.connect.json.JsonConverter")
            .WithPortBinding(ConnectPort, assignRandomHostPort: true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(
                r => r.ForPort(ConnectPort).ForPath("/connectors").ForStatusCode(HttpStatusCode.OK),
                w => w.WithTimeout(TimeSpan.FromMinutes(3))))
            .Build();

        var stack = new ContainerStack(network, postgres, kafka, registry, connect);
        try
        {
            await network.CreateAsync(cancellationToken);
            await Task.WhenAll(postgres.StartAsync(cancellationToken), kafka.StartAsync(cancellationToken));
            await Task.WhenAll(registry.StartAsync(cancellationToken), connect.StartAsync(cancellationToken));
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    /// <summary>The last lines of Connect's log: why a connector failed is only ever written there.</summary>
    public async Task<string> ConnectLogTailAsync()
    {
        var (stdout, stderr) = await _connect.GetLogsAsync();
        var lines = (stdout + stderr).Split('\n');
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 60)));
    }

    public async ValueTask DisposeAsync()
    {
        // Each disposal on its own: a container that never started must not keep the others alive.
        foreach (var container in new IAsyncDisposable[] { _connect, _registry, _kafka, _postgres })
        {
            try
            {
                await container.DisposeAsync();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                TestContext.Current.SendDiagnosticMessage("disposing a container failed: " + e.Message);
            }
        }

        // The network goes last, when no container is attached any more (Ryuk would reap it otherwise).
        try
        {
            await _network.DisposeAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TestContext.Current.SendDiagnosticMessage("removing the test network failed: " + e.Message);
        }
    }
}
