using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Hosting;
using CdcPipeline.Kafka.Connect;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.Replay;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DotNet.Testcontainers.Builders;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// The end-to-end suite of issue 4: PostgreSQL + Kafka + Schema Registry + Debezium Connect in containers
/// (<see cref="ContainerStack"/>); the connector rendered by <c>connector render --format json</c> is
/// registered through our Connect client; legacy rows written with Npgsql come out of our pipeline (sample
/// rules, kafka sink <c>domain.{type}</c>) as CloudEvents; a replay by timestamp re-produces OrderShipped
/// with the same event id.
/// NOTE: the Docker path has NOT been executed on the development machine (it has no Docker engine);
/// only the skip path has. Run it where Docker exists; the first run pulls ~2 GB of images.
/// Docker is probed once per run: the socket / DOCKER_HOST first (free), then Testcontainers itself, which
/// throws <see cref="DockerUnavailableException"/> from a builder's Build() within a second without an engine.
/// </summary>
public sealed class EndToEndStackTests
{
    private const string Group = "cdc-e2e";
    private const string OrderTopic = "legacy.public.tb_ord_mst";
    private static readonly string[] DomainTopics = ["domain.CustomerRegistered", "domain.OrderPlaced", "domain.OrderShipped"];

    private static readonly Lazy<string?> DockerMissing = new(ProbeDocker);

    private static string? ProbeDocker()
    {
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is not { Length: > 0 } && !File.Exists("/var/run/docker.sock"))
        {
            return "no Docker engine (neither DOCKER_HOST nor /var/run/docker.sock)";
        }

        try
        {
            // Building (not creating) a network resolves and pings the engine: without one it throws here.
            _ = new NetworkBuilder().Build();
            return null;
        }
        catch (DockerUnavailableException e)
        {
            return "Testcontainers found no usable Docker engine (" + e.Message.Split('\n')[0].Trim() + ")";
        }
    }

    [Fact]
    public async Task Legacy_rows_become_domain_CloudEvents_through_Debezium_and_a_timestamp_replay_reproduces_the_same_ids()
    {
        if (DockerMissing.Value is { } reason)
        {
            Assert.Skip(reason + ": the containerised end-to-end suite needs one");
        }

        // Bounded overall: image pulls aside, the stack starts in about a minute and the flow takes seconds.
        using var overall = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        overall.CancelAfter(TimeSpan.FromMinutes(8));
        var ct = overall.Token;

        await using var stack = await ContainerStack.StartAsync(ct);
        var dir = Directory.CreateTempSubdirectory("cdc-e2e-");
        try
        {
            var configPath = Path.Combine(dir.FullName, "pipeline.yaml");
            await File.WriteAllTextAsync(configPath, PipelineYaml(stack.KafkaBootstrap), ct);
            await CreateTopicsAsync(stack.KafkaBootstrap, configPath, ct);

            // The connector exactly as `cdcpipeline connector render --format json` prints it, hostnames
            // being the network aliases (postgres) the Connect container resolves.
            var (name, connectorConfig) = ConnectorCommand.Build(new FileInfo(configPath), "json");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var connect = new KafkaConnectClient(http, stack.ConnectUrl);
            await connect.PutConfigAsync(name, connectorConfig, ct);
            await WaitForConnectorRunningAsync(connect, stack, name, ct);

            // The snapshot's reads (op r) announce nothing under the sample rules; the inserts and the
            // P -> S update below are what must come out.
            await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
            await ExecuteAsync(db, "INSERT INTO tb_cust_mst (cust_no, cust_nm, cust_addr1, cust_zip, reg_dt) VALUES ('C0000099', 'Ida Marsh', '7 Quay St', '3030   ', '20240301')", ct);
            await ExecuteAsync(db, "INSERT INTO tb_ord_mst (ord_no, cust_no, ord_dt, ord_sts_cd, ord_amt) VALUES (2000001, 'C0000099', '20240302', 'P', 77.50)", ct);

            JsonElement placed;
            JsonElement shipped;
            DateTimeOffset afterInsert;
            await using (var run = await PipelineRun.StartAsync(configPath, ct))
            {
                placed = Assert.Single(await ReadEventsAsync(stack.KafkaBootstrap, "domain.OrderPlaced", 1, ct));
                var registered = Assert.Single(await ReadEventsAsync(stack.KafkaBootstrap, "domain.CustomerRegistered", 1, ct));
                Assert.Equal("CustomerRegistered", registered.GetProperty("type").GetString());
                Assert.Equal("C0000099", registered.GetProperty("subject").GetString());
                Assert.Equal("Ida Marsh", registered.GetProperty("data").GetProperty("name").GetString());
                Assert.Equal("3030", registered.GetProperty("data").GetProperty("address").GetProperty("zip").GetString());
                Assert.Equal("2024-03-01", registered.GetProperty("data").GetProperty("registeredOn").GetString());

                // The replay point comes from the broker's own clock, not this machine's (Docker Desktop's VM
                // clock drifts): just after the insert's record, which is on the topic now that OrderPlaced
                // came out. The update's record is written after it, so the replay starts there.
                var insert = (await ReadRecordsAsync(stack.KafkaBootstrap, OrderTopic, r => r.Any(IsOrderInsert), TimeSpan.FromSeconds(30), ct)).Where(IsOrderInsert).ToList();
                Assert.True(insert.Count == 1, $"{OrderTopic} holds {insert.Count} create records for customer C0000099");
                afterInsert = insert[0].Message.Timestamp.UtcDateTime + TimeSpan.FromMilliseconds(1);
                await ExecuteAsync(db, "UPDATE tb_ord_mst SET ord_sts_cd = 'S', shp_dt = '20240305' WHERE ord_no = 2000001", ct);
                shipped = Assert.Single(await ReadEventsAsync(stack.KafkaBootstrap, "domain.OrderShipped", 1, ct));
            }

            Assert.Equal("OrderPlaced", placed.GetProperty("type").GetString());
            Assert.Equal("2000001", placed.GetProperty("subject").GetString());
            Assert.Equal("2000001", placed.GetProperty("data").GetProperty("orderId").ToString());
            Assert.Equal("C0000099", placed.GetProperty("data").GetProperty("customerId").GetString());
            Assert.Equal("2024-03-02", placed.GetProperty("data").GetProperty("orderedOn").GetString());
            Assert.Equal(77.50m, decimal.Parse(placed.GetProperty("data").GetProperty("total").ToString(), CultureInfo.InvariantCulture));
            Assert.Equal("PLACED", placed.GetProperty("data").GetProperty("status").GetString());
            Assert.Equal("OrderShipped", shipped.GetProperty("type").GetString());
            Assert.Equal("2000001", shipped.GetProperty("subject").GetString());
            Assert.Equal("2024-03-05", shipped.GetProperty("data").GetProperty("shippedOn").GetString());
            Assert.NotEqual(placed.GetProperty("id").GetString(), shipped.GetProperty("id").GetString());

            // Replay as an operator would: pipeline stopped, `replay --to timestamp:…` on the order topic.
            using (var admin = new KafkaConsumerGroupAdmin(new ClientConfig { BootstrapServers = stack.KafkaBootstrap }))
            {
                await WaitForAsync(async () => (await admin.ActiveMembersAsync(Group, ct)).Count == 0, TimeSpan.FromSeconds(30), "the stopped pipeline to leave its consumer group", ct);
                using var output = new StringWriter(CultureInfo.InvariantCulture);
                var target = ReplayTarget.Parse("timestamp:" + afterInsert.ToString("O", CultureInfo.InvariantCulture));
                var code = await ReplayCommand.RunAsync(admin, stack.KafkaBootstrap, Group, [OrderTopic], target, dryRun: false, output, output, ct);
                Assert.True(code == 0, "replay failed: " + output);
            }

            await using (var rerun = await PipelineRun.StartAsync(configPath, ct))
            {
                var shippedTwice = await ReadEventsAsync(stack.KafkaBootstrap, "domain.OrderShipped", 2, ct);
                Assert.Equal(2, shippedTwice.Count);
                Assert.Equal(shipped.GetProperty("id").GetString(), shippedTwice[1].GetProperty("id").GetString());
                Assert.Equal(shipped.GetProperty("data").GetRawText(), shippedTwice[1].GetProperty("data").GetRawText());
            }

            // The replay went back to just before the update: the insert was not re-read.
            Assert.Single(await ReadEventsAsync(stack.KafkaBootstrap, "domain.OrderPlaced", 2, ct, TimeSpan.FromSeconds(5)));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string PipelineYaml(string bootstrap)
    {
        var rules = Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "rules");
        return $$"""
            name: legacy-orders
            source:
              kafka:
                bootstrapServers: "{{bootstrap}}"
                groupId: {{Group}}
                autoOffsetReset: earliest
                format: json
                consumer:
                  session.timeout.ms: "6000"
                debezium:
                  connectorName: legacy-orders
                  topicPrefix: legacy
                  tables: [public.tb_cust_mst, public.tb_ord_mst, public.tb_ord_dtl, public.tb_aud_log]
                  database: { hostname: postgres, port: 5432, user: cdc, password: cdc, dbname: legacy }
                  slot: debezium_legacy
                  publication: debezium_legacy_pub
                  publicationAutocreateMode: disabled
                  snapshotMode: initial
                  heartbeatIntervalMs: 1000
                  heartbeatTable: public.debezium_heartbeat
                  signalTable: public.debezium_signal
                  provideTransactionMetadata: true
            rules: "{{rules.Replace("\\", "/", StringComparison.Ordinal)}}"
            sinks:
              - name: domain
                kafka:
                  bootstrapServers: "{{bootstrap}}"
                  topic: "domain.{type}"
            deadLetter:
              topic: cdc.dead-letters
            """;
    }

    /// <summary>
    /// Every topic the source subscribes to and the sink writes, created up front with one partition: a
    /// consumer does not auto-create topics, and tb_aud_log or the transaction topic may see no record.
    /// </summary>
    private static async Task CreateTopicsAsync(string bootstrap, string configPath, CancellationToken ct)
    {
        var configuration = PipelineConfiguration.Load(configPath, _ => null);
        var source = ConfigBinding.Bind<CdcPipeline.Kafka.Source.KafkaSourceOptions>(configuration.Root.GetSection("source:kafka"), configuration.Locations);
        var topics = source.Subscription().Concat(DomainTopics).Append("cdc.dead-letters").Distinct(StringComparer.Ordinal);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        try
        {
            await admin.CreateTopicsAsync(topics.Select(t => new TopicSpecification { Name = t, NumPartitions = 1, ReplicationFactor = 1 }));
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Debezium or the broker got there first: fine.
        }

        ct.ThrowIfCancellationRequested();
    }

    private static async Task WaitForConnectorRunningAsync(KafkaConnectClient connect, ContainerStack stack, string name, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            string? last = null;
            try
            {
                var status = await connect.GetStatusAsync(name, ct);
                last = status?.ToJsonString();
                var tasks = status?["tasks"]?.AsArray();
                if (status?["connector"]?["state"]?.GetValue<string>() == "RUNNING" && tasks is { Count: > 0 } && tasks.All(t => t?["state"]?.GetValue<string>() == "RUNNING"))
                {
                    return;
                }

                if (tasks is not null && tasks.Any(t => t?["state"]?.GetValue<string>() == "FAILED"))
                {
                    Assert.Fail("the connector's task failed: " + last + "\n" + await stack.ConnectLogTailAsync());
                }
            }
            catch (KafkaConnectException e) when (e.Message.Contains("404", StringComparison.Ordinal))
            {
                // Just created: the status appears once the worker assigned the connector.
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("the connector did not reach RUNNING within 2 minutes; last status: " + last + "\n" + await stack.ConnectLogTailAsync());
            }

            await Task.Delay(500, ct);
        }
    }

    /// <summary>
    /// Reads a domain topic from the beginning until <paramref name="count"/> CloudEvents arrived or the wait
    /// ends; returns what it got. Fewer than expected: the failure names what the dead-letter topic holds.
    /// </summary>
    private static async Task<List<JsonElement>> ReadEventsAsync(string bootstrap, string topic, int count, CancellationToken ct, TimeSpan? wait = null)
    {
        var records = await ReadRecordsAsync(bootstrap, topic, r => r.Count(x => x.Message.Value is not null) >= count, wait ?? TimeSpan.FromSeconds(90), ct);
        var events = new List<JsonElement>();
        foreach (var record in records.Where(r => r.Message.Value is not null))
        {
            using var json = JsonDocument.Parse(record.Message.Value!);
            events.Add(json.RootElement.Clone());
        }

        if (events.Count < count && wait is null)
        {
            var letters = await ReadRecordsAsync(bootstrap, "cdc.dead-letters", _ => false, TimeSpan.FromSeconds(3), ct);
            var reasons = letters.Select(l => Encoding.UTF8.GetString(l.Message.Headers.GetLastBytes(DeadLetterHeaders.Error)));
            Assert.Fail($"{topic}: {events.Count} of {count} events; dead letters: {letters.Count} ({string.Join(" | ", reasons.Take(3))})");
        }

        return events;
    }

    /// <summary>Reads partition 0 of a topic from the beginning until <paramref name="done"/> holds or the wait ends.</summary>
    private static async Task<List<ConsumeResult<byte[]?, byte[]?>>> ReadRecordsAsync(
        string bootstrap, string topic, Func<List<ConsumeResult<byte[]?, byte[]?>>, bool> done, TimeSpan wait, CancellationToken ct)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "e2e-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            IsolationLevel = IsolationLevel.ReadCommitted,
        };
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var records = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + wait;
        try
        {
            while (!done(records) && DateTime.UtcNow < deadline)
            {
                ct.ThrowIfCancellationRequested();
                // Consume blocks; run it off the test's thread so the wait stays cancellable.
                var result = await Task.Run(() => consumer.Consume(TimeSpan.FromMilliseconds(500)), ct);
                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    records.Add(result);
                }
            }
        }
        finally
        {
            consumer.Close();
        }

        return records;
    }

    /// <summary>
    /// Debezium's create record (op c) of the order the test inserts, found by its customer: ord_no is a
    /// NUMERIC, which decimal.handling.mode=precise sends as base64 of the unscaled bytes.
    /// </summary>
    private static bool IsOrderInsert(ConsumeResult<byte[]?, byte[]?> record)
    {
        if (record.Message.Value is not { } value)
        {
            return false;
        }

        using var json = JsonDocument.Parse(value);
        var payload = json.RootElement.TryGetProperty("payload", out var p) ? p : json.RootElement;
        return payload.TryGetProperty("op", out var op) && op.GetString() == "c"
            && payload.TryGetProperty("after", out var after) && after.ValueKind == JsonValueKind.Object
            && after.TryGetProperty("cust_no", out var customer) && customer.GetString() == "C0000099";
    }

    private static async Task ExecuteAsync(NpgsqlDataSource db, string sql, CancellationToken ct)
    {
        await using var command = db.CreateCommand(sql);
        Assert.Equal(1, await command.ExecuteNonQueryAsync(ct));
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited {timeout.TotalSeconds:0} s for {what}");
            await Task.Delay(200, ct);
        }
    }

    /// <summary>One run of the pipeline, in-process, built from the YAML the way <c>run</c> builds it; disposal stops it and waits.</summary>
    private sealed class PipelineRun : IAsyncDisposable
    {
        private readonly ServiceProvider _services;
        private readonly PipelineInstance _pipeline;
        private readonly CancellationTokenSource _stop;
        private readonly Task _run;

        private PipelineRun(ServiceProvider services, PipelineInstance pipeline, CancellationTokenSource stop, Task run)
        {
            _services = services;
            _pipeline = pipeline;
            _stop = stop;
            _run = run;
        }

        /// <summary>A fresh container per run, like a restarted process: the second run shares no state with the first.</summary>
        public static Task<PipelineRun> StartAsync(string configPath, CancellationToken ct)
        {
            var services = new ServiceCollection().AddCdcPipeline().BuildServiceProvider();
            var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(configPath, _ => null), services);
            var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            return Task.FromResult(new PipelineRun(services, pipeline, stop, pipeline.Runner.RunAsync(stop.Token)));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _run;
            }
            catch (OperationCanceledException)
            {
                // The stop we asked for.
            }

            await _pipeline.DisposeAsync();
            await _services.DisposeAsync();
            _stop.Dispose();
        }
    }
}
