using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks.Redis;
using CdcPipeline.Sinks.Routing;
using CdcPipeline.Sinks.Webhook;
using CdcPipeline.Tests.Support;
using StackExchange.Redis;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>Per-sink type filters and command routing with real sinks in one pipeline.</summary>
public sealed class SinkRoutingTests
{
    [Fact]
    public async Task Events_reach_every_subscriber_by_type_and_a_command_exactly_its_target()
    {
        var redisAddress = await DownstreamServers.RedisAsync();
        await using var receiver = new WebhookReceiver();
        var stream = "cdctest:" + Guid.NewGuid().ToString("N")[..8];
        Assert.True(EventTemplate.TryParse(stream, "b", out var template, out _));

        // the test translator makes status CMD a command targeting sink "b"
        var source = new InMemoryChangeSource();
        var statuses = new[] { "PAID", "OPEN", "CMD", "PAID", "CMD", "OPEN" };
        for (var i = 0; i < statuses.Length; i++)
        {
            source.Add(InMemoryChangeSource.Change(i + 1, "K" + i, statuses[i]));
        }

        source.Complete();
        var hook = new WebhookSink("hook", new HttpClient(), new WebhookSinkOptions { Url = receiver.Url });
        var redis = new RedisSink("b", new RedisSinkOptions { Configuration = redisAddress, Stream = stream }, template);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, sinks:
        [
            // subscribes to StatusCMD too, but a command goes only to its target
            new SinkBinding(hook, SinkHarness.FastRetry with { Types = new HashSet<string> { "StatusPAID", "StatusCMD" } }),
            new SinkBinding(redis, SinkHarness.FastRetry with { Types = new HashSet<string> { "StatusOPEN" } }),
        ]));
        await hook.DisposeAsync();
        await redis.DisposeAsync();

        Assert.Empty(dlq.Letters);
        Assert.Equal(["StatusPAID", "StatusPAID"], receiver.Requests.Select(r => r.Json.GetProperty("type").GetString()));
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redisAddress);
        var entries = await connection.GetDatabase().StreamRangeAsync(stream);
        Assert.Equal(["StatusOPEN", "StatusCMD", "StatusCMD", "StatusOPEN"], entries.Select(e => (string)e["type"]!));
        Assert.Equal(["K1", "K2", "K4", "K5"], entries.Select(e => (string)e["subject"]!));
        await connection.GetDatabase().KeyDeleteAsync(stream);
    }
}
