using System.Globalization;
using System.Net;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace CdcPipeline.Hosting;

/// <summary>
/// <c>/healthz</c> (liveness), <c>/readyz</c> (readiness) and the Prometheus exporter's <c>/metrics</c> on
/// <see cref="ObservabilityOptions.Port"/> of every interface, served by a bare Kestrel server this hosted service owns
/// (not a second host: its console lifetime would take SIGTERM too and stop the endpoints before the pipeline drained).
/// Health: 200 with "ok" when the check passes ("degraded: " and why while the pipeline goes on with something wrong that a
/// restart does not fix: the source's <see cref="ISourceHealth"/>, a sink whose events are set aside; a failing sink whose
/// failures are ignored by its configuration is named after "ok", not degraded), 503 with the reason
/// when not; any other path 404. It listens before the pipeline is built (see <see cref="BindAsync"/>) and answers "pipeline
/// not running" until <see cref="Serve"/> gave it one and its runner runs.
/// </summary>
internal sealed partial class HealthEndpoints : IHostedService, IDisposable
{
    private const string MetricsPath = "/metrics";

    private readonly ObservabilityOptions _options;
    private readonly MeterProvider _meterProvider;
    private readonly IServiceProvider _services;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger<HealthEndpoints> _logger;
    private KestrelServer? _server;
    private volatile PipelineInstance? _pipeline;

    /// <param name="meterProvider">The host's meter provider, with the Prometheus exporter (<c>AddPrometheusExporter</c>).</param>
    /// <param name="services">The host's services: the exporter's middleware and options come from there.</param>
    public HealthEndpoints(
        ObservabilityOptions options,
        MeterProvider meterProvider,
        IServiceProvider services,
        ILoggerFactory loggerFactory)
    {
        _options = options;
        _meterProvider = meterProvider;
        _services = services;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<HealthEndpoints>();
    }

    /// <summary>The pipeline the probes report on, once it is built; until then they answer "pipeline not running".</summary>
    public void Serve(PipelineInstance pipeline) => _pipeline = pipeline;

    /// <summary>Started by <see cref="BindAsync"/> already (as <c>run</c> does, before the host starts), or here.</summary>
    public Task StartAsync(CancellationToken cancellationToken) => _server is null ? BindAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>
    /// Listens on the port, answering at once (readiness: not running until the worker runs). Called before the pipeline
    /// is built and the host starts, so a port that cannot be served stops <c>run</c> before any sink takes anything (a
    /// batch sink's spool) or anything connects, and without the host's "Hosting failed to start" and its stack trace;
    /// there is no gap between a check and the bind for another process.
    /// </summary>
    /// <exception cref="ObservabilityStartException">The port is in use or not permitted.</exception>
    public async Task BindAsync(CancellationToken cancellationToken)
    {
        var port = _options.Port ?? throw new InvalidOperationException("observability.port is not set");
        var app = new ApplicationBuilder(_services);
        app.UseOpenTelemetryPrometheusScrapingEndpoint(_meterProvider, predicate: null, path: MetricsPath, configureBranchedPipeline: null, optionsName: null);
        app.Run(AnswerAsync);

        var kestrel = new KestrelServerOptions { AddServerHeader = false, ApplicationServices = _services };
        // Every interface (IPv6 and IPv4; IPv4 only where IPv6 is off): in a container the probe and Prometheus come from outside.
        kestrel.ListenAnyIP(port);
        _server = new KestrelServer(
            Options.Create(kestrel),
            new SocketTransportFactory(Options.Create(new SocketTransportOptions()), _loggerFactory),
            _loggerFactory);
        try
        {
            await _server.StartAsync(new Application(app.Build()), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            // In use: Kestrel's "Failed to bind to address http://[::]:9464: address already in use."; not permitted: the socket's error.
            _server.Dispose();
            _server = null;
            throw new ObservabilityStartException($"observability.port {port}: cannot serve /metrics, /healthz and /readyz: {e.Message}", e);
        }

        LogListening(_logger, port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _server?.Dispose();

    private Task AnswerAsync(HttpContext context)
    {
        var (status, text) = context.Request.Path.Value?.TrimEnd('/') switch
        {
            "/healthz" => Liveness(),
            "/readyz" => Readiness(),
            _ => (HttpStatusCode.NotFound, "not found; try /healthz, /readyz or /metrics"),
        };
        context.Response.StatusCode = (int)status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text + "\n", context.RequestAborted);
    }

    /// <summary>Live while the runner runs and its backlog (if any) was acknowledged within the stall timeout.</summary>
    private (HttpStatusCode, string) Liveness()
    {
        if (_pipeline is not { Runner.IsRunning: true } pipeline)
        {
            return (HttpStatusCode.ServiceUnavailable, "pipeline not running");
        }

        var runner = pipeline.Runner;
        var stalled = runner.StalledFor;
        if (stalled < _options.StallTimeout)
        {
            return (HttpStatusCode.OK, Ok(pipeline));
        }

        // Why it is stalled, as the degraded body said until now: the sink that holds the changes back (retrying for ever)
        // with its last error, and what the source finds wrong.
        var body = Ok(pipeline);
        var why = body.StartsWith(DegradedPrefix, StringComparison.Ordinal) ? "; " + body[DegradedPrefix.Length..]
            : body.StartsWith("ok; ", StringComparison.Ordinal) ? body[2..]
            : "";
        return (HttpStatusCode.ServiceUnavailable, string.Create(CultureInfo.InvariantCulture,
            $"stalled: {runner.Backlog} change(s) without acknowledgement for {stalled.TotalSeconds:F0} s (observability.stallTimeout {_options.StallTimeout}){why}"));
    }

    private const string DegradedPrefix = "degraded: ";

    /// <summary>Ready while the runner runs and its source is connected (a source that cannot tell: while the runner runs).</summary>
    private (HttpStatusCode, string) Readiness()
    {
        if (_pipeline is not { Runner.IsRunning: true } pipeline)
        {
            return (HttpStatusCode.ServiceUnavailable, "pipeline not running");
        }

        return pipeline.Source is ISourceConnection { IsConnected: false }
            ? (HttpStatusCode.ServiceUnavailable, "source not connected")
            : (HttpStatusCode.OK, Ok(pipeline));
    }

    /// <summary>
    /// The body of a passing check: "ok", or "degraded: " and what is wrong while the pipeline goes on: each sink whose
    /// deliveries fail (its events dead-lettered or logged, <see cref="PipelineRunner.FailingSinks"/>), then what the source
    /// finds wrong (a captured table out of the publication), separated by "; ". The status stays 200: a restart does not
    /// fix a receiver or a publication (liveness), and a CDC worker serves no traffic a failing readiness would take away;
    /// the log's errors and the metrics (<c>cdc_events_dead_lettered_total</c>,
    /// <c>cdc_postgres_publication_unpublished_tables</c>) are the alert, the body tells whoever curls the probe. A failing
    /// sink with <c>onFailure: ignore</c> was configured not to matter: it does not make the pipeline degraded, and is named
    /// last, "ignored by its onFailure: ignore", after "ok" or what is degraded.
    /// </summary>
    private static string Ok(PipelineInstance pipeline)
    {
        var failing = pipeline.Runner.FailingSinks;
        var source = pipeline.Source is ISourceHealth { Degraded: { } reason } ? reason : null;
        if (failing.Count == 0)
        {
            return source is null ? "ok" : "degraded: " + source;
        }

        var body = new System.Text.StringBuilder();
        foreach (var sink in failing)
        {
            if (!sink.Ignored)
            {
                body.Append(body.Length == 0 ? "degraded: " : "; ")
                    .Append(CultureInfo.InvariantCulture, $"sink {sink.Sink} failing for {sink.For.TotalSeconds:F0} s (last error: {sink.LastError})");
            }
        }

        if (source is not null)
        {
            body.Append(body.Length == 0 ? "degraded: " : "; ").Append(source);
        }

        if (body.Length == 0)
        {
            body.Append("ok");
        }

        foreach (var sink in failing)
        {
            if (sink.Ignored)
            {
                body.Append(CultureInfo.InvariantCulture, $"; sink {sink.Sink} failing for {sink.For.TotalSeconds:F0} s, ignored by its onFailure: ignore (last error: {sink.LastError})");
            }
        }

        return body.ToString();
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Serving /metrics, /healthz and /readyz on port {Port} of every interface")]
    private static partial void LogListening(ILogger logger, int port);

    /// <summary>Kestrel's application: a plain <see cref="HttpContext"/> per request through the pipeline; no request logging.</summary>
    private sealed class Application(RequestDelegate pipeline) : IHttpApplication<HttpContext>
    {
        public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

        public Task ProcessRequestAsync(HttpContext context) => pipeline(context);

        public void DisposeContext(HttpContext context, Exception? exception)
        {
        }
    }
}

/// <summary>The observability port cannot be served (in use, not permitted): the run stops with exit 1.</summary>
internal sealed class ObservabilityStartException(string message, Exception inner) : Exception(message, inner);
