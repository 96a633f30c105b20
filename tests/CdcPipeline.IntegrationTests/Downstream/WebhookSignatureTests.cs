using System.Text;
using CdcPipeline.Consumer;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks.Webhook;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>
/// A downstream webhook receiver checks that a request came from the pipeline, as README (Sinks) describes the signature, with
/// the library it already uses: the signed timestamp within a tolerance of its clock (a captured request replayed later is
/// refused), the signature compared in constant time.
/// </summary>
public sealed class WebhookSignatureTests
{
    private const string Secret = "s3cret-hook";

    [Fact]
    public async Task A_receiver_verifies_what_the_webhook_sink_signed_and_refuses_it_replayed_later_altered_or_unsigned()
    {
        await using var receiver = new WebhookReceiver();
        await using (var sink = new WebhookSink("hook", new HttpClient(), new WebhookSinkOptions { Url = receiver.Url, Secret = Secret, Timeout = TimeSpan.FromSeconds(5) }))
        {
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        var request = Assert.Single(receiver.Requests);
        var timestamp = request.Header(WebhookSignature.TimestampHeader);
        var signature = request.Header(WebhookSignature.SignatureHeader);
        var sent = DateTimeOffset.FromUnixTimeSeconds(long.Parse(timestamp!, System.Globalization.CultureInfo.InvariantCulture));
        var clock = new FakeTimeProvider(sent);

        Assert.True(WebhookSignature.Verify(Secret, timestamp, signature, request.Body));
        Assert.True(WebhookSignature.Verify(Secret, timestamp, signature, request.Body, clock));
        clock.Advance(WebhookSignature.DefaultTolerance);
        Assert.True(WebhookSignature.Verify(Secret, timestamp, signature, request.Body, clock));

        // The same request replayed later, or arriving from a clock far ahead, is refused: the timestamp is inside the MAC.
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, signature, request.Body, clock));
        Assert.True(WebhookSignature.Verify(Secret, timestamp, signature, request.Body, clock, TimeSpan.FromMinutes(10)));
        var behind = new FakeTimeProvider(sent - WebhookSignature.DefaultTolerance - TimeSpan.FromSeconds(1));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, signature, request.Body, behind));

        Assert.False(WebhookSignature.Verify("another-secret", timestamp, signature, request.Body));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, signature, Encoding.UTF8.GetBytes(request.Text.Replace("K1", "K2", StringComparison.Ordinal))));
        Assert.False(WebhookSignature.Verify(Secret, null, signature, request.Body));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, null, request.Body));
    }
}
