using CdcPipeline.IntegrationTests.Support;
using RabbitMQ.Client;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// <c>cdcpipeline run</c> with a RabbitMQ sink, at start: the sink connects and declares its exchange before the source
/// reads. A refusal no retry overcomes stops the run there (exit 2, one line naming the setting); a broker that is merely
/// away is a warning, and the run goes on retrying as it always did.
/// </summary>
public sealed class RabbitMqRunStartTests(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-rabbitstart-").FullName;
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("rabbitstart");
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
    }

    /// <summary>
    /// The exchange exists as a fanout and the sink is configured for a topic exchange: RabbitMQ refuses the declare (406
    /// PRECONDITION_FAILED) however often it is sent. It was found only at the first event, then retried until each event was
    /// dead-lettered (or for ever), with run up and /healthz merely degraded.
    /// </summary>
    [Fact]
    public async Task An_exchange_that_exists_with_another_type_stops_run_before_reading_with_exit_2_naming_exchangeType()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-runstart-" + Guid.NewGuid().ToString("N")[..8];
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync(Ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await channel.ExchangeDeclareAsync(exchange, "fanout", durable: true, autoDelete: false, cancellationToken: Ct);
        try
        {
            var config = await WriteAsync(uri, exchange);

            using var pipeline = PipelineProcess.Start("run", "--config", config);
            var exit = await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60));

            var log = pipeline.Log;
            Assert.True(exit == 2, $"exit code {exit}; log:\n{log}");
            var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
            Assert.Contains($"{config}:13: sinks.0.rabbitmq.exchangeType: ", error, StringComparison.Ordinal);
            Assert.Contains($"exchange '{exchange}' in vhost '/' exists as type fanout, but exchangeType is topic", error, StringComparison.Ordinal);
            Assert.Contains("set exchangeType: fanout", error, StringComparison.Ordinal);
            Assert.DoesNotContain("Each retry", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
            Assert.DoesNotContain("crit:", log, StringComparison.Ordinal);

            // Stopped before the source read anything: it did not even create its slot.
            Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{_db.Slot}'"));
        }
        finally
        {
            await channel.ExchangeDeleteAsync(exchange, cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>Nothing listens on the sink's port at start: a warning naming the sink and why, and the run reads and goes on.</summary>
    [Fact]
    public async Task A_broker_away_at_start_is_a_warning_and_run_goes_on()
    {
        var uri = $"amqp://guest:guest@127.0.0.1:{FreePorts.Next()}/";
        var config = await WriteAsync(uri, "cdc-test-runstart-away");

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await PipelineProcess.UntilAsync(
            async () => pipeline.Log.Contains("rabbitmq sink 'rabbit': cannot connect to RabbitMQ", StringComparison.Ordinal)
                && await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{_db.Slot}'") == 1,
            TimeSpan.FromSeconds(90),
            TimeSpan.FromMilliseconds(200),
            () => pipeline.HasExited ? $"the pipeline exited; log:\n{pipeline.Log}" : $"log:\n{pipeline.Log}",
            Ct);

        Assert.False(pipeline.HasExited, pipeline.Log);
        var warning = Assert.Single(pipeline.Log.Split('\n'), l => l.Contains("cannot connect to RabbitMQ", StringComparison.Ordinal));
        Assert.Contains("warn: ", warning, StringComparison.Ordinal);
        Assert.Contains("connection refused", warning, StringComparison.Ordinal);
        var code = await pipeline.TerminateAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit code {code}; log:\n{pipeline.Log}");
        Assert.DoesNotContain("error: ", pipeline.Log, StringComparison.Ordinal);
    }

    private async Task<string> WriteAsync(string uri, string exchange)
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: rabbitstart
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [public.kv]
            sinks:
              - name: rabbit
                rabbitmq:
                  uri: "{uri}"
                  exchange: {exchange}
                  exchangeType: topic
            """, Ct);
        return config;
    }

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
