using System.Collections.Concurrent;
using System.Net;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>
/// A real HTTP server on 127.0.0.1 (HttpListener) that records every request and answers what the
/// test decides per request: 200, 500, 400, or after a delay.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();
    private int _count;

    public WebhookReceiver()
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePorts.Next();
            Url = $"http://127.0.0.1:{port}/hooks/cdc/";
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add(Url);
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // the port was taken between probe and start: try another
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public string Url { get; }

    /// <summary>Decides the answer for the n-th request (1-based): status code and optional delay.</summary>
    public Func<ReceivedRequest, int, (int Status, TimeSpan Delay)> Respond { get; set; } = (_, _) => (200, TimeSpan.Zero);

    /// <summary>Extra response headers for a request (a redirect's <c>Location</c>, say).</summary>
    public Func<ReceivedRequest, IReadOnlyDictionary<string, string>>? ResponseHeaders { get; set; }

    /// <summary>
    /// Requests whose answer sends its headers and the start of a chunked body, then stalls until the receiver stops
    /// (a proxy's error page that never finishes).
    /// </summary>
    public Func<ReceivedRequest, bool>? StallBody { get; set; }

    /// <summary>Every request, including those answered with an error, in arrival order.</summary>
    public IReadOnlyList<ReceivedRequest> Requests => _requests.ToArray();

    /// <summary>Requests answered (or, when delayed, to be answered) 2xx.</summary>
    public IReadOnlyList<ReceivedRequest> Accepted => _requests.Where(r => r.Status is >= 200 and < 300).ToArray();

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        using var body = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(body);
        var headers = context.Request.Headers.AllKeys.Where(k => k is not null)
            .ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
        var request = new ReceivedRequest(context.Request.HttpMethod, context.Request.Url!.AbsolutePath, headers, body.ToArray());
        var n = Interlocked.Increment(ref _count);
        var (status, delay) = Respond(request, n);
        request.Status = status;
        _requests.Enqueue(request);
        try
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _stop.Token);
            }

            context.Response.StatusCode = status;
            foreach (var (name, value) in ResponseHeaders?.Invoke(request) ?? new Dictionary<string, string>())
            {
                context.Response.AddHeader(name, value);
            }

            if (StallBody?.Invoke(request) == true)
            {
                context.Response.SendChunked = true;
                await context.Response.OutputStream.WriteAsync("upstream error, "u8.ToArray(), _stop.Token);
                await context.Response.OutputStream.FlushAsync(_stop.Token);
                await Task.Delay(Timeout.Infinite, _stop.Token);
            }

            context.Response.Close();
        }
        catch (Exception)
        {
            // the client gave up (time-out) or the receiver is stopping
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        _listener.Close();
        await _loop;
        _stop.Dispose();
    }
}
