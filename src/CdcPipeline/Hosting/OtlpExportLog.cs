using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Hosting;

/// <summary>
/// Brings the OTLP exporter's own diagnostics into our log. The exporter reports a collector that refuses, times out
/// or answers with an error only to its EventSource (<c>OpenTelemetry-Exporter-OpenTelemetryProtocol</c>), which
/// nothing reads by default: an operator saw no metrics arrive and no reason why. Rate-limited, not once per export
/// interval: one warning naming the endpoint and the error when exports start failing, then at most one every
/// <see cref="RepeatEvery"/> while they go on failing. (The exporter reports no success on the HTTP path, so a recovery
/// cannot be logged from here.)
/// </summary>
internal sealed partial class OtlpExportLog : EventListener, IHostedService
{
    internal const string ExporterEventSource = "OpenTelemetry-Exporter-OpenTelemetryProtocol";

    /// <summary>While exports keep failing, the warning comes again at most this often (with how many reports it held back).</summary>
    internal static readonly TimeSpan RepeatEvery = TimeSpan.FromMinutes(10);

    // EventListener's constructor calls OnEventSourceCreated for the sources that exist already, before these fields
    // are set: the sources seen then are kept and enabled once the logger is there.
    private readonly Lock _lock = new();
    private readonly ILogger<OtlpExportLog> _logger;
    private List<EventSource>? _early;
    private DateTime? _lastWarning;
    private long _failures;

    public OtlpExportLog(ILogger<OtlpExportLog> logger)
    {
        _logger = logger;
        List<EventSource>? early;
        lock (_lock)
        {
            early = _early;
            _early = null;
        }

        foreach (var source in early ?? [])
        {
            EnableEvents(source, EventLevel.Warning);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name != ExporterEventSource)
        {
            return;
        }

        if (_logger is null)
        {
            // still in the base constructor
            (_early ??= []).Add(eventSource);
            return;
        }

        EnableEvents(eventSource, EventLevel.Warning);
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (_logger is null || eventData.EventSource.Name != ExporterEventSource)
        {
            return;
        }

        if (eventData.Level is not (EventLevel.Critical or EventLevel.Error or EventLevel.Warning))
        {
            return;
        }

        long suppressed;
        lock (_lock)
        {
            var now = DateTime.UtcNow;
            if (_lastWarning is { } last && now - last < RepeatEvery)
            {
                _failures++;
                return;
            }

            _lastWarning = now;
            suppressed = _failures;
            _failures = 0;
        }

        LogExportFailing(_logger, Endpoint(eventData), Describe(eventData), suppressed);
    }

    /// <summary>The endpoint the event names (its first argument, in the exporter's events that have one), without credentials.</summary>
    private static string Endpoint(EventWrittenEventArgs eventData) =>
        eventData.Payload is [string first, ..] && Uri.TryCreate(first, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? WithoutUserInfo(uri.GetLeftPart(UriPartial.Path))
            : "(unknown)";

    /// <summary>
    /// The event's message with its arguments, on one line: an exception argument is the exception's whole text with its
    /// stack trace, of which the first line (type and message) says what went wrong.
    /// </summary>
    internal static string Describe(EventWrittenEventArgs eventData)
    {
        var arguments = (eventData.Payload ?? []).Select(FirstLine).ToArray();
        string text;
        try
        {
            text = eventData.Message is { Length: > 0 } message
                ? string.Format(CultureInfo.InvariantCulture, message, arguments)
                : $"{eventData.EventName}: {string.Join("; ", arguments)}";
        }
        catch (FormatException)
        {
            text = $"{eventData.EventName}: {string.Join("; ", arguments)}";
        }

        return WithoutUserInfo(text);
    }

    private static object? FirstLine(object? argument) =>
        argument is string s && s.IndexOfAny(['\r', '\n']) is var end and >= 0 ? s[..end] : argument;

    /// <summary>A URL's user:password@ (an endpoint may carry them) is not logged.</summary>
    private static string WithoutUserInfo(string text) => UserInfo().Replace(text, "://***@");

    [GeneratedRegex(@"://[^/\s@]+@")]
    private static partial Regex UserInfo();

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning,
        Message = "OTLP metrics export to {Endpoint} is failing: {Error}. Metrics are not pushed until the collector accepts them (check observability.otlp and that the collector is up); repeated at most every 10 min while it fails ({Suppressed} failure report(s) since the last warning)")]
    private static partial void LogExportFailing(ILogger logger, string endpoint, string error, long suppressed);
}
