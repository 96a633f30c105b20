using System.Text;
using System.Text.Json;
using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.DeadLetters;
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
        Assert.Equal(0, await DlqCommand.ListAsync(kafka.BootstrapServers, dlq, int.MaxValue, listed, TestContext.Current.CancellationToken));
        var lines = Encoding.UTF8.GetString(listed.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        var decode = lines.Single(l => l.GetProperty("headers").GetProperty("cdc.stage").GetString() == "decode");
        Assert.Equal("41", decode.GetProperty("headers").GetProperty("cdc.original.offset").GetString());
        Assert.Equal("bm90IGpzb24=", decode.GetProperty("payloadBase64").GetString());
        var sink = lines.Single(l => l.GetProperty("headers").GetProperty("cdc.stage").GetString() == "domain");
        Assert.Equal("e1", sink.GetProperty("payload").GetProperty("id").GetString());

        using var firstOut = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: null, WhereError: "malformed", FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        await DlqCommand.RedriveAsync(kafka.BootstrapServers, dlq, options, firstOut, TestContext.Current.CancellationToken);
        Assert.Contains("1 redriven, 1 skipped", firstOut.ToString(), StringComparison.Ordinal);

        using var secondOut = new StringWriter();
        await DlqCommand.RedriveAsync(kafka.BootstrapServers, dlq, options, secondOut, TestContext.Current.CancellationToken);
        Assert.Contains("0 redriven", secondOut.ToString(), StringComparison.Ordinal);

        var redriven = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal("not json", Encoding.UTF8.GetString(redriven.Message.Value!));
        Assert.Equal("k1", Encoding.UTF8.GetString(redriven.Message.Key!));
        Assert.StartsWith(dlq + "/", Encoding.UTF8.GetString(redriven.Message.Headers.GetLastBytes(DeadLetterHeaders.RedrivenFrom)), StringComparison.Ordinal);
    }
}
