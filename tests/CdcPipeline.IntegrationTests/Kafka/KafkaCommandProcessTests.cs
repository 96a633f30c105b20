using System.Text.Json;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.IntegrationTests.EndToEnd;
using CdcPipeline.Kafka.DeadLetters;
using Confluent.Kafka;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// <c>dlq</c> and <c>replay</c> as an operator runs them, against the pipeline's own configuration: the cluster,
/// its security settings, the group and the dead-letter topic come from <c>--config</c>.
/// </summary>
public sealed class KafkaCommandProcessTests(KafkaFixture kafka) : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private static readonly string SampleConfig = Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "pipeline.kafka.yaml");
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-kafka-commands-").FullName;

    [Fact]
    public async Task Dlq_list_with_the_pipeline_config_reads_its_dead_letter_topic_on_its_cluster()
    {
        var dlq = await DeadLettersAsync(2);
        var (code, log) = await RunAsync(Environment(dlq), "dlq", "list", "--config", SampleConfig);
        Assert.True(code == 0, log);
        // the letters on standard output, then their count on standard error (the log holds both)
        var letters = log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, letters.Count);
        Assert.Contains($"2 letter(s) in topic '{dlq}'", log, StringComparison.Ordinal);
        Assert.All(letters, l => Assert.Equal(dlq, l.GetProperty("topic").GetString()));
        Assert.All(letters, l => Assert.Equal("decode", l.GetProperty("headers").GetProperty("cdc.stage").GetString()));
    }

    [Fact]
    public async Task The_pipeline_configs_security_settings_are_used_and_the_failure_says_why_without_the_password()
    {
        // The mock cluster speaks plaintext only: with the pipeline's SASL settings the command cannot
        // authenticate (without them, the test above reads the same kind of topic).
        var dlq = await DeadLettersAsync(1);
        var environment = Environment(dlq);
        environment["CDC__source__kafka__consumer__security.protocol"] = "SASL_PLAINTEXT";
        environment["CDC__source__kafka__consumer__sasl.mechanism"] = "PLAIN";
        environment["CDC__source__kafka__consumer__sasl.username"] = "operator";
        environment["CDC__source__kafka__consumer__sasl.password"] = "s3cret-never-printed";
        var (code, log) = await RunAsync(environment, "dlq", "list", "--config", SampleConfig);
        Assert.True(code == 1, log);
        Assert.Contains($"dlq list: could not reach Kafka at {kafka.BootstrapServers}", log, StringComparison.Ordinal);
        Assert.Contains("SASL", log, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-never-printed", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_cluster_group_or_topic_the_commands_say_which_option_is_missing()
    {
        var postgresOnly = Write("postgres-only.yaml", """
            name: p
            source:
              postgres: { connectionString: "Host=localhost;Database=legacy" }
            sinks:
              - name: out
                file: { path: out/events.jsonl }
            """);
        var noGroup = Write("kafka-no-group.yaml", $$"""
            name: k
            source:
              kafka: { bootstrapServers: "{{kafka.BootstrapServers}}", topics: [t] }
            sinks:
              - name: out
                file: { path: out/events.jsonl }
            """);

        var (code, log) = await RunAsync([], "dlq", "list");
        Assert.Equal(2, code);
        Assert.Contains("which Kafka cluster? give --bootstrap-servers host:port or --config FILE", log, StringComparison.Ordinal);

        // A pipeline without deadLetter.topic (the embedded path's, or a Kafka source's) keeps its dead letters in a file: dlq reads
        // that file rather than asking for a cluster or a topic it does not have (DlqFileListTests, DeadLetterFileRedriveTests).
        (code, log) = await RunAsync([], "dlq", "list", "--config", postgresOnly);
        Assert.True(code == 0, log);
        Assert.Contains("dead-letters.jsonl does not exist: no letter was written yet", log, StringComparison.Ordinal);
        Assert.DoesNotContain("give --bootstrap-servers", log, StringComparison.Ordinal);

        (code, log) = await RunAsync([], "dlq", "redrive", "--config", noGroup);
        Assert.True(code == 0, log);
        Assert.Contains("dlq redrive: ", log, StringComparison.Ordinal);
        Assert.Contains("dead-letters.jsonl does not exist: no letter was written yet", log, StringComparison.Ordinal);

        (code, log) = await RunAsync([], "dlq", "redrive", "--bootstrap-servers", kafka.BootstrapServers);
        Assert.Equal(2, code);
        Assert.Contains("dlq redrive: which dead-letter topic? give --topic, or --config with deadLetter.topic", log, StringComparison.Ordinal);

        (code, log) = await RunAsync([], "replay", "--bootstrap-servers", kafka.BootstrapServers, "--topic", "t", "--to", "earliest", "--dry-run");
        Assert.Equal(2, code);
        Assert.Contains("replay: which consumer group? give --group, or --config of a pipeline with a kafka source", log, StringComparison.Ordinal);

        // Without source.kafka.groupId the pipeline's source joins a group named after the pipeline: so does replay.
        (code, log) = await RunAsync([], "replay", "--config", noGroup, "--topic", "t", "--to", "earliest", "--dry-run");
        Assert.NotEqual(2, code);
        Assert.DoesNotContain("which consumer group", log, StringComparison.Ordinal);
        if (kafka.IsMock)
        {
            // The mock cannot describe groups (see ReplayCommandTests), so the planner's first step fails, naming the group it asked about.
            Assert.Contains("describing consumer groups: [k]", log, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Replay_with_a_config_whose_kafka_source_is_invalid_names_the_line_and_the_key_not_a_stack_trace()
    {
        var invalid = Write("invalid-source.yaml", $$"""
            name: k
            source:
              kafka:
                bootstrapServers: "{{kafka.BootstrapServers}}"
                autoOffsetReset: beginning
                topics: [t]
            sinks:
              - name: out
                file: { path: out/events.jsonl }
            """);

        var (code, log) = await RunAsync([], "replay", "--config", invalid, "--to", "earliest", "--dry-run");

        Assert.Equal(2, code);
        Assert.Contains($"replay: {invalid}:5: source.kafka.autoOffsetReset: must be earliest, latest or error", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_security_setting_librdkafka_refuses_names_its_line_and_key_without_a_stack_trace_or_the_password()
    {
        // run refuses this file at start-up with its line; the operator commands built their clients from it unchecked
        // and died with librdkafka's exception and a stack trace.
        var refused = Write("refused-security.yaml", $$"""
            name: k
            source:
              kafka:
                bootstrapServers: "{{kafka.BootstrapServers}}"
                topics: [t]
                consumer:
                  security.protocol: SASL_PLAINTEXT
                  sasl.mechanism: PLAINX
                  sasl.username: operator
                  sasl.password: s3cret-never-printed
            deadLetter: { topic: dlq }
            sinks:
              - name: out
                file: { path: out/events.jsonl }
            """);

        foreach (var command in (string[][])[["replay", "--config", refused, "--to", "earliest", "--dry-run"], ["dlq", "list", "--config", refused], ["dlq", "redrive", "--config", refused, "--dry-run"]])
        {
            var (code, log) = await RunAsync([], command);

            Assert.True(code == 2, $"{string.Join(' ', command[..2])}: exit {code}: {log}");
            Assert.Contains($"{refused}:8: source.kafka.consumer.sasl.mechanism: ", log, StringComparison.Ordinal);
            Assert.Contains("PLAINX", log, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret-never-printed", log, StringComparison.Ordinal);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Dictionary<string, string> Environment(string deadLetterTopic) => new()
    {
        ["KAFKA_BOOTSTRAP"] = kafka.BootstrapServers,
        ["CDC__deadLetter__topic"] = deadLetterTopic,
    };

    private async Task<string> DeadLettersAsync(int count)
    {
        var dlq = kafka.Unique("dead-letters");
        await using var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq);
        for (var i = 0; i < count; i++)
        {
            await queue.WriteAsync(
                new DeadLetter { Stage = "decode", Error = "malformed JSON", Position = SourcePosition.ForKafka("legacy.public.tb_ord_mst", 0, i), Payload = "not json"u8.ToArray(), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 },
                TestContext.Current.CancellationToken);
        }

        return dlq;
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private static async Task<(int Code, string Log)> RunAsync(Dictionary<string, string> environment, params string[] arguments)
    {
        using var process = PipelineProcess.Start(environment, arguments);
        var code = await process.ExitCodeAsync(CommandTimeout);
        return (code, process.Log);
    }
}
