using System.Text;
using System.Text.RegularExpressions;
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
            var error = AssertStopLine(exit, refused.Log, topic);
            Assert.Contains("Topic authorization failed", error, StringComparison.Ordinal);
            Assert.Contains($"deadLetter.topic ({DeadLetterLine(config)})", error, StringComparison.Ordinal);
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
            var error = AssertStopLine(exit, refused.Log, topic);
            Assert.Contains($"deadLetter.path ({DeadLetterLine(config)})", error, StringComparison.Ordinal);
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

    /// <summary>
    /// The runner's own letter (a sink's, here a webhook whose server is down, with no retry) refused by the topic the same way:
    /// the line the unit test builds from a thrown stand-in, from a real refusal.
    /// </summary>
    [Fact]
    public async Task A_dead_letter_topic_that_refuses_a_sinks_letter_stops_run_naming_deadLetter_topic_and_the_change_is_read_again()
    {
        using var cluster = new MockClusterControl();
        var topic = kafka.Unique("legacy");
        var dlq = kafka.Unique("dead-letters");
        cluster.CreateTopic(topic);
        cluster.CreateTopic(dlq);
        cluster.SetTopicError(dlq, MockClusterControl.TopicAuthorizationFailed);
        await ProduceRecordsAsync(cluster, topic, poison: false);
        var config = await WriteConfigAsync(
            cluster, topic, $"deadLetter: {{ topic: {dlq} }}", $"webhook: {{ url: \"http://127.0.0.1:{Support.FreePorts.Next()}/down\" }}\n    retry: {{ maxAttempts: 1 }}");

        using (var refused = PipelineProcess.Start("run", "--config", config))
        {
            var exit = await refused.ExitCodeAsync(Timeout);
            Assert.True(exit == 1, $"exit code {exit}; log:\n{refused.Log}");
            var lines = refused.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var error = Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
            Assert.Equal(error, lines[^1]);
            // The line names the change whose letter it was, by its position as dlq list shows it (cdc.position).
            Assert.Matches($@"^error: the dead-letter store could not keep a dead letter of sink 'audit' \(position {Regex.Escape(topic)}/0@[0-2]:0\): Broker: Topic authorization failed; ", error);
            Assert.Contains($"deadLetter.topic ({DeadLetterLine(config)})", error, StringComparison.Ordinal);
            Assert.EndsWith("the change was not acknowledged, so it is read again when run starts again", error, StringComparison.Ordinal);
            Assert.DoesNotContain("crit:", refused.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", refused.Log, StringComparison.Ordinal);
        }

        // The first change's letter was not kept, so it was not acknowledged: read again, its letter is kept now.
        cluster.SetTopicError(dlq, 0);
        using (var again = PipelineProcess.Start("run", "--config", config))
        {
            // The webhook is still down: each of the three changes is dead-lettered, the first one included.
            var letters = ReadAll(cluster, dlq, 3);
            Assert.Equal(0, await again.TerminateAsync(Timeout));
            Assert.True(letters.Count == 3, $"{letters.Count} letter(s); log:\n{again.Log}");
            Assert.All(letters, l => Assert.Equal("audit", Encoding.UTF8.GetString(l.Message.Headers.GetLastBytes(DeadLetterHeaders.Stage))));
            Assert.Equal(
                [$"{topic}/0@0:0", $"{topic}/0@1:0", $"{topic}/0@2:0"],
                letters.Select(l => Encoding.UTF8.GetString(l.Message.Headers.GetLastBytes(DeadLetterHeaders.Position))));
        }
    }

    /// <summary>
    /// The stop: exit 1, the last line the one error line for the dead-letter store, naming the record (offset 1 of
    /// <paramref name="topic"/>, as event 4006 before it does: a supervisor may keep only the last line), no crash with a stack trace.
    /// </summary>
    private static string AssertStopLine(int exit, string log, string topic)
    {
        Assert.True(exit == 1, $"exit code {exit}; log:\n{log}");
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var error = Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Equal(error, lines[^1]);
        Assert.StartsWith($"error: the dead-letter store could not keep a dead letter of the record {topic}/0@1, which the source could not decode: ", error, StringComparison.Ordinal);
        Assert.EndsWith("the record was not acknowledged, so it is read again when run starts again", error, StringComparison.Ordinal);
        Assert.DoesNotContain("bootstrapServers", error, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", log, StringComparison.Ordinal);
        return error;
    }

    /// <summary>Offsets 0 and 2 are changes of rows 1 and 3; offset 1 is not JSON (or, without <paramref name="poison"/>, row 2's change).</summary>
    private static async Task ProduceRecordsAsync(MockClusterControl cluster, string topic, bool poison = true)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).SetLogHandler((_, _) => { }).Build();
        (int Id, string Value)[] records = [(1, Change(1)), (2, poison ? "{\"before\": nope" : Change(2)), (3, Change(3))];
        foreach (var (id, value) in records)
        {
            var key = Encoding.UTF8.GetBytes($$"""{"id":{{id}}}""");
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<byte[]?, byte[]?> { Key = key, Value = Encoding.UTF8.GetBytes(value) }, Ct);
        }

        static string Change(int id) =>
            $$"""{"before":null,"after":{"id":{{id}}},"source":{"schema":"public","table":"kv","lsn":{{id}},"txId":{{id}},"snapshot":"false"},"op":"c","ts_ms":1}""";
    }

    /// <summary>The pipeline, with <paramref name="deadLetter"/> after its one sink (<see cref="DeadLetterLine"/>).</summary>
    private async Task<string> WriteConfigAsync(MockClusterControl cluster, string topic, string deadLetter, string sink = "file: { path: events.jsonl }")
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
                consumer:
                  # The stopped run leaves the group (its close sends LeaveGroup), but the mock cluster answers a leave with a
                  # rebalance that waits session.timeout.ms less 1 s for members to rejoin (rdkafka_mock_cgrp.c), so the next start
                  # is assigned only then: 44 s with librdkafka's default 45 s. Short, as in the other run tests: what is checked
                  # is the same.
                  session.timeout.ms: "6000"
            sinks:
              - name: audit
                {{sink}}
            {{deadLetter}}
            """, Ct);
        return path;
    }

    /// <summary>Where the deadLetter key is, as run's line names it: file:line.</summary>
    private static string DeadLetterLine(string config) =>
        $"{config}:{Array.FindIndex(File.ReadAllLines(config), l => l.StartsWith("deadLetter:", StringComparison.Ordinal)) + 1}";

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
        var deadline = DateTime.UtcNow + Timeout;
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
