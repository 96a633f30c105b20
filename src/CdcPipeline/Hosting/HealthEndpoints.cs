using System.Globalization;
using System.Net;
using System.Text;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Hosting;

/// <summary>
/// <c>/healthz</c> (liveness) and <c>/readyz</c> (readiness) on <see cref="ObservabilityOptions.Port"/>, beside the
/// Prometheus exporter's <c>/metrics</c> on the same port (the managed HttpListener routes each request to the
/// listener with the longest matching prefix). 200 with "ok" when the check passes, 503 with the reason when not.
/// </summary>
internal sealed partial class HealthEndpoints : IHostedService, IDisposable
{
    private readonly PipelineInstance _pipeline;
    private readonly ObservabilityOptions _options;
    private readonly ILogger<HealthEndpoints> _logger;
    private readonly HttpListener _listener = new();
    private Task? _serving;

    public HealthEndpoints(PipelineInstance pipeline, ObservabilityOptions options, ILogger<HealthEndpoints> logger)
    {
        _pipeline = pipeline;
        _options = options;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var port = _options.Port ?? throw new InvalidOperationException("observability.port is not set");
        _listener.Prefixes.Add($"http://+:{port}/healthz/");
        _listener.Prefixes.Add($"http://+:{port}/readyz/");
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException e)
        {
            throw new ObservabilityStartException($"observability.port {port}: cannot serve /healthz and /readyz: {e.Message}", e);
        }

        LogListening(_logger, port);
        _serving = Task.Run(ServeAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener.IsListening)
        {
            _listener.Stop();
        }

        if (_serving is not null)
        {
            await _serving.ConfigureAwait(false);
        }
    }

    public void Dispose() => _listener.Close();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }

            try
            {
                var path = context.Request.Url?.AbsolutePath.TrimEnd('/') ?? "";
                var (status, text) = path switch
                {
                    "/healthz" => Liveness(),
                    "/readyz" => Readiness(),
                    _ => (HttpStatusCode.NotFound, "not found; try /healthz, /readyz or /metrics"),
                };
                var body = Encoding.UTF8.GetBytes(text + "\n");
                context.Response.StatusCode = (int)status;
                context.Response.ContentType = "text/plain; charset=utf-8";
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body).ConfigureAwait(false);
                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                // the prober went away; nothing to answer
                context.Response.Abort();
            }
        }
    }

    /// <summary>Live while the runner runs and its backlog (if any) was acknowledged within the stall timeout.</summary>
    private (HttpStatusCode, string) Liveness()
    {
        var runner = _pipeline.Runner;
        if (!runner.IsRunning)
        {
            return (HttpStatusCode.ServiceUnavailable, "pipeline not running");
        }

        var stalled = runner.StalledFor;
        return stalled < _options.StallTimeout
            ? (HttpStatusCode.OK, "ok")
            : (HttpStatusCode.ServiceUnavailable, string.Create(CultureInfo.InvariantCulture,
                $"stalled: {runner.Backlog} change(s) without acknowledgement for {stalled.TotalSeconds:F0} s (observability.stallTimeout {_options.StallTimeout})"));
    }

    /// <summary>Ready while the runner runs and its source is connected (a source that cannot tell: while the runner runs).</summary>
    private (HttpStatusCode, string) Readiness()
    {
        if (!_pipeline.Runner.IsRunning)
        {
            return (HttpStatusCode.ServiceUnavailable, "pipeline not running");
        }

        return _pipeline.Source is ISourceConnection { IsConnected: false }
            ? (HttpStatusCode.ServiceUnavailable, "source not connected")
            : (HttpStatusCode.OK, "ok");
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Serving /metrics, /healthz and /readyz on port {Port}")]
    private static partial void LogListening(ILogger logger, int port);
}

/// <summary>The observability port cannot be served (in use, not permitted): the run stops with exit 1.</summary>
internal sealed class ObservabilityStartException(string message, Exception inner) : Exception(message, inner);
