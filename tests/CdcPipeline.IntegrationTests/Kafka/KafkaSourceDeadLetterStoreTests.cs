using System.Text;
using CdcPipeline.IntegrationTests.EndToEnd;
using CdcPipeline.Kafka.DeadLetters;
using Confluent.Kafka;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// A record the Kafka source cannot decode is dead-lettered by the source itself (stage <c>decode</c>), not by the runner.
/// When the dead-letter store refuses that letter, the real <c>run</c> process must stop as it does for the runner's own
/// letters (DeadLetterStoreException): one line naming <c>deadLetter.topic</c> or <c>deadLetter.path</c> with its file and
/// line, exit 1, nothing committed past the record, so that the next start reads it again and keeps its letter then.
/// Each test has a mock cluster of its own (<see cref="MockClusterControl"/>): the topic case makes it refuse the
/// dead-letter topic as a broker refuses a principal without its ACLs (TOPIC_AUTHORIZATION_FAILED in the topic's metadata,
/// which librdkafka's producer fails the letter with), a real refusal from librdkafka rather than a thrown stand-in.
/// </summary>
public sealed class KafkaSourceDeadLetterStoreTests(KafkaFixture kafka) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-srcdlq-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_dead_letter_topic_that_refuses_a_decode_letter_stops_run_naming_deadLetter_topic_and_the_record_is_read_again()
    {
        using var cluster = new MockClusterControl();
        var topic = kafka.Unique("legacy");
        var dlq = kafka.Unique("dead-letters");
        cluster.CreateTopic(topic);
        cluster.CreateTopic(dlq);
        cluster.SetTopicError(dlq, MockClusterControl.TopicAuthorizationFailed);
        await ProduceRecordsAsync(cluster, topic);
        var config = await WriteConfigAsync(cluster, topic, $"deadLetter: {{ topic: {dlq} }}");

        using (var refused = PipelineProcess.Start("run", "--config", config))
        {
            var exit = await refused.ExitCodeAsync(Timeout);
            var error = AssertStopLine(exit, refused.Log);
            Assert.Contains("Topic authorization failed", error, StringComparison.Ordinal);
            Assert.Contains($"deadLetter.topic ({config}:12)", error, StringComparison.Ordinal);
            Assert.DoesNotContain("deadLetter.path", error, StringComparison.Ordinal);
        }

        // Nothing past the undecodable record was delivered (or committed): the next start reads it again.
        Assert.DoesNotContain("{\"id\":3}", Events(), StringComparison.Ordinal);
        cluster.SetTopicError(dlq, 0);
        using (var again = PipelineProcess.Start("run", "--config", config))
        {
            await PipelineProcess.UntilAsync(() => Task.FromResult(Events().Contains("{\"id\":3}", StringComparison.Ordinal)), Timeout, TimeSpan.FromMilliseconds(200), () => again.Log, Ct);
            Assert.Equal(0, await again.TerminateAsync(Timeout));
        }

        var letter = Assert.Single(ReadAll(cluster, dlq, 1));
        string Header(string name) => Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(name));
        Assert.Equal("decode", Header(DeadLetterHeaders.Stage));
        Assert.Equal(topic, Header(DeadLetterHeaders.OriginalTopic));
        Assert.Equal("1", Header(DeadLetterHeaders.OriginalOffset));
    }

    [Fact]
    public async Task A_decode_letters_file_that_cannot_be_written_stops_run_naming_deadLetter_path_and_that_file_and_the_record_is_read_again()
    {
        using var cluster = new MockClusterControl();
        var topic = kafka.Unique("legacy");
        cluster.CreateTopic(topic);
        await ProduceRecordsAsync(cluster, topic);
        // A regular file where the letters' directory should be: no letter can be written under it.
        var blocker = Path.Combine(_dir, "blocker");
        await File.WriteAllTextAsync(blocker, "a regular file, not a directory\n", Ct);
        var config = await WriteConfigAsync(cluster, topic, "deadLetter: { path: blocker/dead-letters.jsonl }");

        using (var refused = PipelineProcess.Start("run", "--config", config))
        {
            var exit = await refused.ExitCodeAsync(Timeout);
            var error = AssertStopLine(exit, refused.Log);
            Assert.Contains($"deadLetter.path ({config}:12)", error, StringComparison.Ordinal);
            // The file the source writes its letters to, beside deadLetter.path's: the one an operator must make writable.
            Assert.Contains(Path.Combine(blocker, "dead-letters.decode.jsonl"), error, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("{\"id\":3}", Events(), StringComparison.Ordinal);
        File.Delete(blocker);
        using (var again = PipelineProcess.Start("run", "--config", config))
        {
            await PipelineProcess.UntilAsync(() => Task.FromResult(Events().Contains("{\"id\":3}", StringComparison.Ordinal)), Timeout, TimeSpan.FromMilliseconds(200), () => again.Log, Ct);
            Assert.Equal(0, await again.TerminateAsync(Timeout));
        }

        var letter = Assert.Single(File.ReadAllLines(Path.Combine(blocker, "dead-letters.decode.jsonl")));
        Assert.Contains("\"stage\":\"decode\"", letter, StringComparison.Ordinal);
        Assert.Contains($"\"position\":\"{topic}/0@1", letter, StringComparison.Ordinal);
    }

    /// <summary>The stop: exit 1, the last line the one error line for the dead-letter store, no crash with a stack trace.</summary>
    private static string AssertStopLine(int exit, string log)
    {
        Assert.True(exit == 1, $"exit code {exit}; log:\n{log}");
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var error = Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Equal(error, lines[^1]);
        Assert.StartsWith("error: the dead-letter store could not keep a dead letter of a record the source could not decode: ", error, StringComparison.Ordinal);
        Assert.EndsWith("the record was not acknowledged, so it is read again when run starts again", error, StringComparison.Ordinal);
        Assert.DoesNotContain("bootstrapServers", error, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", log, StringComparison.Ordinal);
        return error;
    }

    /// <summary>Offsets 0 and 2 are changes of rows 1 and 3; offset 1 is not JSON.</summary>
    private static async Task ProduceRecordsAsync(MockClusterControl cluster, string topic)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).SetLogHandler((_, _) => { }).Build();
        (int Id, string Value)[] records = [(1, Change(1)), (2, "{\"before\": nope"), (3, Change(3))];
        foreach (var (id, value) in records)
        {
            var key = Encoding.UTF8.GetBytes($$"""{"id":{{id}}}""");
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<byte[]?, byte[]?> { Key = key, Value = Encoding.UTF8.GetBytes(value) }, Ct);
        }

        static string Change(int id) =>
            $$"""{"before":null,"after":{"id":{{id}}},"source":{"schema":"public","table":"kv","lsn":{{id}},"txId":{{id}},"snapshot":"false"},"op":"c","ts_ms":1}""";
    }

    /// <summary>The pipeline; <paramref name="deadLetter"/> is its line 12.</summary>
    private async Task<string> WriteConfigAsync(MockClusterControl cluster, string topic, string deadLetter)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(path, $$"""
            name: srcdlq
            source:
              kafka:
                bootstrapServers: "{{cluster.BootstrapServers}}"
                groupId: {{kafka.Unique("g")}}
                topics: [{{topic}}]
                autoOffsetReset: earliest
                format: json
            sinks:
              - name: audit
                file: { path: events.jsonl }
            {{deadLetter}}
            """, Ct);
        return path;
    }

    private string Events()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    private static List<ConsumeResult<byte[]?, byte[]?>> ReadAll(MockClusterControl cluster, string topic, int count)
    {
        var config = new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "reader", AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false };
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartition(topic, 0));
        var results = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (results.Count <= count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } r)
            {
                results.Add(r);
            }
            else if (results.Count == count)
            {
                break;
            }
        }

        return results;
    }
}
