using System.Text;
using System.Text.Json;
using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.IntegrationTests.Support;
using Confluent.Kafka;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class DlqCommandTests(KafkaFixture kafka)
{
    [Fact]
    public async Task List_prints_each_dead_letter_and_redrive_sends_each_one_back_once()
    {
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        await using (var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq))
        {
            await queue.WriteAsync(new DeadLetter { Stage = "decode", Error = "malformed JSON in the value", ErrorType = "X", Position = SourcePosition.ForKafka(original, 2, 41), Payload = "not json"u8.ToArray(), Key = "k1"u8.ToArray(), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, TestContext.Current.CancellationToken);
            await queue.WriteAsync(new DeadLetter { Stage = "domain", Error = "too large", Position = SourcePosition.ForKafka(original, 1, 7), Payload = "{\"id\":\"e1\"}"u8.ToArray(), EventId = "e1", FailedAt = DateTimeOffset.UnixEpoch, Attempts = 3 }, TestContext.Current.CancellationToken);
        }

        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, TestContext.Current.CancellationToken));
        var lines = Encoding.UTF8.GetString(listed.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        var decode = lines.Single(l => l.GetProperty("headers").GetProperty("cdc.stage").GetString() == "decode");
        Assert.Equal("41", decode.GetProperty("headers").GetProperty("cdc.original.offset").GetString());
        Assert.Equal("bm90IGpzb24=", decode.GetProperty("payloadBase64").GetString());
        var sink = lines.Single(l => l.GetProperty("headers").GetProperty("cdc.stage").GetString() == "domain");
        Assert.Equal("e1", sink.GetProperty("payload").GetProperty("id").GetString());

        using var firstOut = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: null, WhereError: "malformed", FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        using var firstErrors = new StringWriter();
        Assert.True(0 == await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, firstOut, firstErrors, TestContext.Current.CancellationToken), firstErrors.ToString());
        Assert.Contains("1 redriven, 1 skipped", firstOut.ToString(), StringComparison.Ordinal);

        using var secondOut = new StringWriter();
        using var secondErrors = new StringWriter();
        Assert.True(0 == await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, secondOut, secondErrors, TestContext.Current.CancellationToken), secondErrors.ToString());
        Assert.Contains("0 redriven, 1 skipped", secondOut.ToString(), StringComparison.Ordinal);

        var redriven = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal("not json", Encoding.UTF8.GetString(redriven.Message.Value!));
        Assert.Equal("k1", Encoding.UTF8.GetString(redriven.Message.Key!));
        Assert.StartsWith(dlq + "/", Encoding.UTF8.GetString(redriven.Message.Headers.GetLastBytes(DeadLetterHeaders.RedrivenFrom)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_binary_key_or_header_is_listed_as_base64_and_text_as_text()
    {
        // An Avro key (magic byte, schema id, binary) is not UTF-8; decoding it as text would lose bytes.
        var dlq = kafka.Unique("dlq");
        byte[] avroKey = [0, 0, 0, 0, 7, 0xC3, 0x28];
        byte[] binaryHeader = [0xFF, 0xFE, 1];
        await kafka.Producer.ProduceAsync(dlq, new Message<byte[]?, byte[]?>
        {
            Key = avroKey,
            Value = [0, 0, 0, 0, 9, 2],
            Headers = new Headers { { "cdc.stage", "decode"u8.ToArray() }, { "trace", binaryHeader } },
        }, TestContext.Current.CancellationToken);
        await kafka.Producer.ProduceAsync(dlq, new Message<byte[]?, byte[]?> { Key = "order-7"u8.ToArray(), Value = "{}"u8.ToArray() }, TestContext.Current.CancellationToken);

        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, TestContext.Current.CancellationToken));
        var lines = Encoding.UTF8.GetString(listed.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        var binary = lines.Single(l => l.TryGetProperty("keyBase64", out _));
        Assert.Equal(avroKey, binary.GetProperty("keyBase64").GetBytesFromBase64());
        Assert.False(binary.TryGetProperty("key", out _));
        Assert.Equal("decode", binary.GetProperty("headers").GetProperty("cdc.stage").GetString());
        Assert.False(binary.GetProperty("headers").TryGetProperty("trace", out _));
        Assert.Equal(binaryHeader, binary.GetProperty("headersBase64").GetProperty("trace").GetBytesFromBase64());
        Assert.Equal([0, 0, 0, 0, 9, 2], binary.GetProperty("payloadBase64").GetBytesFromBase64());
        var text = lines.Single(l => l.TryGetProperty("key", out _));
        Assert.Equal("order-7", text.GetProperty("key").GetString());
        Assert.False(text.TryGetProperty("headersBase64", out _));
    }

    [Fact]
    public async Task A_dead_letter_topic_that_does_not_exist_is_an_error_and_is_not_created()
    {
        var missing = kafka.Unique("no-such-dlq");
        using var listed = new MemoryStream();
        using var errors = new StringWriter();
        Assert.Equal(1, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), missing, int.MaxValue, listed, errors, TestContext.Current.CancellationToken));
        Assert.Contains($"dlq list: topic '{missing}' does not exist on {kafka.BootstrapServers}", errors.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, listed.Length);

        using var redriveErrors = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: "elsewhere", WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Equal(1, await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), missing, options, TextWriter.Null, redriveErrors, TestContext.Current.CancellationToken));
        Assert.Contains($"dlq redrive: topic '{missing}' does not exist", redriveErrors.ToString(), StringComparison.Ordinal);

        // Asking a broker for one topic by name creates it where auto.create.topics.enable is on (the mock always does).
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == missing);
    }

    [Fact]
    public async Task An_unreachable_cluster_is_an_error_that_names_it_not_an_empty_listing()
    {
        var servers = $"127.0.0.1:{FreePorts.Next()}";
        using var listed = new MemoryStream();
        using var errors = new StringWriter();
        var code = await DlqCommand.ListAsync(Cluster(servers), "dead-letters", int.MaxValue, listed, errors, TestContext.Current.CancellationToken, TimeSpan.FromSeconds(2));
        Assert.Equal(1, code);
        Assert.Equal(0, listed.Length);
        Assert.StartsWith($"dlq list: could not reach Kafka at {servers} (", errors.ToString(), StringComparison.Ordinal);
        Assert.Contains("Check --bootstrap-servers", errors.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redrive_whose_group_has_active_members_stops_at_the_first_letter_and_says_why()
    {
        // Another consumer is a member of the redrive's group: the broker refuses the redrive's progress
        // commit. It stops there, naming the letter it sent, instead of redriving everything unrecorded.
        var dlq = kafka.Unique("dlq");
        var group = kafka.Unique("redrive");
        var target = kafka.Unique("target");
        for (var i = 0; i < 3; i++)
        {
            await kafka.ProduceAsync(dlq, "k", "{}", partition: 0);
        }

        using var member = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = group, EnableAutoCommit = false, AutoOffsetReset = AutoOffsetReset.Latest })
            .SetLogHandler((_, _) => { })
            .Build();
        member.Subscribe(dlq);
        using var stop = new CancellationTokenSource();
        var polling = Task.Run(
            () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    member.Consume(TimeSpan.FromMilliseconds(100));
                }
            },
            TestContext.Current.CancellationToken);
        await WaitUntilAsync(() => member.Assignment.Count > 0);

        using var output = new StringWriter();
        using var errors = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: target, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: group, DryRun: false);
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, output, errors, TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        await polling;

        Assert.True(code == 1, "exit " + code + ": " + output + errors);
        Assert.StartsWith($"dlq redrive: {dlq}/0@0 was sent to {target}, but consumer group '{group}' has active members", errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("redriven", output.ToString(), StringComparison.Ordinal);
        Assert.Single(kafka.ReadAll(target, 1));
    }

    private static ClientConfig Cluster(string servers) => new() { BootstrapServers = servers };

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the condition");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
