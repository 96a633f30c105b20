using CdcPipeline.IntegrationTests.EndToEnd;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// A Kafka source configuration that start-up refuses (it would read its own output; exactly-once without a Kafka sink
/// on its cluster), or a sink's own settings that it refuses, is refused before any sink is built: building one may already touch a server or the disk (a batch
/// sink takes and creates its spool; a PostgreSQL sink may create its table), and a refused start must leave nothing
/// behind. The real <c>cdcpipeline run</c> process, a real PostgreSQL database and librdkafka's mock cluster.
/// </summary>
public sealed class RefusedStartTests(KafkaFixture kafka, PostgresFixture postgres) : IAsyncLifetime
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cdc-refused-start-");
    private PostgresTestDatabase _db = null!;

    public async ValueTask InitializeAsync() => _db = await postgres.CreateDatabaseAsync("refused");

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        _dir.Delete(recursive: true);
    }

    /// <summary>Sinks 0 and 1 have side effects when built or used: a table (createTable) and a spool directory.</summary>
    private string SinksWithSideEffects => $"""
          - name: table
            postgres:
              connectionString: "{_db.ConnectionString}"
              table: refused_events
              createTable: true
          - name: spool
            batch:
              spool: out/spool
              target: {"{"} directory: out/outgoing {"}"}
        """;

    private async Task<(int Code, string Error)> RunAsync(string yaml)
    {
        var config = Path.Combine(_dir.FullName, "pipeline.yaml");
        await File.WriteAllTextAsync(config, yaml, TestContext.Current.CancellationToken);
        using var pipeline = PipelineProcess.Start("run", "--config", config);
        var code = await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(90));
        TestContext.Current.TestOutputHelper?.WriteLine(pipeline.Log);
        var lines = pipeline.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (code, lines.LastOrDefault(l => l.StartsWith("error: ", StringComparison.Ordinal)) ?? pipeline.Log);
    }

    private async Task AssertNothingWasTouchedAsync()
    {
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relname = 'refused_events'"));
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "out")), "the batch sink's spool was created for a refused start");
    }

    [Fact]
    public async Task A_source_that_would_read_its_own_kafka_sink_is_refused_before_any_sink_is_built()
    {
        var topic = kafka.Unique("legacy");
        var (code, error) = await RunAsync($"""
            name: refused-start
            source:
              kafka:
                bootstrapServers: "{kafka.BootstrapServers}"
                format: json
                topics: [{topic}]
            sinks:
            {SinksWithSideEffects}
              - name: domain
                kafka:
                  bootstrapServers: "{kafka.BootstrapServers}"
                  topic: {topic}
            """);

        var config = Path.Combine(_dir.FullName, "pipeline.yaml");
        Assert.Equal(2, code);
        Assert.Equal(
            $"error: {config}:20: sinks.2.kafka.topic: sink 'domain' writes to '{topic}', which the Kafka source reads (source.kafka.topics.0 '{topic}', {config}:6) "
                + $"on the same cluster ({kafka.BootstrapServers}): its domain events would come back as change records that fail to decode and go to the dead letters "
                + $"('{topic}' is one such topic). Give the sink a topic template the source does not subscribe to (e.g. 'domain.{{type}}'), or narrow the subscription",
            error);
        await AssertNothingWasTouchedAsync();
    }

    [Fact]
    public async Task A_sink_refusing_its_own_settings_is_refused_before_the_sinks_before_it_are_built()
    {
        // The sinks before the bad one are fine: the table sink and the batch sink, which takes its spool when it is built.
        var (code, error) = await RunAsync($"""
            name: refused-start
            source:
              kafka:
                bootstrapServers: "{kafka.BootstrapServers}"
                format: json
                topics: [{kafka.Unique("legacy")}]
            sinks:
            {SinksWithSideEffects}
              - name: hook
                webhook:
                  url: "ftp://hooks.example/events"
            """);

        var config = Path.Combine(_dir.FullName, "pipeline.yaml");
        Assert.Equal(2, code);
        Assert.Equal($"error: {config}:19: sinks.2.webhook.url: must be an absolute http:// or https:// URL", error);
        await AssertNothingWasTouchedAsync();
    }

    [Fact]
    public async Task Exactly_once_without_a_kafka_sink_on_the_source_cluster_is_refused_before_any_sink_is_built()
    {
        var (code, error) = await RunAsync($"""
            name: refused-start
            source:
              kafka:
                bootstrapServers: "{kafka.BootstrapServers}"
                format: json
                topics: [{kafka.Unique("legacy")}]
                exactlyOnce: true
            sinks:
            {SinksWithSideEffects}
            """);

        var config = Path.Combine(_dir.FullName, "pipeline.yaml");
        Assert.Equal(2, code);
        Assert.Equal(
            $"error: {config}:7: source.kafka.exactlyOnce: exactly-once needs a kafka sink on the cluster the source reads ({kafka.BootstrapServers}) to commit "
                + "the group's offsets in its transactions, but this pipeline has no kafka sink. Point that sink at the source's cluster (its bootstrapServers, "
                + "or bootstrap.servers under its producer:, which wins), or remove exactlyOnce",
            error);
        await AssertNothingWasTouchedAsync();
    }
}
