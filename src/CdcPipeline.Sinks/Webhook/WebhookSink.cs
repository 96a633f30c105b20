using System.Net;
using System.Net.Http.Headers;
using System.Globalization;
using CdcPipeline.Consumer;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;

namespace CdcPipeline.Sinks.Webhook;

/// <summary>
/// POSTs each event to a URL per the CloudEvents HTTP binding, one request per event in source order
/// (a receiver sees events of one key in order because the next request starts only after the
/// previous one got its 2xx). 5xx, 408, 429, time-outs and connection errors are transient (the
/// sink's retry policy applies), and so are redirects, which are never followed (a POST would go on as a
/// GET without the event); any other 4xx means the receiver will never take this event, so it
/// is a <see cref="PermanentDeliveryException"/> and goes to the dead letters while the rest flow. A 429 or 503 with
/// <c>Retry-After</c> is a <see cref="RetryLaterException"/>: the next attempt waits as long as the receiver asked.
/// </summary>
public sealed class WebhookSink : ISink
{
    private static readonly MediaTypeHeaderValue StructuredType = new("application/cloudevents+json") { CharSet = "utf-8" };
    private static readonly MediaTypeHeaderValue JsonType = new("application/json") { CharSet = "utf-8" };

    /// <summary>How much of an error answer's body goes into the error: <see cref="SnippetChars"/> characters of UTF-8 at most.</summary>
    private const int SnippetChars = 200;
    private const int SnippetBytes = SnippetChars * 4;

    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly AuthenticationHeaderValue? _authorization;
    private readonly WebhookSinkOptions _options;
    private readonly TimeProvider _time;

    public WebhookSink(string name, HttpClient http, WebhookSinkOptions options, TimeProvider? timeProvider = null)
    {
        Name = name;
        _http = http;
        // Credentials in the URL (https://user:password@host/path, as curl takes them): HttpClient neither sends them nor keeps
        // them out of the messages that name the URL, so they go as basic auth, unless an Authorization header is configured.
        (_url, var userInfo) = UrlCredentials.Split(new Uri(options.Url, UriKind.Absolute));
        if (!options.Headers.Keys.Any(k => k.Equals("Authorization", StringComparison.OrdinalIgnoreCase)))
        {
            _authorization = UrlCredentials.BasicAuthorization(userInfo);
        }

        _options = options;
        _time = timeProvider ?? TimeProvider.System;

        // The sink applies its own per-request time-out (see SendAsync) so that it can tell a
        // time-out (transient) from a stop request; HttpClient's would look like cancellation.
        _http.Timeout = Timeout.InfiniteTimeSpan;
    }

    public string Name { get; }

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        foreach (var e in batch)
        {
            await SendAsync(e, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SendAsync(DomainEvent e, CancellationToken cancellationToken)
    {
        using var request = BuildRequest(e);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"webhook sink '{Name}': {_url.GetLeftPart(UriPartial.Path)} did not answer event {e.Id} within {_options.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (response.RequestMessage is { } sent && sent.Method != HttpMethod.Post)
            {
                // An HttpClient that follows redirects (the default handler does) turns the POST into a GET without the
                // body on a 301/302/303: whatever that GET got, the receiver never saw the event.
                throw new HttpRequestException($"webhook sink '{Name}': {_url.GetLeftPart(UriPartial.Path)} redirected event {e.Id} ({e.Type}) and the HTTP client followed it as a {sent.Method} without the event to {Redacted(sent.RequestUri)}: not delivered; set url to the new location", null, response.StatusCode);
            }

            if (response.IsSuccessStatusCode)
            {
                return;
            }

            if (status is >= 300 and < 400)
            {
                // Not followed (see WebhookSinkFactory): a redirected POST goes on as a GET without the body, and without
                // the credentials. Transient like a 5xx — the receiver or the configuration may be fixed.
                var location = response.Headers.Location is { } l ? Redacted(l.IsAbsoluteUri ? l : new Uri(_url, l)) : "no Location";
                throw new HttpRequestException($"webhook sink '{Name}': {_url.GetLeftPart(UriPartial.Path)} answered {status} {response.ReasonPhrase} to event {e.Id} ({e.Type}), redirecting to {location}: webhook sinks do not follow redirects (the event would go on as a GET without its body); set url to the new location", null, response.StatusCode);
            }

            var detail = await ReadSnippetAsync(response, timeout.Token, cancellationToken).ConfigureAwait(false);
            var message = $"webhook sink '{Name}': {_url.GetLeftPart(UriPartial.Path)} answered {status} {response.ReasonPhrase} to event {e.Id} ({e.Type}){detail}";
            if (status is >= 400 and < 500 && response.StatusCode is not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests)
            {
                throw new PermanentDeliveryException(e, message);
            }

            var failure = new HttpRequestException(message, null, response.StatusCode);
            if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable && RetryAfter(response) is { } wait)
            {
                throw new RetryLaterException($"{message} (Retry-After: {wait.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s)", wait, failure);
            }

            throw failure;
        }
    }

    /// <summary>The wait a <c>Retry-After</c> header asks for, in seconds or as an HTTP date (zero when that date has passed).</summary>
    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta < TimeSpan.Zero ? TimeSpan.Zero : delta,
        { Date: { } date } => date > _time.GetUtcNow() ? date - _time.GetUtcNow() : TimeSpan.Zero,
        _ => null,
    };

    private HttpRequestMessage BuildRequest(DomainEvent e)
    {
        byte[] body;
        var request = new HttpRequestMessage(HttpMethod.Post, _url);
        // A raw change (no rules) is not a structured CloudEvent: its JSON is the canonical change, which has no specversion
        // or id. Labelled application/cloudevents+json, a CloudEvents receiver would reject it; in binary mode it is a valid
        // event whose data is the change, so it always goes that way.
        if (_options.Mode == WebhookMode.Binary || e.IsRawChange)
        {
            // An event without data (an outbox row with a null payload) has an empty body and no content type, as the
            // structured form has no data member: a JSON "null" body would be data the event does not have.
            var hasData = e.IsRawChange || e.Data is not null;
            body = hasData ? EventBodies.Data(e) : [];
            request.Content = new ByteArrayContent(body);
            if (hasData)
            {
                request.Content.Headers.ContentType = JsonType;
            }

            foreach (var (name, value) in EventAttributes.Of(e))
            {
                // Header values must be ASCII; the binding percent-encodes anything else.
                request.Headers.TryAddWithoutValidation("ce-" + name, EncodeHeaderValue(value));
            }
        }
        else
        {
            body = EventJson.SerializeToUtf8(e);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = StructuredType;
        }

        request.Headers.Authorization = _authorization;
        foreach (var (name, value) in _options.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (!string.IsNullOrEmpty(_options.Secret))
        {
            var now = _time.GetUtcNow().ToUnixTimeSeconds();
            request.Headers.TryAddWithoutValidation(WebhookSignature.TimestampHeader, now.ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation(WebhookSignature.SignatureHeader, WebhookSignature.Compute(_options.Secret, now, body));
        }

        return request;
    }

    private static string EncodeHeaderValue(string value)
    {
        foreach (var c in value)
        {
            // CloudEvents HTTP binding 3.1.3.2: space, '"', '%' and anything outside printable ASCII are percent-encoded
            // (an unencoded leading or trailing space would be lost: HTTP strips it from a header value).
            if (c is <= ' ' or > '~' or '%' or '"')
            {
                return Uri.EscapeDataString(value);
            }
        }

        return value;
    }

    /// <summary>A URL as errors may show it: no credentials, no query (it may carry a token).</summary>
    private static string Redacted(Uri? uri) => uri is null ? "?" : UrlCredentials.Split(uri).Url.GetLeftPart(UriPartial.Path);

    /// <summary>
    /// The start of an error answer's body for the error message. Read within the request's time-out and no further than
    /// <see cref="SnippetBytes"/>: a proxy's error page that stalls after its headers, or a huge one, must neither hold
    /// the pipeline nor be buffered whole for 200 characters.
    /// </summary>
    private static async Task<string> ReadSnippetAsync(HttpResponseMessage response, CancellationToken timeout, CancellationToken stopping)
    {
        var buffer = new byte[SnippetBytes];
        var read = 0;
        try
        {
            var body = await response.Content.ReadAsStreamAsync(timeout).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                int n;
                while (read < buffer.Length && (n = await body.ReadAsync(buffer.AsMemory(read), timeout).ConfigureAwait(false)) > 0)
                {
                    read += n;
                }
            }
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            // The time-out ran out while the body trickled in: the status is known, show what arrived.
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            // The receiver closed the connection mid-body: show what arrived.
        }

        var text = System.Text.Encoding.UTF8.GetString(buffer, 0, read).Trim();
        return text.Length == 0 ? "" : ": " + (text.Length > SnippetChars ? text[..SnippetChars] + "…" : text);
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return default;
    }
}
