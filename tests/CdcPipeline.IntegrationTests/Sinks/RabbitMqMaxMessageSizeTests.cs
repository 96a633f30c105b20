using CdcPipeline.Core.Sinks;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>
/// Lowers the broker's max_message_size for a while, which every channel opened meanwhile reads: no other test of the
/// assembly runs meanwhile (the other RabbitMQ tests, <see cref="RabbitMqSinkTests"/>, run in parallel).
/// </summary>
[CollectionDefinition(nameof(RabbitMqMaxMessageSizeTests), DisableParallelization = true)]
public sealed class RabbitMqMaxMessageSizeTestsCollection;

[Collection(nameof(RabbitMqMaxMessageSizeTests))]
public sealed class RabbitMqMaxMessageSizeTests
{
    [Fact]
    public async Task A_message_over_the_brokers_max_message_size_is_dead_lettered_at_once_and_the_channel_goes_on()
    {
        // RabbitMQ closes the channel with 406 PRECONDITION_FAILED for a message over max_message_size (default 128 MiB): that
        // message will never go, whatever the retries. A channel reads the setting when it opens, so it is lowered for the test.
        var uri = await DownstreamServers.RabbitMqAsync();
        var before = await DownstreamServers.RabbitMqEvalAsync(uri, "application:get_env(rabbit, max_message_size).");
        await DownstreamServers.RabbitMqEvalAsync(uri, "application:set_env(rabbit, max_message_size, 65536).");
        try
        {
            var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
            var (connection, channel, queue) = await RabbitMqSinkTests.BindQueueAsync(uri, exchange, "#");
            await using var _c = connection;
            await using var _ch = channel;
            var source = new InMemoryChangeSource();
            source.Add(InMemoryChangeSource.Change(1, "K1", "PAID"));
            source.Add(InMemoryChangeSource.Change(2, "K2", new string('x', 40_000))); // twice in the body: over 64 KiB
            source.Add(InMemoryChangeSource.Change(3, "K3", "PAID"));
            source.Add(InMemoryChangeSource.Change(4, "K4", "PAID"));
            source.Complete();
            var dlq = new RecordingDeadLetterQueue();
            await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 10, sinks: new SinkBinding(RabbitMqSinkTests.Sink(uri, exchange, "orders"), SinkHarness.RetryForever)), TimeSpan.FromSeconds(30));

            var letter = Assert.Single(dlq.Letters);
            Assert.Equal(SinkHarness.Event(2, "K2", new string('x', 40_000)).Id, letter.EventId);
            Assert.Equal(1, letter.Attempts);
            Assert.Contains("max_message_size", letter.Error, StringComparison.Ordinal);
            var messages = await RabbitMqSinkTests.DrainAsync(channel, queue, 3, TimeSpan.FromSeconds(10));
            Assert.Equal(["K1", "K3", "K4"], SinkHarness.FirstOccurrences(messages, m => m.BasicProperties.MessageId!).Select(m => m.BasicProperties.CorrelationId));
        }
        finally
        {
            var size = before.StartsWith("{ok,", StringComparison.Ordinal) ? before[4..^1] : "134217728";
            await DownstreamServers.RabbitMqEvalAsync(uri, $"application:set_env(rabbit, max_message_size, {size}).");
        }
    }
}
