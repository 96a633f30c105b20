using System.Text;
using System.Text.Json;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks.RabbitMq;
using CdcPipeline.Sinks.Routing;
using CdcPipeline.Tests.Support;
using RabbitMQ.Client;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>
/// The RabbitMQ sink against a real broker, read back by a consumer on a bound queue. Each test has its own exchange, queue
/// and user, so they run beside the assembly's other tests; the one that lowers the broker's max_message_size runs alone
/// (<see cref="RabbitMqMaxMessageSizeTests"/>).
/// </summary>
public sealed class RabbitMqSinkTests
{
    internal static RabbitMqSink Sink(string uri, string exchange, string routingKey = "{type}")
    {
        Assert.True(EventTemplate.TryParse(routingKey, "rabbit", out var template, out var error), error);
        return new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = uri, Exchange = exchange, RoutingKey = routingKey }, template);
    }

    internal static async Task<(IConnection Connection, IChannel Channel, string Queue)> BindQueueAsync(string uri, string exchange, string bindingKey)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync(TestContext.Current.CancellationToken);
        var channel = await connection.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken);
        // the sink declares the exchange on first use; declaring it here too (same arguments) is harmless
        await channel.ExchangeDeclareAsync(exchange, "topic", durable: true, autoDelete: false, cancellationToken: TestContext.Current.CancellationToken);
        var queue = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: TestContext.Current.CancellationToken);
        await channel.QueueBindAsync(queue.QueueName, exchange, bindingKey, cancellationToken: TestContext.Current.CancellationToken);
        return (connection, channel, queue.QueueName);
    }

    /// <summary>Reads until <paramref name="expected"/> distinct message ids arrived (repeats from retried batches kept) or the time is up.</summary>
    internal static async Task<List<BasicGetResult>> DrainAsync(IChannel channel, string queue, int expected, TimeSpan timeout)
    {
        var messages = new List<BasicGetResult>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + timeout;
        while (ids.Count < expected && DateTime.UtcNow < deadline)
        {
            var message = await channel.BasicGetAsync(queue, autoAck: true, TestContext.Current.CancellationToken);
            if (message is null)
            {
                await Task.Delay(20, TestContext.Current.CancellationToken);
                continue;
            }

            messages.Add(message);
            ids.Add(message.BasicProperties.MessageId ?? "");
        }

        return messages;
    }

    [Fact]
    public async Task Publishes_persistent_confirmed_messages_routed_by_event_type_with_cloudevents_properties()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "StatusPAID");
        await using var _c = connection;
        await using var _ch = channel;
        var source = SinkHarness.Source(40, 4, i => i % 2 == 0 ? "PAID" : "OPEN");
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 7, sinks: new SinkBinding(Sink(uri, exchange), SinkHarness.FastRetry)));

        Assert.Empty(dlq.Letters);
        var messages = await DrainAsync(channel, queue, 20, TimeSpan.FromSeconds(10));
        Assert.Equal(20, messages.Count);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => SinkHarness.Event(2 * i, "K" + (2 * i % 4), "PAID").Id), messages.Select(m => m.BasicProperties.MessageId));
        foreach (var m in messages)
        {
            Assert.Equal("StatusPAID", m.RoutingKey);
            Assert.Equal(DeliveryModes.Persistent, m.BasicProperties.DeliveryMode);
            Assert.Equal("StatusPAID", m.BasicProperties.Type);
            Assert.Equal("application/cloudevents+json", m.BasicProperties.ContentType);
            var body = JsonDocument.Parse(m.Body).RootElement;
            Assert.Equal(m.BasicProperties.MessageId, body.GetProperty("id").GetString());
            Assert.Equal(m.BasicProperties.MessageId, Encoding.UTF8.GetString((byte[])m.BasicProperties.Headers!["cloudEvents:id"]!));
            Assert.Equal(body.GetProperty("subject").GetString(), Encoding.UTF8.GetString((byte[])m.BasicProperties.Headers!["cloudEvents:subject"]!));
        }

        Assert.Equal(40L, source.Acknowledged.Last().Major);
    }

    [Fact]
    public async Task A_message_routed_to_no_queue_is_counted_and_warned_about_once_per_routing_key_per_interval()
    {
        // RabbitMQ drops a message its exchange routes to no queue and confirms it all the same: a downstream team that binds
        // its queue after the pipeline started never sees those events, and nothing said so. Published mandatory, the broker
        // returns it: still delivered (a retry would find no queue either), but counted and logged like Redis pub/sub's.
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "HEARD");
        await using var _c = connection;
        await using var _ch = channel;
        var ct = TestContext.Current.CancellationToken;
        using var metrics = new CdcPipeline.Core.Pipeline.PipelineMetrics();
        var unreceived = new List<(long Count, string? Sink)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this test's own meter: other tests run in parallel with meters of the same name.
            if (instrument.Meter == metrics.EventsUnreceived.Meter && instrument.Name == "cdc.events.unreceived")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? sink = null;
            foreach (var tag in tags)
            {
                sink = tag.Key == "sink" ? (string?)tag.Value : sink;
            }

            lock (unreceived)
            {
                unreceived.Add((value, sink));
            }
        });
        listener.Start();
        var logger = new WarningRecorder<RabbitMqSink>();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        Assert.True(EventTemplate.TryParse("{subject}", "rabbit", out var template, out var error), error);
        await using (var sink = new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = uri, Exchange = exchange, RoutingKey = "{subject}" }, template, logger, metrics, time))
        {
            // 3 events nobody bound a queue for, 2 to a bound queue
            await sink.DeliverAsync([SinkHarness.Event(1, "LOST"), SinkHarness.Event(2, "HEARD"), SinkHarness.Event(3, "LOST"), SinkHarness.Event(4, "HEARD"), SinkHarness.Event(5, "LOST")], ct);
            await sink.DeliverAsync([SinkHarness.Event(6, "LOST")], ct);
            Assert.Single(logger.Warnings);
            time.Advance(RabbitMqSink.UnreceivedWarningInterval);
            await sink.DeliverAsync([SinkHarness.Event(7, "LOST"), SinkHarness.Event(8, "OTHER")], ct);
        }

        var messages = await DrainAsync(channel, queue, 2, TimeSpan.FromSeconds(10));
        Assert.Equal([SinkHarness.Event(2, "HEARD").Id, SinkHarness.Event(4, "HEARD").Id], messages.Select(m => m.BasicProperties.MessageId));
        lock (unreceived)
        {
            Assert.Equal(6L, unreceived.Sum(u => u.Count));
            Assert.All(unreceived, u => Assert.Equal("rabbit", u.Sink));
        }

        // once for LOST, once more for LOST after the interval, once for OTHER; each names the event, exchange and routing key
        Assert.Equal(3, logger.Warnings.Count);
        Assert.Equal(2, logger.Warnings.Count(w => w.Contains("routing key LOST", StringComparison.Ordinal)));
        Assert.Single(logger.Warnings, w => w.Contains("routing key OTHER", StringComparison.Ordinal) && w.Contains(SinkHarness.Event(8, "OTHER").Id, StringComparison.Ordinal));
        Assert.All(logger.Warnings, w => Assert.Contains("exchange " + exchange, w, StringComparison.Ordinal));
        Assert.All(logger.Warnings, w => Assert.Contains("NO_ROUTE", w, StringComparison.Ordinal));
    }

    /// <summary>
    /// RabbitMQ.Client 7's confirm tracking added its own <c>x-dotnet-pub-seq-no</c> header to every message (to match a return
    /// to its publish), which consumers saw and README did not list. A message carries exactly the <c>cloudEvents:*</c>
    /// properties of its event, and is still confirmed before the batch counts as delivered.
    /// </summary>
    [Fact]
    public async Task A_message_carries_exactly_the_cloudevents_headers_of_its_event()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        var events = new[] { SinkHarness.Event(1, "K1", "PAID"), SinkHarness.Event(2, "K2", "OPEN") };
        await using (var sink = Sink(uri, exchange))
        {
            await sink.DeliverAsync(events, TestContext.Current.CancellationToken);
        }

        var messages = await DrainAsync(channel, queue, 2, TimeSpan.FromSeconds(10));
        Assert.Equal(events.Select(e => e.Id), messages.Select(m => m.BasicProperties.MessageId));
        for (var i = 0; i < events.Length; i++)
        {
            var expected = EventAttributes.Of(events[i]).Select(a => "cloudEvents:" + a.Key).Order(StringComparer.Ordinal);
            Assert.Equal(expected, messages[i].BasicProperties.Headers!.Keys.Order(StringComparer.Ordinal));
            Assert.Contains("cloudEvents:subject", messages[i].BasicProperties.Headers!.Keys);
        }
    }

    /// <summary>
    /// A message the broker nacks (here a queue full with <c>x-overflow: reject-publish</c>) is not delivered: the batch
    /// fails (and is retried) rather than counting as delivered, whichever way the confirms are waited for.
    /// </summary>
    [Fact]
    public async Task A_message_the_broker_nacks_fails_the_batch()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.ExchangeDeclareAsync(exchange, "topic", durable: true, autoDelete: false, cancellationToken: ct);
        var queue = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true,
            arguments: new Dictionary<string, object?> { ["x-max-length"] = 1, ["x-overflow"] = "reject-publish" }, cancellationToken: ct);
        await channel.QueueBindAsync(queue.QueueName, exchange, "#", cancellationToken: ct);
        await using var sink = Sink(uri, exchange);

        await sink.DeliverAsync([SinkHarness.Event(1, "K1")], ct);
        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await sink.DeliverAsync([SinkHarness.Event(2, "K2"), SinkHarness.Event(3, "K3")], ct));
        Assert.Contains("nacked", error.Message, StringComparison.Ordinal);
        Assert.Contains(exchange, error.Message, StringComparison.Ordinal);
        // a remote refusal to the runner: logged in one line, no stack trace
        Assert.True(CdcPipeline.Core.Pipeline.DeliveryFailures.IsExpected(error, [new CdcPipeline.Sinks.SinkClientFailures()]), error.ToString());

        // the queue has room again: the same sink (a new channel) delivers
        Assert.Equal(SinkHarness.Event(1, "K1").Id, Assert.Single(await DrainAsync(channel, queue.QueueName, 1, TimeSpan.FromSeconds(10))).BasicProperties.MessageId);
        await sink.DeliverAsync([SinkHarness.Event(2, "K2")], ct);
        Assert.Equal(SinkHarness.Event(2, "K2").Id, Assert.Single(await DrainAsync(channel, queue.QueueName, 1, TimeSpan.FromSeconds(10))).BasicProperties.MessageId);
    }

    [Fact]
    public async Task A_raw_change_is_labelled_json_not_a_structured_cloudevent()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        var raw = new List<DomainEvent>();
        new PassthroughTranslator("p").Translate(InMemoryChangeSource.Change(3, "K3", "PAID"), raw);
        await using (var sink = Sink(uri, exchange))
        {
            await sink.DeliverAsync(raw, TestContext.Current.CancellationToken);
        }

        // The body is the canonical change (no specversion, no id): with the cloudEvents:* properties it is a binary-mode event.
        var m = Assert.Single(await DrainAsync(channel, queue, 1, TimeSpan.FromSeconds(10)));
        Assert.Equal("application/json", m.BasicProperties.ContentType);
        Assert.Equal(EventJson.Serialize(raw[0]), Encoding.UTF8.GetString(m.Body.Span));
        Assert.Equal("1.0", Encoding.UTF8.GetString((byte[])m.BasicProperties.Headers!["cloudEvents:specversion"]!));
        Assert.Equal(raw[0].Id, Encoding.UTF8.GetString((byte[])m.BasicProperties.Headers!["cloudEvents:id"]!));
    }

    [Fact]
    public async Task A_subject_or_type_too_long_for_an_amqp_property_still_goes_out_with_its_cloudevents_headers()
    {
        // AMQP's correlation-id and type are short strings (at most 255 bytes); the subject is data (a long legacy key) and
        // the type may be (an outbox row's). Both are also in the cloudEvents:* headers, which have no such limit.
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "orders");
        await using var _c = connection;
        await using var _ch = channel;
        var longKey = "K-" + new string('é', 150); // 302 bytes in UTF-8
        var longType = new string('T', 300);
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K1", "PAID"));
        source.Add(InMemoryChangeSource.Change(2, longKey, "PAID"));
        source.Add(InMemoryChangeSource.Change(3, "K3", longType));
        source.Add(InMemoryChangeSource.Change(4, "K4", "PAID"));
        source.Complete();
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 10, sinks: new SinkBinding(Sink(uri, exchange, "orders"), SinkHarness.FastRetry)));

        Assert.Empty(dlq.Letters);
        var messages = await DrainAsync(channel, queue, 4, TimeSpan.FromSeconds(10));
        Assert.Equal(4, messages.Count);
        Assert.Equal("K1", messages[0].BasicProperties.CorrelationId);
        Assert.Null(messages[1].BasicProperties.CorrelationId);
        Assert.Equal(longKey, Encoding.UTF8.GetString((byte[])messages[1].BasicProperties.Headers!["cloudEvents:subject"]!));
        Assert.Null(messages[2].BasicProperties.Type);
        Assert.Equal("Status" + longType, Encoding.UTF8.GetString((byte[])messages[2].BasicProperties.Headers!["cloudEvents:type"]!));
        Assert.Equal("StatusPAID", messages[3].BasicProperties.Type);
    }

    [Fact]
    public async Task A_routing_key_rendered_too_long_is_dead_lettered_at_once_and_the_rest_goes_out()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K1", "PAID"));
        source.Add(InMemoryChangeSource.Change(2, new string('k', 300), "PAID"));
        source.Add(InMemoryChangeSource.Change(3, "K3", "PAID"));
        source.Complete();
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 10, sinks: new SinkBinding(Sink(uri, exchange, "orders.{subject}"), SinkHarness.RetryForever)));

        var letter = Assert.Single(dlq.Letters);
        Assert.Equal(1, letter.Attempts);
        Assert.Contains("routing key", letter.Error, StringComparison.Ordinal);
        Assert.Contains("orders.{subject}", letter.Error, StringComparison.Ordinal);
        Assert.Contains("255", letter.Error, StringComparison.Ordinal);
        Assert.Equal(["orders.K1", "orders.K3"], (await DrainAsync(channel, queue, 2, TimeSpan.FromSeconds(10))).Select(m => m.RoutingKey));
    }

    [Fact]
    public async Task The_exchange_is_declared_durable_and_the_body_is_the_event_json()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        await using (var sink = Sink(uri, exchange, "orders.{subject}"))
        {
            // the exchange does not exist yet: the sink declares it (a passive declare below proves it)
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
        }

        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "orders.*");
        await using var _c = connection;
        await using var _ch = channel;
        await channel.ExchangeDeclarePassiveAsync(exchange, TestContext.Current.CancellationToken);
        await using (var sink = Sink(uri, exchange, "orders.{subject}"))
        {
            await sink.DeliverAsync([SinkHarness.Event(2, "K2")], TestContext.Current.CancellationToken);
        }

        var m = Assert.Single(await DrainAsync(channel, queue, 1, TimeSpan.FromSeconds(10)));
        Assert.Equal("orders.K2", m.RoutingKey);
        Assert.Equal(EventJson.Serialize(SinkHarness.Event(2, "K2")), Encoding.UTF8.GetString(m.Body.Span));
    }

    [Fact]
    public async Task An_exchange_that_does_not_exist_with_declareExchange_off_is_named_with_what_to_do()
    {
        // The broker's owner declares the exchange (declareExchange: false) and has not yet, or under another name: RabbitMQ
        // closes the channel with 404 NOT_FOUND. The error names the sink, the exchange and the two ways on, and is retried
        // (the exchange may be declared meanwhile), not RabbitMQ.Client's bare "Already closed: … interrupted".
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test-missing-" + Guid.NewGuid().ToString("N")[..8];
        Assert.True(EventTemplate.TryParse("{type}", "rabbit", out var template, out var error), error);
        await using var sink = new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = uri, Exchange = exchange, DeclareExchange = false }, template);

        var e = await Assert.ThrowsAsync<IOException>(async () => await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken));
        Assert.Contains("rabbitmq sink 'rabbit'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"exchange '{exchange}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("declareExchange", e.Message, StringComparison.Ordinal);
        Assert.Contains("NOT_FOUND", e.Message, StringComparison.Ordinal);
        Assert.IsNotType<PermanentDeliveryException>(e);

        // Declared meanwhile: the next attempt (a new channel) delivers.
        var (connection, channel, queue) = await BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        await sink.DeliverAsync([SinkHarness.Event(2, "K2")], TestContext.Current.CancellationToken);
        Assert.Single(await DrainAsync(channel, queue, 1, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_broker_outage_is_retried_and_the_sink_reconnects()
    {
        var uri = new Uri(await DownstreamServers.RabbitMqAsync());
        await using var proxy = new TcpProxy(uri.Host, uri.Port);
        var proxied = new UriBuilder(uri) { Port = proxy.Port }.Uri.ToString();
        var exchange = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, queue) = await BindQueueAsync(uri.ToString(), exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;

        var source = SinkHarness.Source(200, 5, complete: false);
        var dlq = new RecordingDeadLetterQueue();
        var run = SinkHarness.Runner(source, dlq, batch: 20, sinks: new SinkBinding(Sink(proxied, exchange), SinkHarness.RetryForever)).RunAsync(TestContext.Current.CancellationToken);
        await SinkHarness.WaitUntilAsync(() => source.Acknowledged.Count > 0, TimeSpan.FromSeconds(30), "a first acknowledged batch");
        proxy.Cut();
        for (var i = 201; i <= 300; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + (i % 5), "S"));
        }

        source.Complete();
        await Task.Delay(1500, TestContext.Current.CancellationToken);
        Assert.NotEqual(300L, source.Acknowledged.LastOrDefault().Major);
        proxy.Restore();
        await run.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Empty(dlq.Letters);
        var messages = await DrainAsync(channel, queue, 300, TimeSpan.FromSeconds(20));
        var positions = SinkHarness.Positions(300, 5);
        var unique = SinkHarness.FirstOccurrences(messages, m => m.BasicProperties.MessageId!);
        Assert.Equal(300, unique.Count);
        SinkHarness.AssertOrderedPerKey(unique.Select(m => (m.BasicProperties.CorrelationId!, positions[m.BasicProperties.MessageId!])));
    }

    private const string Password = "pw-not-printed-7f3a";

    /// <summary>A user of the test's own (<paramref name="permissions"/>: configure, write, read on vhost '/', or none), deleted at the end.</summary>
    private static async Task<(string User, IAsyncDisposable Cleanup)> UserAsync(string uri, params string[]? permissions)
    {
        var user = "cdc-test-" + Guid.NewGuid().ToString("N")[..8];
        await DownstreamServers.RabbitMqCtlAsync(uri, "add_user", user, Password);
        if (permissions is { Length: 3 })
        {
            await DownstreamServers.RabbitMqCtlAsync(uri, ["set_permissions", "-p", "/", user, .. permissions]);
        }

        return (user, new Cleanup(() => DownstreamServers.RabbitMqCtlAsync(uri, "delete_user", user)));
    }

    private sealed class Cleanup(Func<Task> cleanup) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await cleanup();
    }

    private static string As(string uri, string user, string password, string vhost = "", string? scheme = null, int? port = null)
    {
        var builder = new UriBuilder(uri) { UserName = user, Password = password, Path = "/" + vhost };
        if (scheme is not null)
        {
            builder.Scheme = scheme;
        }

        if (port is { } p)
        {
            builder.Port = p;
        }

        return builder.Uri.ToString();
    }

    /// <summary>
    /// Runs one event through the runner into <paramref name="sink"/> (two attempts, then dead-lettered) and gives the texts an
    /// operator reads: the retry warning's reason, the dead letter's error and /healthz's last error of the sink. The runner
    /// meets the failure at the delivery, as for one that arises while the pipeline runs (a declare refused at start stops
    /// the start instead: <see cref="A_declare_refused_at_start_names_the_setting_and_a_broker_away_does_not_stop_it"/>).
    /// </summary>
    private static async Task<string[]> FailureTextsAsync(RabbitMqSink sink)
    {
        var dlq = new RecordingDeadLetterQueue();
        using var logs = new TestOutputLoggerFactory(Microsoft.Extensions.Logging.LogLevel.Warning);
        var runner = SinkHarness.Runner(SinkHarness.Source(1, 1), dlq, logs: logs, sinks: new SinkBinding(new AtDeliveryOnly(sink), new SinkPolicy { MaxAttempts = 2, InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(50) }));
        await SinkHarness.RunToEndAsync(runner, TimeSpan.FromSeconds(90));
        await sink.DisposeAsync();
        var retry = Assert.Single(logs.Lines, w => w.Contains("retrying", StringComparison.Ordinal));
        return [retry, Assert.Single(dlq.Letters).Error, Assert.Single(runner.FailingSinks).LastError];
    }

    /// <summary>The sink without its start check: the runner meets what it refuses at the first delivery.</summary>
    private sealed class AtDeliveryOnly(ISink sink) : ISink
    {
        public string Name => sink.Name;

        public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) => sink.DeliverAsync(batch, cancellationToken);

        public ValueTask DisposeAsync() => sink.DisposeAsync();
    }

    private static void AssertOneLine(string text, params string[] expected)
    {
        Assert.Contains("rabbitmq sink 'rabbit': ", text, StringComparison.Ordinal);
        foreach (var part in expected)
        {
            Assert.Contains(part, text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
        Assert.DoesNotContain("None of the specified endpoints", text, StringComparison.Ordinal);
        Assert.DoesNotContain("classId", text, StringComparison.Ordinal);
        // The sink's own text (after the runner's prefix): long names make it long, but it is one line, without the client's additions.
        var own = text[text.IndexOf("rabbitmq sink 'rabbit': ", StringComparison.Ordinal)..];
        Assert.True(own.Length <= 650, $"{own.Length} characters: {own}");
    }

    private static RabbitMqSink Sink(string uri, string exchange, bool declare) =>
        new("rabbit", new RabbitMqSinkOptions { Uri = uri, Exchange = exchange, DeclareExchange = declare }, Template());

    private static EventTemplate Template()
    {
        Assert.True(EventTemplate.TryParse("{type}", "rabbit", out var template, out var error), error);
        return template;
    }

    /// <summary>
    /// A wrong password or an unknown user: RabbitMQ says only ACCESS_REFUSED at login. The text was RabbitMQ.Client's
    /// "cannot reach the broker … (None of the specified endpoints were reachable)": a login refused, not a broker away.
    /// </summary>
    [Fact]
    public async Task A_refused_login_names_the_sink_endpoint_and_user_and_what_to_check()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var (user, cleanup) = await UserAsync(uri, ".*", ".*", ".*");
        await using var _ = cleanup;
        var port = new Uri(uri).Port;
        foreach (var (name, password) in new[] { (user, Password + "-wrong"), ("cdc-test-nobody", Password) })
        {
            foreach (var text in await FailureTextsAsync(Sink(As(uri, name, password), "cdc-test-auth", declare: true)))
            {
                AssertOneLine(text, $"127.0.0.1:{port}", $"user '{name}'", "refused the login", "ACCESS_REFUSED", "password", "authenticate_user", "Each retry fails the same way until then");
            }
        }
    }

    /// <summary>A vhost that does not exist, and one the user has no permission on: RabbitMQ closes the connection (530 NOT_ALLOWED).</summary>
    [Fact]
    public async Task A_vhost_missing_or_not_permitted_is_named_with_what_to_do()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var (user, cleanup) = await UserAsync(uri, ".*", ".*", ".*");
        await using var _ = cleanup;
        var vhost = "cdc-test-vh-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var text in await FailureTextsAsync(Sink(As(uri, user, Password, vhost), "cdc-test-auth", declare: true)))
        {
            AssertOneLine(text, $"user '{user}'", $"vhost '{vhost}' does not exist", "NOT_ALLOWED", $"rabbitmqctl add_vhost '{vhost}'");
        }

        await DownstreamServers.RabbitMqCtlAsync(uri, "add_vhost", vhost);
        try
        {
            foreach (var text in await FailureTextsAsync(Sink(As(uri, user, Password, vhost), "cdc-test-auth", declare: false)))
            {
                AssertOneLine(text, $"user '{user}'", $"may not use vhost '{vhost}'", "NOT_ALLOWED", $"rabbitmqctl set_permissions -p '{vhost}' '{user}' '' '^cdc-test-auth$' ''");
            }
        }
        finally
        {
            await DownstreamServers.RabbitMqCtlAsync(uri, "delete_vhost", vhost);
        }
    }

    /// <summary>
    /// A user without write permission on the exchange (a 403 at publish), or without configure permission when the sink
    /// declares it: RabbitMQ closes the channel with ACCESS_REFUSED. Was RabbitMQ.Client's "Already closed: The AMQP operation
    /// was interrupted: … classId=60, methodId=40", naming neither the sink nor what to do.
    /// </summary>
    [Fact]
    public async Task A_user_refused_writing_to_or_declaring_the_exchange_is_told_the_permission_to_grant()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var exchange = "cdc-test.auth-" + Guid.NewGuid().ToString("N")[..8];
        var (connection, channel, _) = await BindQueueAsync(uri, exchange, "#");
        await using var _c = connection;
        await using var _ch = channel;
        var (user, cleanup) = await UserAsync(uri, "", "", ".*");
        await using var _u = cleanup;
        var escaped = "^cdc-test\\.auth-" + exchange[14..] + "$";

        foreach (var text in await FailureTextsAsync(Sink(As(uri, user, Password), exchange, declare: false)))
        {
            AssertOneLine(text, $"refuses user '{user}' publishing to exchange '{exchange}' in vhost '/'", "ACCESS_REFUSED", $"rabbitmqctl set_permissions -p '/' '{user}' '' '{escaped}' ''", "list_user_permissions");
        }

        foreach (var text in await FailureTextsAsync(Sink(As(uri, user, Password), exchange, declare: true)))
        {
            AssertOneLine(text, $"refuses user '{user}' declaring exchange '{exchange}' in vhost '/'", "ACCESS_REFUSED", "declareExchange: false", $"rabbitmqctl set_permissions -p '/' '{user}' '{escaped}' '{escaped}' ''");
        }

        // Granted as the message says: the same sink delivers on its next attempt.
        await DownstreamServers.RabbitMqCtlAsync(uri, "set_permissions", "-p", "/", user, "", escaped, ".*");
        await using var sink = Sink(As(uri, user, Password), exchange, declare: false);
        await sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// An exchange that exists with another type than <c>exchangeType</c>, or not durable (the sink declares it durable): RabbitMQ
    /// closes the channel with 406 PRECONDITION_FAILED ("inequivalent arg 'type' …"). Was RabbitMQ.Client's "The AMQP operation was
    /// interrupted: … classId=40, methodId=10", naming neither the sink nor the setting that differs nor what to do.
    /// </summary>
    [Fact]
    public async Task An_exchange_that_exists_with_another_type_or_durability_is_named_with_both_and_what_to_do()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var ct = TestContext.Current.CancellationToken;
        var fanout = "cdc-test-fanout-" + Guid.NewGuid().ToString("N")[..8];
        var transient = "cdc-test-transient-" + Guid.NewGuid().ToString("N")[..8];
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.ExchangeDeclareAsync(fanout, "fanout", durable: true, autoDelete: false, cancellationToken: ct);
        await channel.ExchangeDeclareAsync(transient, "topic", durable: false, autoDelete: false, cancellationToken: ct);
        try
        {
            foreach (var text in await FailureTextsAsync(Sink(uri, fanout, declare: true)))
            {
                AssertOneLine(text, $"exchange '{fanout}' in vhost '/' exists as type fanout, but exchangeType is topic", "PRECONDITION_FAILED",
                    "set exchangeType: fanout", "delete it", "rabbitmqctl list_exchanges -p '/' name type durable auto_delete", "Each retry fails the same way until then");
            }

            foreach (var text in await FailureTextsAsync(Sink(uri, transient, declare: true)))
            {
                AssertOneLine(text, $"exchange '{transient}' in vhost '/' exists with durable false, but the sink declares it with durable true", "PRECONDITION_FAILED",
                    "declareExchange: false", "delete it", "Each retry fails the same way until then");
            }

            // As the first message says: with exchangeType: fanout the sink delivers to the exchange as it is.
            await using var sink = new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = uri, Exchange = fanout, ExchangeType = "fanout" }, Template());
            await sink.DeliverAsync([SinkHarness.Event(1, "K1")], ct);
        }
        finally
        {
            await channel.ExchangeDeleteAsync(fanout, cancellationToken: CancellationToken.None);
            await channel.ExchangeDeleteAsync(transient, cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>
    /// At start (before the pipeline reads) a declare RabbitMQ refuses stops the start naming the setting to change, without the
    /// retries' "until then"; a broker away, or a login refused, is logged and the start goes on (deliveries retry as always).
    /// </summary>
    [Fact]
    public async Task A_declare_refused_at_start_names_the_setting_and_a_broker_away_does_not_stop_it()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var ct = TestContext.Current.CancellationToken;
        var fanout = "cdc-test-fanout-" + Guid.NewGuid().ToString("N")[..8];
        var transient = "cdc-test-transient-" + Guid.NewGuid().ToString("N")[..8];
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.ExchangeDeclareAsync(fanout, "fanout", durable: true, autoDelete: false, cancellationToken: ct);
        await channel.ExchangeDeclareAsync(transient, "topic", durable: false, autoDelete: false, cancellationToken: ct);
        var (user, cleanup) = await UserAsync(uri, "", ".*", ".*");
        await using var _u = cleanup;
        try
        {
            foreach (var (sink, key, text) in new[]
            {
                (Sink(uri, fanout, declare: true), "exchangeType", "exists as type fanout, but exchangeType is topic"),
                (Sink(uri, transient, declare: true), "declareExchange", "exists with durable false, but the sink declares it with durable true"),
                (Sink(As(uri, user, Password), fanout, declare: true), "declareExchange", $"refuses user '{user}' declaring exchange '{fanout}'"),
            })
            {
                await using var _s = sink;
                var refused = await Assert.ThrowsAsync<CdcPipeline.Core.Configuration.ConfigurationException>(async () => await sink.CheckAtStartAsync(ct));
                Assert.Equal(key, refused.Key);
                AssertOneLine(refused.Message, text);
                Assert.DoesNotContain("retry", refused.Message, StringComparison.Ordinal);
            }

            var logger = new WarningRecorder<RabbitMqSink>();
            var port = FreePorts.Next();
            foreach (var away in new[] { As(uri, "guest", Password, port: port), As(uri, user, Password + "-wrong") })
            {
                await using var sink = new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = away, Exchange = fanout, ExchangeType = "fanout" }, Template(), logger);
                await sink.CheckAtStartAsync(ct);
            }

            Assert.Collection(
                logger.Warnings,
                w => Assert.Contains($"is not ready at start: rabbitmq sink 'rabbit': cannot connect to RabbitMQ at amqp://127.0.0.1:{port}/", w, StringComparison.Ordinal),
                w => Assert.Contains("is not ready at start: rabbitmq sink 'rabbit': cannot connect to RabbitMQ", w, StringComparison.Ordinal));
            Assert.Contains("refused the login", logger.Warnings[1], StringComparison.Ordinal);

            // A check that passes says nothing, and its channel serves the first delivery.
            var quiet = new WarningRecorder<RabbitMqSink>();
            await using var ready = new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = uri, Exchange = fanout, ExchangeType = "fanout" }, Template(), quiet);
            await ready.CheckAtStartAsync(ct);
            Assert.Empty(quiet.Warnings);
            await ready.DeliverAsync([SinkHarness.Event(1, "K1")], ct);
        }
        finally
        {
            await channel.ExchangeDeleteAsync(fanout, cancellationToken: CancellationToken.None);
            await channel.ExchangeDeleteAsync(transient, cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>
    /// amqps:// against RabbitMQ's plain port, amqp:// against a port where another server answers (and closes), and one
    /// where a server accepts and never answers (which held the sink's first delivery for ever: no retry, no warning).
    /// </summary>
    [Fact]
    public async Task A_wrong_scheme_or_port_is_named_with_what_to_check_and_a_silent_server_times_out()
    {
        var uri = await DownstreamServers.RabbitMqAsync();
        var port = new Uri(uri).Port;
        foreach (var text in await FailureTextsAsync(Sink(As(uri, "guest", Password, scheme: "amqps"), "cdc-test-auth", declare: true)))
        {
            AssertOneLine(text, $"amqps://127.0.0.1:{port}/", "TLS handshake failed", "for its plain port (5672) use amqp://");
        }

        using var other = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        other.Start();
        var otherPort = ((System.Net.IPEndPoint)other.LocalEndpoint).Port;
        var answering = Task.Run(async () =>
        {
            while (true)
            {
                using var client = await other.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
                await client.GetStream().WriteAsync("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            }
        }, TestContext.Current.CancellationToken);
        foreach (var text in await FailureTextsAsync(Sink(As(uri, "guest", Password, port: otherPort), "cdc-test-auth", declare: true)))
        {
            AssertOneLine(text, $"127.0.0.1:{otherPort}", "did not answer as RabbitMQ", "Check the port");
        }

        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start(); // accepts (the backlog) and never answers
        var silentPort = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var sink = new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = As(uri, "guest", Password, port: silentPort), Exchange = "cdc-test-auth", ConnectTimeout = TimeSpan.FromSeconds(1) }, Template());
        foreach (var text in await FailureTextsAsync(sink))
        {
            AssertOneLine(text, $"127.0.0.1:{silentPort}", "no AMQP handshake within 1 s (connectTimeout)", "does not answer as RabbitMQ");
        }
    }
}
