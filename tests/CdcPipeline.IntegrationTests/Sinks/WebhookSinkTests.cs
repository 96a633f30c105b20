using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Consumer;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Sinks;
using CdcPipeline.Sinks.Webhook;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.IntegrationTests.Sinks;

/// <summary>The webhook sink against a real HTTP server on 127.0.0.1.</summary>
public sealed class WebhookSinkTests
{
    private const string Secret = "s3cr3t-for-tests";

    private static WebhookSink Sink(WebhookReceiver receiver, WebhookMode mode = WebhookMode.Structured, TimeSpan? timeout = null) =>
        new("hook", new HttpClient(), new WebhookSinkOptions
        {
            Url = receiver.Url,
            Secret = Secret,
            Mode = mode,
            Timeout = timeout ?? TimeSpan.FromSeconds(5),
            Headers = new(StringComparer.OrdinalIgnoreCase) { ["X-Api-Key"] = "k1" },
        });

    [Fact]
    public async Task Structured_mode_posts_cloudevents_json_with_a_verifiable_signature()
    {
        await using var receiver = new WebhookReceiver();
        await using var sink = Sink(receiver);
        var events = new[] { SinkHarness.Event(1, "K1"), SinkHarness.Event(2, "K2") };

        await sink.DeliverAsync(events, TestContext.Current.CancellationToken);

        var requests = receiver.Requests;
        Assert.Equal(2, requests.Count);
        for (var i = 0; i < 2; i++)
        {
            var r = requests[i];
            Assert.Equal("POST", r.Method);
            Assert.Equal("/hooks/cdc/", r.Path);
            Assert.StartsWith("application/cloudevents+json", r.Header("Content-Type"));
            Assert.Equal("k1", r.Header("X-Api-Key"));
            Assert.Equal(EventJson.Serialize(events[i]), r.Text);
            Assert.Equal(events[i].Id, r.Json.GetProperty("id").GetString());
            Assert.True(WebhookSignature.Verify(Secret, r.Header(WebhookSignature.TimestampHeader)!, r.Header(WebhookSignature.SignatureHeader)!, r.Body), "signature verifies over timestamp.body");
            Assert.False(WebhookSignature.Verify("wrong-secret", r.Header(WebhookSignature.TimestampHeader)!, r.Header(WebhookSignature.SignatureHeader)!, r.Body));
            var ts = long.Parse(r.Header(WebhookSignature.TimestampHeader)!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(ts, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        }
    }

    [Fact]
    public async Task Binary_mode_sends_ce_headers_and_the_data_as_body()
    {
        await using var receiver = new WebhookReceiver();
        await using var sink = Sink(receiver, WebhookMode.Binary);
        var e = SinkHarness.Event(7, "K7", "PAID");

        await sink.DeliverAsync([e], TestContext.Current.CancellationToken);

        var r = Assert.Single(receiver.Requests);
        Assert.StartsWith("application/json", r.Header("Content-Type"));
        Assert.Equal("1.0", r.Header("ce-specversion"));
        Assert.Equal(e.Id, r.Header("ce-id"));
        Assert.Equal("StatusPAID", r.Header("ce-type"));
        Assert.Equal("K7", r.Header("ce-subject"));
        Assert.Equal("/test", r.Header("ce-source"));
        Assert.Equal("""{"ord_no":"K7","ord_sts_cd":"PAID"}""", r.Text);
        Assert.True(WebhookSignature.Verify(Secret, r.Header(WebhookSignature.TimestampHeader)!, r.Header(WebhookSignature.SignatureHeader)!, r.Body));
    }

    [Fact]
    public async Task Binary_mode_percent_encodes_spaces_in_header_values()
    {
        await using var receiver = new WebhookReceiver();
        await using var sink = Sink(receiver, WebhookMode.Binary);
        var e = SinkHarness.Event(8, " K 8 ", "PAID");

        await sink.DeliverAsync([e], TestContext.Current.CancellationToken);

        var r = Assert.Single(receiver.Requests);
        Assert.Equal("%20K%208%20", r.Header("ce-subject"));
        Assert.Equal(" K 8 ", Uri.UnescapeDataString(r.Header("ce-subject")!));
    }

    [Fact]
    public async Task Binary_mode_sends_an_event_without_data_with_an_empty_body()
    {
        await using var receiver = new WebhookReceiver();
        await using var sink = Sink(receiver, WebhookMode.Binary);
        var withData = SinkHarness.Event(9, "K9", "PAID");
        var e = new DomainEvent
        {
            Id = withData.Id,
            Type = withData.Type,
            Source = withData.Source,
            Subject = withData.Subject,
            Position = withData.Position,
            Change = withData.Change,
            Data = null,
        };

        await sink.DeliverAsync([e], TestContext.Current.CancellationToken);

        // The structured form of this event has no data member; binary mode must not invent a JSON null.
        Assert.False(JsonDocument.Parse(EventJson.Serialize(e)).RootElement.TryGetProperty("data", out _));
        var r = Assert.Single(receiver.Requests);
        Assert.Equal(e.Id, r.Header("ce-id"));
        Assert.Equal("", r.Text);
        Assert.Null(r.Header("Content-Type"));
    }

    [Fact]
    public async Task A_raw_change_goes_in_binary_mode_even_when_structured_is_configured()
    {
        await using var receiver = new WebhookReceiver();
        await using var sink = Sink(receiver);
        var raw = new List<DomainEvent>();
        new PassthroughTranslator("p").Translate(InMemoryChangeSource.Change(3, "K3", "PAID"), raw);
        var e = Assert.Single(raw);

        await sink.DeliverAsync([e], TestContext.Current.CancellationToken);

        // The canonical change JSON has no specversion or id: labelled application/cloudevents+json, no CloudEvents receiver could read it.
        var r = Assert.Single(receiver.Requests);
        Assert.StartsWith("application/json", r.Header("Content-Type"));
        Assert.Equal("1.0", r.Header("ce-specversion"));
        Assert.Equal(e.Id, r.Header("ce-id"));
        Assert.Equal(DomainEvent.RawChangeType, r.Header("ce-type"));
        Assert.Equal(EventJson.Serialize(e), r.Text);
    }

    [Fact]
    public async Task Server_errors_are_retried_until_the_receiver_recovers_and_nothing_is_lost()
    {
        // requests are serial (one at a time, in order), so "the 2nd to 4th request" is deterministic
        await using var receiver = new WebhookReceiver { Respond = (_, n) => (n is 2 or 3 or 4 ? 503 : 200, TimeSpan.Zero) };
        var source = SinkHarness.Source(30, 3);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 10, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry)));

        Assert.Empty(dlq.Letters);
        Assert.Equal(3, receiver.Requests.Count(r => r.Status == 503));
        var delivered = SinkHarness.FirstOccurrences(receiver.Accepted, r => r.Json.GetProperty("id").GetString()!);
        Assert.Equal(30, delivered.Count);
        var positions = SinkHarness.Positions(30, 3);
        SinkHarness.AssertOrderedPerKey(delivered.Select(r => (r.Json.GetProperty("subject").GetString()!, positions[r.Json.GetProperty("id").GetString()!])));
        Assert.Equal(30L, source.Acknowledged.Last().Major);
    }

    [Fact]
    public async Task A_client_error_dead_letters_that_event_while_the_rest_flow()
    {
        var poisonId = SinkHarness.Event(5, "K2").Id;
        await using var receiver = new WebhookReceiver { Respond = (r, _) => (r.Json.GetProperty("id").GetString() == poisonId ? 422 : 200, TimeSpan.Zero) };
        var source = SinkHarness.Source(12, 3);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, batch: 4, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry)));

        var letter = Assert.Single(dlq.Letters);
        Assert.Equal("hook", letter.Stage);
        Assert.Equal(poisonId, letter.EventId);
        Assert.Equal(typeof(PermanentDeliveryException).FullName, letter.ErrorType);
        Assert.Contains("422", letter.Error, StringComparison.Ordinal);
        Assert.Equal(1, letter.Attempts);
        Assert.Equal(EventJson.Serialize(SinkHarness.Event(5, "K2")), Encoding.UTF8.GetString(letter.Payload.Span));

        // a 4xx is never retried: the poison event was posted once in its batch and once alone
        Assert.Equal(2, receiver.Requests.Count(r => r.Json.GetProperty("id").GetString() == poisonId));
        var delivered = SinkHarness.FirstOccurrences(receiver.Accepted, r => r.Json.GetProperty("id").GetString()!);
        Assert.Equal(11, delivered.Count);
        Assert.Equal(12L, source.Acknowledged.Last().Major);
    }

    /// <summary>
    /// An event the receiver refuses for good (400), alone in its batch, was dead-lettered and left its sink named in /healthz
    /// as "failing" until the next event came, though the receiver was fine and the pipeline had moved on. One refused event is
    /// a dead letter (counted), not a sink outage. A receiver that refuses every event (a wrong path: 404) still is one.
    /// </summary>
    [Fact]
    public async Task An_event_refused_for_good_alone_in_its_batch_is_a_dead_letter_not_a_failing_sink()
    {
        var poisonId = SinkHarness.Event(3, "K0").Id;
        await using var receiver = new WebhookReceiver { Respond = (r, _) => (r.Json.GetProperty("id").GetString() == poisonId ? 400 : 200, TimeSpan.Zero) };
        var source = SinkHarness.Source(3, 1);
        var dlq = new RecordingDeadLetterQueue();
        var runner = SinkHarness.Runner(source, dlq, batch: 1, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry));
        await SinkHarness.RunToEndAsync(runner);

        Assert.Equal(poisonId, Assert.Single(dlq.Letters).EventId);
        Assert.Equal(2, receiver.Accepted.Count);
        Assert.Equal(3L, source.Acknowledged.Last().Major);
        Assert.Empty(runner.FailingSinks);

        await using var wrongPath = new WebhookReceiver { Respond = (_, _) => (404, TimeSpan.Zero) };
        var refusing = SinkHarness.Runner(SinkHarness.Source(2, 1), new RecordingDeadLetterQueue(), batch: 1, sinks: new SinkBinding(Sink(wrongPath), SinkHarness.FastRetry));
        await SinkHarness.RunToEndAsync(refusing);
        var failing = Assert.Single(refusing.FailingSinks);
        Assert.Equal("hook", failing.Sink);
        Assert.Contains("404", failing.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Credentials_in_the_URL_are_sent_as_basic_auth_and_never_in_an_error()
    {
        // A receiver behind basic auth, configured as curl takes it (https://user:password@host/path): HttpClient neither sends
        // the URL's credentials nor keeps them out of the sink's errors, which are logged and written into dead letters.
        await using var receiver = new WebhookReceiver { Respond = (_, _) => (422, TimeSpan.Zero) };
        var sink = new WebhookSink("hook", new HttpClient(), new WebhookSinkOptions { Url = receiver.Url.Replace("http://", "http://hook:s3cr%23et@", StringComparison.Ordinal) });
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(SinkHarness.Source(1, 1), dlq, sinks: new SinkBinding(sink, SinkHarness.FastRetry)));

        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("hook:s3cr#et")), receiver.Requests[0].Header("Authorization"));
        var letter = Assert.Single(dlq.Letters);
        Assert.Contains($"{receiver.Url} answered 422", letter.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr", letter.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timeout_is_transient_and_retried()
    {
        await using var receiver = new WebhookReceiver { Respond = (_, n) => (200, n == 1 ? TimeSpan.FromSeconds(3) : TimeSpan.Zero) };
        var source = SinkHarness.Source(3, 3);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, sinks: new SinkBinding(Sink(receiver, timeout: TimeSpan.FromMilliseconds(300)), SinkHarness.FastRetry)));

        Assert.Empty(dlq.Letters);
        var ids = receiver.Requests.Select(r => r.Json.GetProperty("id").GetString()!).ToList();
        Assert.True(ids.Count >= 4, "the timed-out request was sent again");
        Assert.Equal(ids[0], ids[1]);
        Assert.Equal(3, ids.Distinct().Count());
    }

    [Fact]
    public async Task An_error_answer_whose_body_never_ends_fails_within_the_timeout()
    {
        // A 502 from a proxy whose error page stalls after the headers: the sink reads a snippet of it for its error, and that
        // read must be bounded by the request's time-out like the rest of the request, or the pipeline hangs on it for good.
        await using var receiver = new WebhookReceiver { Respond = (_, _) => (502, TimeSpan.Zero), StallBody = _ => true };
        await using var sink = Sink(receiver, timeout: TimeSpan.FromSeconds(3));

        var delivery = sink.DeliverAsync([SinkHarness.Event(1, "K1")], TestContext.Current.CancellationToken).AsTask();
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => delivery.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));

        Assert.Equal(System.Net.HttpStatusCode.BadGateway, error.StatusCode);
        Assert.Contains("answered 502", error.Message, StringComparison.Ordinal);
        Assert.Contains("upstream error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_4xx_from_429_or_408_is_transient()
    {
        await using var receiver = new WebhookReceiver { Respond = (_, n) => (n switch { 1 => 429, 2 => 408, _ => 200 }, TimeSpan.Zero) };
        var source = SinkHarness.Source(1, 1);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry)));

        Assert.Empty(dlq.Letters);
        Assert.Equal([429, 408, 200], receiver.Requests.Select(r => r.Status));
    }

    [Fact]
    public async Task A_redirect_is_never_taken_for_delivery()
    {
        // A receiver that moved answers 301/302: HttpClient's default handler follows it as a GET without the body (and
        // without the Authorization header), and the GET's 200 would have counted as delivered. The event was not.
        await using var receiver = new WebhookReceiver
        {
            Respond = (r, _) => (r.Method == "POST" ? 301 : 200, TimeSpan.Zero),
            ResponseHeaders = r => r.Method == "POST" ? new Dictionary<string, string> { ["Location"] = "moved" } : new Dictionary<string, string>(),
        };
        var e = SinkHarness.Event(1, "K1");
        await using (var sink = new WebhookSink("hook", new HttpClient(), new WebhookSinkOptions { Url = receiver.Url }))
        {
            var error = await Assert.ThrowsAsync<HttpRequestException>(async () => await sink.DeliverAsync([e], TestContext.Current.CancellationToken));
            Assert.Contains("as a GET", error.Message, StringComparison.Ordinal);
            Assert.Contains(receiver.Url + "moved", error.Message, StringComparison.Ordinal);
            Assert.Contains("not delivered", error.Message, StringComparison.Ordinal);
        }

        // The sink's own client (the one the pipeline uses) does not follow it at all.
        await using var services = new ServiceCollection().AddCdcSinks().BuildServiceProvider();
        var http = services.GetRequiredService<IHttpClientFactory>().CreateClient(WebhookSinkFactory.HttpClientName);
        var before = receiver.Requests.Count;
        await using (var sink = new WebhookSink("hook", http, new WebhookSinkOptions { Url = receiver.Url }))
        {
            var error = await Assert.ThrowsAsync<HttpRequestException>(async () => await sink.DeliverAsync([e], TestContext.Current.CancellationToken));
            Assert.Contains("301", error.Message, StringComparison.Ordinal);
            Assert.Contains(receiver.Url + "moved", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(["POST"], receiver.Requests.Skip(before).Select(r => r.Method));
    }

    [Fact]
    public async Task A_429_or_503_with_Retry_After_waits_as_long_as_the_receiver_asks()
    {
        // Retry-After in seconds, then as an HTTP date; the sink's own backoff (FastRetry) is at most 200 ms.
        var retryAt = DateTimeOffset.UtcNow.AddSeconds(4);
        await using var receiver = new WebhookReceiver
        {
            Respond = (_, n) => (n switch { 1 => 429, 2 => 503, _ => 200 }, TimeSpan.Zero),
            ResponseHeaders = r => r.Status switch
            {
                429 => new Dictionary<string, string> { ["Retry-After"] = "1" },
                503 => new Dictionary<string, string> { ["Retry-After"] = retryAt.ToString("R", CultureInfo.InvariantCulture) },
                _ => new Dictionary<string, string>(),
            },
        };
        var logs = new RetryDelays();
        var source = SinkHarness.Source(1, 1);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(source, dlq, logs: logs, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry)));

        Assert.Empty(dlq.Letters);
        Assert.Equal([429, 503, 200], receiver.Requests.Select(r => r.Status));
        Assert.Equal(2, logs.Delays.Count);
        Assert.Equal(TimeSpan.FromSeconds(1), logs.Delays[0]);
        Assert.True(logs.Delays[1] > TimeSpan.FromSeconds(1), $"waited {logs.Delays[1]} for a Retry-After date about 3 s away");
    }

    [Fact]
    public async Task A_Retry_After_of_an_hour_is_bounded_and_does_not_hold_up_a_stop()
    {
        await using var receiver = new WebhookReceiver
        {
            Respond = (_, n) => (n == 1 ? 503 : 200, TimeSpan.Zero),
            ResponseHeaders = r => r.Status == 503 ? new Dictionary<string, string> { ["Retry-After"] = "3600" } : new Dictionary<string, string>(),
        };
        var logs = new RetryDelays();
        var source = SinkHarness.Source(1, 1, complete: false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var runner = new PipelineRunner(source, new StatusTranslator(), [new SinkBinding(Sink(receiver), SinkHarness.RetryForever)], new RecordingDeadLetterQueue(),
            new PipelineRunnerOptions { DrainTimeout = TimeSpan.FromSeconds(1) }, logs.CreateLogger<PipelineRunner>());
        var run = runner.RunAsync(stop.Token);
        await SinkHarness.WaitUntilAsync(() => !logs.Queue.IsEmpty, TimeSpan.FromSeconds(30), "a retry");

        Assert.Equal(RetryLaterException.MaxDelay, Assert.Single(logs.Delays));

        // A stop drains for runner.drainTimeout at most: it does not sit out the receiver's wait.
        stop.Cancel();
        await run.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Empty(source.Acknowledged);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task A_500_is_logged_on_each_retry_and_at_the_dead_letter_without_a_stack_trace()
    {
        await using var receiver = new WebhookReceiver { Respond = (_, _) => (500, TimeSpan.Zero) };
        var logs = new RecordedLogs(LogLevel.Information);
        var dlq = new RecordingDeadLetterQueue();
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(SinkHarness.Source(1, 1), dlq, logs: logs, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry)));

        Assert.Single(dlq.Letters);
        var failures = logs.Records.Where(r => r.EventId is 1011 or 1012).ToArray();
        Assert.Equal(5, failures.Length);
        Assert.All(failures, r =>
        {
            // The remote's answer, one line: no trace, the answer in the message, the exception's type as a field.
            Assert.Null(r.Exception);
            Assert.Contains("500", r.Message, StringComparison.Ordinal);
            Assert.Equal(typeof(HttpRequestException).FullName, r.Fields["ExceptionType"]);
        });
        Assert.Equal(LogLevel.Error, failures[^1].Level);
    }

    [Fact]
    public async Task With_debug_logs_a_500_is_logged_with_its_stack_trace()
    {
        await using var receiver = new WebhookReceiver { Respond = (_, _) => (500, TimeSpan.Zero) };
        var logs = new RecordedLogs(LogLevel.Debug);
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(SinkHarness.Source(1, 1), new RecordingDeadLetterQueue(), logs: logs, sinks: new SinkBinding(Sink(receiver), SinkHarness.FastRetry)));

        var failures = logs.Records.Where(r => r.EventId is 1011 or 1012).ToArray();
        Assert.Equal(5, failures.Length);
        Assert.All(failures, r => Assert.IsType<HttpRequestException>(r.Exception));
    }

    [Fact]
    public async Task A_bug_in_a_sink_is_logged_with_its_stack_trace()
    {
        var logs = new RecordedLogs(LogLevel.Information);
        await SinkHarness.RunToEndAsync(SinkHarness.Runner(SinkHarness.Source(1, 1), new RecordingDeadLetterQueue(), logs: logs, sinks: new SinkBinding(new BuggySink(), SinkHarness.FastRetry)));

        var failures = logs.Records.Where(r => r.EventId is 1011 or 1012).ToArray();
        Assert.Equal(5, failures.Length);
        Assert.All(failures, r => Assert.IsType<NullReferenceException>(r.Exception));
    }

    private sealed class BuggySink : ISink
    {
        public string Name => "buggy";

        public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) => throw new NullReferenceException("a bug");

        public ValueTask DisposeAsync() => default;
    }

    /// <summary>Every record logged at <c>minimum</c> or above: level, event id, message, fields, exception.</summary>
    private sealed class RecordedLogs(LogLevel minimum) : ILoggerFactory, ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, int EventId, string Message, Dictionary<string, object?> Fields, Exception? Exception)> _records = new();

        public IReadOnlyList<(LogLevel Level, int EventId, string Message, Dictionary<string, object?> Fields, Exception? Exception)> Records => _records.ToArray();

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var fields = state is IEnumerable<KeyValuePair<string, object?>> values ? values.ToDictionary(v => v.Key, v => v.Value) : [];
                _records.Enqueue((logLevel, eventId.Id, formatter(state, exception), fields, exception));
            }
        }

        public void Dispose()
        {
        }
    }

    /// <summary>The delays the runner logs before each retry (log event 1011).</summary>
    private sealed class RetryDelays : ILoggerFactory, ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<TimeSpan> Queue { get; } = new();

        public IReadOnlyList<TimeSpan> Delays => Queue.ToArray();

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 1011 && state is IEnumerable<KeyValuePair<string, object?>> values && values.FirstOrDefault(v => v.Key == "Delay").Value is TimeSpan delay)
            {
                Queue.Enqueue(delay);
            }
        }

        public void Dispose()
        {
        }
    }
}
