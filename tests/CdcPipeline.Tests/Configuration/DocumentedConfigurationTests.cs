using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Hosting;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Configuration;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Configuration;

/// <summary>
/// The configuration keys the design promises to keep (ARCHITECTURE.md, "Configuration"), written as it writes them, pass
/// the start's checks with the services <c>run</c> registers: a key renamed or dropped fails here as an unknown key.
/// </summary>
public sealed class DocumentedConfigurationTests : IDisposable
{
    private const string Sinks = """
        rules: rules/
        sinks:
          - name: audit
            file: { path: out/events.jsonl }
          - name: domain
            kafka: { bootstrapServers: "localhost:9092", topic: "domain.{type}" }
          - name: billing-hook
            webhook: { url: "https://billing.example/hooks/cdc", secret: "${BILLING_HOOK_SECRET}" }
            types: [OrderPlaced, OrderCancelled]
            onFailure: retry
          - name: rabbit
            rabbitmq: { uri: "amqp://guest:guest@localhost:5672/", exchange: domain-events }
          - name: redis
            redis: { configuration: "localhost:6379", stream: "domain:{type}" }
          - name: projection
            postgres: { connectionString: "Host=127.0.0.1;Database=projection", table: domain_events }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-documented-").FullName;

    public DocumentedConfigurationTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "rules"));
        File.WriteAllText(Path.Combine(_dir, "rules", "tb_order.yaml"), """
            table: public.tb_order
            key: ord_no
            events:
              - type: OrderPlaced
                when: op == "c"
                data: { orderId: after.ord_no }
            """);
    }

    [Fact]
    public void The_documented_embedded_source_and_sinks_pass_the_start_checks()
    {
        var plan = Validate("""
            name: legacy-orders
            source:
              postgres:
                connectionString: "Host=127.0.0.1;Port=5432;Username=cdc;Password=secret;Database=legacy"
                publication: cdc_pub
                slot: cdc_slot
                tables: [public.tb_order, public.tb_customer]
                snapshot: initial_only
            """);

        var postgres = PostgresSourceFactory.ToOptions(Context(plan, "source:postgres"));
        Assert.Equal(("cdc_pub", "cdc_slot"), (postgres.Publication, postgres.Slot));
        Assert.Equal(["public.tb_order", "public.tb_customer"], postgres.Tables);
        Assert.Equal(SnapshotMode.InitialOnly, postgres.Snapshot);
        Assert.Equal(["audit", "domain", "billing-hook", "rabbit", "redis", "projection"], plan.Configuration.Root.GetSection("sinks").GetChildren().Select(s => s["name"]));
    }

    [Theory]
    [InlineData("initial", SnapshotMode.Initial)]
    [InlineData("never", SnapshotMode.Never)]
    [InlineData("initial_only", SnapshotMode.InitialOnly)]
    public void Each_documented_snapshot_mode_binds(string mode, SnapshotMode expected)
    {
        var plan = Validate($"""
            name: legacy-orders
            source:
              postgres:
                connectionString: "Host=127.0.0.1;Database=legacy"
                publication: cdc_pub
                slot: cdc_slot
                snapshot: {mode}
            """);

        Assert.Equal(expected, PostgresSourceFactory.ToOptions(Context(plan, "source:postgres")).Snapshot);
    }

    [Theory]
    [InlineData("    format: avro\n    schemaRegistryUrl: \"http://localhost:8081\"\n    autoOffsetReset: earliest\n", "avro", "earliest")]
    [InlineData("    format: json\n", "json", "earliest")]
    public void The_documented_kafka_source_passes_the_start_checks_and_a_new_group_starts_at_the_earliest_change(string extra, string format, string reset)
    {
        var plan = Validate("""
            name: legacy-orders
            source:
              kafka:
                bootstrapServers: "localhost:9092"
                groupId: cdc-translator
                topics: [legacy.public.tb_order]

            """ + extra);

        var kafka = Context(plan, "source:kafka").Bind<KafkaSourceOptions>();
        Assert.Equal((format, reset), (kafka.Format, kafka.AutoOffsetReset));
        Assert.Equal("earliest", KafkaSourceFactory.BuildConsumerConfig(kafka, "legacy-orders").AutoOffsetReset?.ToString().ToLowerInvariant());
    }

    [Theory]
    [InlineData("source.postgres", "source:\n  postgres:\n    connectionString: 'Host=127.0.0.1;Port=abc;Password=hunter2'\n    publication: cdc_pub\n    slot: cdc_slot\nsinks:\n  - name: a\n    file: { path: a }\n")]
    [InlineData("source.postgres", "source:\n  postgres:\n    connectionString: 'Host=127.0.0.1;Password=hunter2;Bogus=1'\n    publication: cdc_pub\n    slot: cdc_slot\nsinks:\n  - name: a\n    file: { path: a }\n")]
    [InlineData("sinks.0.postgres", "source:\n  test: {}\nsinks:\n  - name: projection\n    postgres: { connectionString: 'Host=127.0.0.1;Port=abc;Password=hunter2', table: domain_events }\n")]
    [InlineData("sinks.0.rabbitmq", "source:\n  test: {}\nsinks:\n  - name: rabbit\n    rabbitmq: { uri: 'amqp://guest:hunter2@localhost:notaport/', exchange: domain-events }\n")]
    [InlineData("sinks.0.redis", "source:\n  test: {}\nsinks:\n  - name: redis\n    redis: { configuration: 'localhost:6379,password=hunter2,bogus=1', stream: 'domain:{type}' }\n")]
    [InlineData("sinks.0.webhook", "source:\n  test: {}\nsinks:\n  - name: hook\n    webhook: { url: 'https://user:hunter2@billing.example:port/hooks', secret: abc }\n")]
    public void A_bad_setting_that_holds_a_secret_is_refused_without_printing_the_secret(string key, string yaml)
    {
        var path = Path.Combine(_dir, "secret.yaml");
        File.WriteAllText(path, "name: legacy-orders\n" + yaml);
        var services = new ServiceCollection().AddCdcPipeline().AddSingleton<ISourceFactory, MemorySourceFactory>().BuildServiceProvider();
        _services.Add(services);

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Validate(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    private PipelinePlan Validate(string source)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, source.TrimEnd('\n') + "\n" + Sinks + "\n");
        var configuration = PipelineConfiguration.Load(path, name => name == "BILLING_HOOK_SECRET" ? "s3cret" : null);
        var services = new ServiceCollection().AddCdcPipeline().BuildServiceProvider();
        _services.Add(services);
        return PipelineBuilder.Validate(configuration, services);
    }

    private readonly List<ServiceProvider> _services = [];

    private PipelineComponentContext Context(PipelinePlan plan, string key) =>
        new("source", plan.Configuration.Root.GetSection(key), plan.Configuration.Options, plan.Configuration.Locations, plan.Configuration.BaseDirectory, _services[^1]);

    private sealed class MemorySourceFactory : ISourceFactory
    {
        public string Kind => "test";

        public Core.Pipeline.IChangeSource Create(PipelineComponentContext context) => new InMemoryChangeSource();
    }

    public void Dispose()
    {
        foreach (var services in _services)
        {
            services.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
    }
}
