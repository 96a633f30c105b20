using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Sinks;
using CdcPipeline.Sinks.Batch;
using CdcPipeline.Sinks.Postgres;
using CdcPipeline.Sinks.RabbitMq;
using CdcPipeline.Sinks.Redis;
using CdcPipeline.Sinks.Webhook;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Sinks;

/// <summary>Each sink kind binds its YAML strictly: a mistake names file, line, key and reason — and never echoes a secret.</summary>
public class SinkFactoryConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-sink-config-").FullName;

    private ISink Create(string sinkYaml) => WithFactory(sinkYaml, (factory, context) => factory.Create(context));

    /// <summary>What the pipeline does for every sink before it builds any (nothing built, nothing taken).</summary>
    private void Validate(string sinkYaml) => WithFactory<object?>(sinkYaml, (factory, context) =>
    {
        factory.Validate(context);
        return null;
    });

    private T WithFactory<T>(string sinkYaml, Func<ISinkFactory, PipelineComponentContext, T> use)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, "name: t\nsinks:\n  - name: s\n" + string.Join('\n', sinkYaml.Split('\n').Select(l => "    " + l)) + "\n");
        var configuration = PipelineConfiguration.Load(path, _ => null);
        using var services = new ServiceCollection().AddCdcCore().AddCdcSinks().AddCdcBatch().BuildServiceProvider();
        var section = configuration.Root.GetSection("sinks:0");
        var factories = services.GetServices<ISinkFactory>().ToDictionary(f => f.Kind);
        var kind = configuration.KindOf(section, SinkCommonOptions.Keys, factories.Keys);
        return use(factories[kind], new PipelineComponentContext("s", section.GetSection(kind), configuration.Options, configuration.Locations, configuration.BaseDirectory, services));
    }

    [Fact]
    public async Task Every_kind_builds_from_its_documented_yaml_without_connecting()
    {
        await using var webhook = Create("webhook: { url: 'https://billing.example/hooks/cdc', secret: abc, timeout: '00:00:05', headers: { X-Api-Key: k }, mode: binary }");
        await using var rabbit = Create("rabbitmq: { uri: 'amqp://guest:guest@127.0.0.1:5672/', exchange: domain-events, exchangeType: topic, routingKey: '{type}' }");
        await using var stream = Create("redis: { configuration: '127.0.0.1:6379', stream: 'domain:{type}', maxLength: 100000 }");
        await using var pubsub = Create("redis: { configuration: '127.0.0.1:6379', mode: pubsub, channel: 'domain:{aggregateType}' }");
        await using var append = Create("postgres: { connectionString: 'Host=127.0.0.1;Username=u;Password=p;Database=d', table: public.domain_events }");
        await using var upsert = Create("postgres: { connectionString: 'Host=127.0.0.1;Database=d', table: orders, mode: upsert, projection: { keyColumn: order_id, dataColumn: state, deleteTypes: [OrderDeleted] } }");
        // A name written quoted (its case kept, any character) is a table name too.
        await using var quoted = Create("postgres: { connectionString: 'Host=127.0.0.1;Database=d', table: '\"Sales Dept\".\"Orders\"' }");
        // So is a column: quoted, a name the sink keeps in lower case (type) is another column ("Type").
        await using var quotedColumns = Create("postgres: { connectionString: 'Host=127.0.0.1;Database=d', table: orders, mode: upsert, projection: { keyColumn: '\"Type\"', dataColumn: '\"Order State\"' } }");
        await using var file = Create("file: { path: out/events.jsonl, maxBytes: 1048576, rotate: daily }");

        Assert.IsType<WebhookSink>(webhook);
        Assert.IsType<RabbitMqSink>(rabbit);
        Assert.IsType<RedisSink>(stream);
        Assert.IsType<RedisSink>(pubsub);
        Assert.IsType<PostgresSink>(append);
        Assert.IsType<PostgresSink>(upsert);
        Assert.IsType<PostgresSink>(quoted);
        Assert.IsType<PostgresSink>(quotedColumns);
        Assert.Equal(Path.Combine(_dir, "out", "events.jsonl"), Assert.IsType<JsonLinesFileSink>(file).Path);
    }

    /// <summary>How long connecting to RabbitMQ may take (TCP, TLS and the AMQP handshake): 30 s unless set; was 30 s always.</summary>
    [Fact]
    public async Task A_rabbitmq_sinks_connect_timeout_is_30_s_unless_set()
    {
        await using var set = Create("rabbitmq: { uri: 'amqp://guest:guest@127.0.0.1:5672/', exchange: domain-events, connectTimeout: '00:00:05' }");
        await using var unset = Create("rabbitmq: { uri: 'amqp://guest:guest@127.0.0.1:5672/', exchange: domain-events }");

        Assert.Equal(TimeSpan.FromSeconds(5), Assert.IsType<RabbitMqSink>(set).ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), Assert.IsType<RabbitMqSink>(unset).ConnectTimeout);
    }

    [Theory]
    [InlineData("webhook: { secret: abc }", "pipeline.yaml:4: sinks.0.webhook.url", "needs a url")]
    [InlineData("webhook: { url: 'ftp://x/y' }", "sinks.0.webhook.url", "http:// or https://")]
    [InlineData("webhook: { url: 'http://x/', retries: 3 }", "sinks.0.webhook", "retries")]
    [InlineData("webhook: { url: 'http://x/', mode: sideways }", "sinks.0.webhook", "sideways")]
    [InlineData("rabbitmq: { uri: 'http://user:hunter2@x/', exchange: e }", "sinks.0.rabbitmq.uri", "amqp://")]
    [InlineData("rabbitmq: { uri: 'amqp://x/', exchange: e, routingKey: '{colour}' }", "sinks.0.rabbitmq.routingKey", "unknown placeholder '{colour}'")]
    [InlineData("rabbitmq: { uri: 'amqp://x/', exchange: e, exchangeType: sideways }", "sinks.0.rabbitmq.exchangeType", "topic, direct")]
    // A bare number is a count of days to TimeSpan, as for the pipeline's other durations.
    [InlineData("rabbitmq: { uri: 'amqp://x/', exchange: e, connectTimeout: 30 }", "pipeline.yaml:4: sinks.0.rabbitmq.connectTimeout: ", "hh:mm:ss")]
    [InlineData("rabbitmq: { uri: 'amqp://x/', exchange: e, connectTimeout: '00:00:00' }", "sinks.0.rabbitmq.connectTimeout", "00:00:01 to 00:10:00")]
    [InlineData("rabbitmq: { uri: 'amqp://x/', exchange: e, connectTimeout: soon }", "sinks.0.rabbitmq.connectTimeout", "soon")]
    [InlineData("redis: { configuration: 'x:1', mode: pubsub, maxLength: 10 }", "sinks.0.redis.maxLength", "streams only")]
    [InlineData("redis: { configuration: 'x:1', stream: 'a:{type' }", "sinks.0.redis.stream", "never closed")]
    [InlineData("redis: { configuration: 'redis://default:hunter2@x:6379/0' }", "pipeline.yaml:4: sinks.0.redis.configuration", "password=")]
    [InlineData("redis: { configuration: 'x:1,:hunter2@y:6379,ssl=true' }", "sinks.0.redis.configuration", "endpoint 2 of 2")]
    [InlineData("postgres: { connectionString: 'Host=x', table: 'drop table;' }", "sinks.0.postgres.table", "schema.table")]
    [InlineData("postgres: { connectionString: 'Host=x', table: '\"Orders' }", "sinks.0.postgres.table", "no closing")]
    [InlineData("postgres: { connectionString: 'Host=x', table: 'db.sales.orders' }", "sinks.0.postgres.table", "at most one '.'")]
    [InlineData("postgres: { connectionString: 'Host=x', table: 'sales.\"\"' }", "sinks.0.postgres.table", "empty")]
    [InlineData("postgres: { connectionString: 'Hots=x;Password=hunter2', table: t }", "sinks.0.postgres.connectionString", "not a valid Npgsql connection string")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, projection: { keyColumn: k } }", "sinks.0.postgres.projection", "upsert only")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { keyColumn: type } }", "sinks.0.postgres.projection.keyColumn", "'type' is a column the sink keeps itself")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { dataColumn: position_major } }", "sinks.0.postgres.projection.dataColumn", "'position_major' is a column the sink keeps itself")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { dataColumn: positions } }", "sinks.0.postgres.projection.dataColumn", "'positions' is a column the sink keeps itself")]
    // Compared as PostgreSQL reads the name: Type is the column type; and Data is data.
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { keyColumn: Type } }", "sinks.0.postgres.projection.keyColumn", "'Type' is the column type, which the sink keeps itself")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { keyColumn: Data } }", "sinks.0.postgres.projection", "keyColumn and dataColumn must differ")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { keyColumn: 'a.b' } }", "sinks.0.postgres.projection.keyColumn", "one name")]
    [InlineData("postgres: { connectionString: 'Host=x', table: t, mode: upsert, projection: { dataColumn: '\"State' } }", "sinks.0.postgres.projection.dataColumn", "no closing")]
    [InlineData("file: { path: a, rotate: weekly }", "sinks.0.file", "weekly")]
    [InlineData("file: { path: a, maxBytes: 0 }", "sinks.0.file.maxBytes", "positive")]
    [InlineData("console: { colour: true }", "sinks.0.console", "takes no settings")]
    [InlineData("batch: { interval: '00:07:00', spool: out/spool, target: { directory: out/outgoing } }", "sinks.0.batch.interval", "must divide a day")]
    [InlineData("batch: { closeCheck: '00:00:00', spool: out/spool, target: { directory: out/outgoing } }", "sinks.0.batch.closeCheck", "must be positive")]
    public void A_bad_sink_setting_names_the_key_and_the_reason(string yaml, string expectedKey, string expectedReason)
    {
        var e = Assert.Throws<ConfigurationException>(() => Create(yaml));
        Assert.Contains(expectedKey, e.Message, StringComparison.Ordinal);
        Assert.Contains(expectedReason, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);

        // The pipeline runs the same checks for every sink before it builds any: same error, nothing built or taken.
        var validated = Assert.Throws<ConfigurationException>(() => Validate(yaml));
        Assert.Equal(e.Message, validated.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")), "validating a batch sink created its spool");
    }

    [Fact]
    public void The_failures_section_is_a_known_top_level_key()
    {
        var path = Path.Combine(_dir, "f.yaml");
        File.WriteAllText(path, "name: t\nfailures: { connectionString: 'Host=x;Database=d', table: ops.failures }\nsinks:\n  - name: s\n    console: {}\n");
        var configuration = PipelineConfiguration.Load(path, _ => null);
        Assert.NotNull(SinksServiceCollectionExtensions.TryCreateFailureStore(configuration));

        // The table is read as the postgres sink's is: quoted, it keeps its case; not a name, it is refused naming failures.table.
        File.WriteAllText(path, "name: t\nfailures: { connectionString: 'Host=x;Database=d', table: '\"Ops\".\"Delivery Failures\"' }\n");
        Assert.NotNull(SinksServiceCollectionExtensions.TryCreateFailureStore(PipelineConfiguration.Load(path, _ => null)));
        File.WriteAllText(path, "name: t\nfailures: { connectionString: 'Host=x;Database=d', table: 'ops.\"failures' }\n");
        var bad = Assert.Throws<ConfigurationException>(() => SinksServiceCollectionExtensions.TryCreateFailureStore(PipelineConfiguration.Load(path, _ => null)));
        Assert.Contains("failures.table", bad.Message, StringComparison.Ordinal);
        Assert.Contains("no closing", bad.Message, StringComparison.Ordinal);

        File.WriteAllText(path, "name: t\nfailures: { connectionString: 'Host=x', tabel: f }\n");
        var e = Assert.Throws<ConfigurationException>(() => SinksServiceCollectionExtensions.TryCreateFailureStore(PipelineConfiguration.Load(path, _ => null)));
        Assert.Contains("tabel", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_pipeline_fans_out_to_all_five_sink_kinds_with_their_policies()
    {
        var path = Path.Combine(_dir, "all.yaml");
        File.WriteAllText(path, """
            name: legacy-orders
            source:
              memory: {}
            failures:
              connectionString: "Host=127.0.0.1;Port=55432;Username=postgres;Database=postgres"
              table: cdc_failures
            sinks:
              - name: audit
                file: { path: out/events.jsonl, maxBytes: 104857600, rotate: daily }
              - name: billing-hook
                webhook: { url: "http://127.0.0.1:8080/hooks/cdc", secret: "${HOOK_SECRET:-dev-secret}", timeout: "00:00:10" }
                types: [OrderPlaced, OrderCancelled]
                onFailure: log
              - name: rabbit
                rabbitmq: { uri: "amqp://guest:guest@127.0.0.1:56720/", exchange: domain-events, routingKey: "{type}" }
                retry: { maxAttempts: 0 }
              - name: redis
                redis: { configuration: "127.0.0.1:56379", stream: "domain:{type}", maxLength: 100000 }
              - name: projection
                postgres: { connectionString: "Host=127.0.0.1;Port=55432;Username=postgres;Database=postgres", table: order_state, mode: upsert, projection: { keyColumn: order_id } }
            """);
        var configuration = PipelineConfiguration.Load(path, _ => null);
        await using var services = new ServiceCollection()
            .AddCdcCore()
            .AddCdcSinks()
            .AddCdcFailureStore(configuration)
            .AddSingleton<ISourceFactory, MemorySourceFactory>()
            .AddSingleton<ITranslatorProvider, NoTranslation>()
            .BuildServiceProvider();

        await using var pipeline = Core.Pipeline.PipelineBuilder.Build(configuration, services);

        Assert.Equal(["audit", "billing-hook", "rabbit", "redis", "projection"], pipeline.Sinks.Select(s => s.Name));
        Assert.Equal([typeof(JsonLinesFileSink), typeof(WebhookSink), typeof(RabbitMqSink), typeof(RedisSink), typeof(PostgresSink)], pipeline.Sinks.Select(s => s.Sink.GetType()));
        Assert.Equal(FailurePolicy.Log, pipeline.Sinks[1].Policy.OnFailure);
        Assert.False(pipeline.Sinks[1].Policy.Accepts("OrderShipped"));
        Assert.Equal(0, pipeline.Sinks[2].Policy.MaxAttempts);
        Assert.IsType<CdcPipeline.Sinks.Failures.PostgresFailureStore>(services.GetService<IFailureStore>());
    }

    private sealed class MemorySourceFactory : ISourceFactory
    {
        public string Kind => "memory";

        public Core.Pipeline.IChangeSource Create(PipelineComponentContext context) => new CdcPipeline.Tests.Support.InMemoryChangeSource();
    }

    private sealed class NoTranslation : ITranslatorProvider
    {
        public Core.Translation.IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => new CdcPipeline.Tests.Support.StatusTranslator();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
