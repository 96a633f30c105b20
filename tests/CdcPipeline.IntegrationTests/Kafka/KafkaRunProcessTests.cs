using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Translation;
using CdcPipeline.IntegrationTests.EndToEnd;
using CdcPipeline.IntegrationTests.Support;
using Confluent.Kafka;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// The production configuration (<c>samples/legacy-orders/pipeline.kafka.yaml</c>, the sample rules) run
/// by the real <c>cdcpipeline run</c> process against Kafka, as docker-compose runs it — only the
/// broker address, names and the value format (JSON: the recorded sample; compose uses Avro) overridden
/// through the environment. The recorded Debezium topics must come out as exactly the domain events the
/// rules make of them, per aggregate in order; after a SIGTERM and a restart, only new records are
/// translated (the offsets were committed on the way out, or with exactly-once in each batch's transaction).
/// </summary>
public sealed class KafkaRunProcessTests(KafkaFixture kafka)
{
    private static readonly TimeSpan ArrivalTimeout = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_process_turns_the_sample_topics_into_the_rules_domain_events_and_a_restart_repeats_none(bool exactlyOnce)
    {
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var domain = kafka.Unique("domain");
        var sample = KafkaRecords.Sample(prefix);
        var first = new List<DebeziumRecord>();
        foreach (var record in sample)
        {
            first.Add(await ProduceAsync(record));
        }

        var environment = new Dictionary<string, string>
        {
            ["KAFKA_BOOTSTRAP"] = kafka.BootstrapServers,
            ["CDC__source__kafka__format"] = "json",
            ["CDC__source__kafka__exactlyOnce"] = exactlyOnce ? "true" : "false",
            ["CDC__source__kafka__groupId"] = kafka.Unique("translator"),
            ["CDC__source__kafka__consumer__session.timeout.ms"] = "6000",
            ["CDC__source__kafka__debezium__topicPrefix"] = prefix,
            ["CDC__sinks__0__kafka__topic"] = domain + ".{type}",
            ["CDC__deadLetter__topic"] = kafka.Unique("dead-letters"),
            ["CDC__observability__port"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture),
        };
        var config = Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "pipeline.kafka.yaml");
        var expected = Translate(first);
        Assert.True(expected.Select(e => e.Type).Distinct().Count() >= 3, "the sample should make several kinds of domain event");

        using (var pipeline = PipelineProcess.Start(environment, "run", "--config", config))
        {
            AssertDomainTopicsHold(domain, expected, pipeline);
            Assert.True(exactlyOnce == pipeline.Log.Contains("(json, transactional ", StringComparison.Ordinal), pipeline.Log);

            // What the compose health check and an orchestrator see: ready while the consumer holds its partitions.
            var port = environment["CDC__observability__port"];
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/readyz", pipeline));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/healthz", pipeline));
            await AssertComposeHealthCheckPassesAsync(int.Parse(port, CultureInfo.InvariantCulture), pipeline);
            await StopAsync(pipeline);
            Assert.Contains($"Pipeline stopped: {first.Count} change(s) read, {expected.Count} event(s) delivered", pipeline.Log, StringComparison.Ordinal);
        }

        // New records behind the translated ones: a copy of each topic's last change, at a new offset.
        var more = new List<DebeziumRecord>();
        foreach (var last in sample.Where(r => r.Value is not null).GroupBy(r => r.Topic).Select(g => g.Last()))
        {
            more.Add(await ProduceAsync(last));
        }

        var added = Translate(more);
        Assert.NotEmpty(added);
        using (var restarted = PipelineProcess.Start(environment, "run", "--config", config))
        {
            AssertDomainTopicsHold(domain, [.. expected, .. added], restarted);
            await StopAsync(restarted);

            // Only the new records were read again: the first run's offsets were committed.
            Assert.Contains($"Pipeline stopped: {more.Count} change(s) read, {added.Count} event(s) delivered", restarted.Log, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_SIGTERM_whose_final_commit_fails_after_the_hosts_wait_exits_nonzero_with_the_reason()
    {
        // A cluster of its own, to take down before the stop: the source's close then needs longer (about twice the
        // session timeout) than the host's shutdown wait (runner.drainTimeout + 5 s) to find out that its final commit
        // cannot reach the coordinator; `run` waited no longer and exited 0, the commit never made nor reported.
        var config = new ProducerConfig { BootstrapServers = "localhost:1" };
        config.Set("test.mock.num.brokers", "1");
        var clusterOwner = new ProducerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        var dir = Directory.CreateTempSubdirectory("cdc-finalcommit-").FullName;
        try
        {
            using (var admin = new DependentAdminClientBuilder(clusterOwner.Handle).Build())
            {
                var broker = admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Single();
                config.BootstrapServers = $"{broker.Host}:{broker.Port}";
            }

            var topic = kafka.Unique("final-commit");
            for (var id = 1; id <= 3; id++)
            {
                await clusterOwner.ProduceAsync(
                    new TopicPartition(topic, 0),
                    new Message<byte[]?, byte[]?>
                    {
                        Key = Encoding.UTF8.GetBytes($$"""{"id":{{id}}}"""),
                        Value = Encoding.UTF8.GetBytes($$"""{"before":null,"after":{"id":{{id}}},"source":{"schema":"public","table":"kv","lsn":{{id}},"txId":{{id}},"snapshot":"false"},"op":"c","ts_ms":1}"""),
                    },
                    TestContext.Current.CancellationToken);
            }

            var events = Path.Combine(dir, "events.jsonl");
            var yaml = Path.Combine(dir, "pipeline.yaml");
            await File.WriteAllTextAsync(yaml, $$"""
                name: final-commit
                source:
                  kafka:
                    bootstrapServers: "{{config.BootstrapServers}}"
                    groupId: {{kafka.Unique("g")}}
                    topics: [{{topic}}]
                    autoOffsetReset: earliest
                    format: json
                    consumer:
                      # Bounds how long the client waits for the coordinator that is gone (the default is 45 s).
                      session.timeout.ms: 6000
                sinks:
                  - name: audit
                    file: { path: "{{events}}" }
                runner: { drainTimeout: "00:00:01" }
                """, TestContext.Current.CancellationToken);

            using var pipeline = PipelineProcess.Start("run", "--config", yaml);
            var deadline = DateTime.UtcNow + ArrivalTimeout;
            while (!File.Exists(events) || File.ReadAllLines(events).Length < 3)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the events did not arrive; pipeline log:\n{pipeline.Log}");
                Assert.False(pipeline.HasExited, $"the pipeline exited; log:\n{pipeline.Log}");
                await Task.Delay(200, TestContext.Current.CancellationToken);
            }

            clusterOwner.Dispose();
            var code = await pipeline.TerminateAsync(TimeSpan.FromSeconds(90));

            Assert.True(code == 1, $"exit code {code}; pipeline log:\n{pipeline.Log}");
            var lines = pipeline.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.True(
                lines[^1].StartsWith("error: Kafka source", StringComparison.Ordinal) && lines[^1].Contains("the final commit on close failed", StringComparison.Ordinal),
                $"the last line does not say the final commit failed; pipeline log:\n{pipeline.Log}");
        }
        finally
        {
            clusterOwner.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The status of a probe, retried while a rebalance may briefly take the partitions away.</summary>
    private static async Task<HttpStatusCode> StatusAsync(string port, string path, PipelineProcess pipeline)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"), TestContext.Current.CancellationToken);
            if (response.StatusCode == HttpStatusCode.OK || DateTime.UtcNow > deadline)
            {
                Assert.False(pipeline.HasExited, pipeline.Log);
                return response.StatusCode;
            }

            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>docker-compose.yml's health check of the cdcpipeline service (bash's /dev/tcp, no curl in the image), run as Docker runs it.</summary>
    private static async Task AssertComposeHealthCheckPassesAsync(int port, PipelineProcess pipeline)
    {
        var argv = ComposeTests.PipelineHealthCheck(port);
        var start = new System.Diagnostics.ProcessStartInfo(argv[0], argv.Skip(1)) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var check = System.Diagnostics.Process.Start(start)!;
        var stderr = check.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stdout = await check.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await check.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(check.ExitCode == 0, $"the compose health check exits {check.ExitCode} against the running pipeline: {stdout}{await stderr}; pipeline log:\n{pipeline.Log}");
    }

    private static async Task StopAsync(PipelineProcess pipeline)
    {
        var code = await pipeline.TerminateAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit code {code} after SIGTERM; pipeline log:\n{pipeline.Log}");
    }

    /// <summary>What the sample rules make of these records, exactly as the runner calls them.</summary>
    private static List<DomainEvent> Translate(List<DebeziumRecord> records)
    {
        var decoder = new DebeziumJsonDecoder();
        var translator = Translators.Create(Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "rules"), "legacy-orders");
        var events = new List<DomainEvent>();
        foreach (var record in records)
        {
            var change = decoder.Decode(record);
            if (change.Kind is ChangeKind.Change or ChangeKind.Message)
            {
                translator.Translate(change, events);
            }
        }

        return events;
    }

    /// <summary>
    /// Each domain topic (<c>{domain}.{type}</c>) holds exactly the expected events — none missing, none
    /// twice — and each aggregate's events in source order (one key, one partition).
    /// </summary>
    private void AssertDomainTopicsHold(string domain, List<DomainEvent> expected, PipelineProcess pipeline)
    {
        var topics = expected.Select(e => $"{domain}.{e.Type}").Distinct().ToList();
        var arrived = kafka.ReadAll(topics, expected.Count, timeout: ArrivalTimeout, settle: TimeSpan.FromSeconds(1))
            .Select(r => (r.Topic, Key: r.Message.Key is { } k ? Encoding.UTF8.GetString(k) : null, Event: JsonDocument.Parse(r.Message.Value!).RootElement))
            .ToList();
        Assert.True(arrived.Count == expected.Count, $"{arrived.Count} of {expected.Count} events on {string.Join(", ", topics)}; pipeline log:\n{pipeline.Log}");
        foreach (var (topic, key, e) in arrived)
        {
            Assert.Equal($"{domain}.{e.GetProperty("type").GetString()}", topic);
            Assert.Equal(key, e.GetProperty("subject").GetString());
        }

        foreach (var aggregate in expected.GroupBy(e => (e.Type, e.Subject)))
        {
            Assert.Equal(
                aggregate.Select(e => e.Id),
                arrived.Where(a => a.Topic == $"{domain}.{aggregate.Key.Type}" && a.Key == aggregate.Key.Subject).Select(a => a.Event.GetProperty("id").GetString()));
        }
    }

    private async Task<DebeziumRecord> ProduceAsync(DebeziumRecord record)
    {
        Headers? headers = null;
        if (record.Headers is { Count: > 0 } recorded)
        {
            headers = [];
            foreach (var (name, value) in recorded)
            {
                headers.Add(name, value);
            }
        }

        var delivered = await kafka.Producer.ProduceAsync(
            new TopicPartition(record.Topic!, 0),
            new Message<byte[]?, byte[]?> { Key = record.Key?.ToArray(), Value = record.Value?.ToArray(), Headers = headers });
        return new DebeziumRecord
        {
            Topic = record.Topic,
            Partition = 0,
            Offset = delivered.Offset.Value,
            Key = record.Key,
            Value = record.Value,
            Headers = record.Headers,
        };
    }
}
