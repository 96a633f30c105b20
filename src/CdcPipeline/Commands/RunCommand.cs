using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net.Sockets;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Hosting;
using CdcPipeline.Postgres;
using CdcPipeline.Sinks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace CdcPipeline.Commands;

/// <summary><c>run --config FILE</c>: the pipeline worker.</summary>
internal static partial class RunCommand
{
    /// <summary>
    /// How long a stop waits, after the drain, for the pipeline to close: the PostgreSQL source waits up to 30 s for its
    /// last read to end, a Kafka sink flushes for up to 10 s, the Kafka source's final commit and group leave take seconds.
    /// </summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "the pipeline's YAML configuration", Required = true };
        var logFormat = new Option<string>("--log-format") { Description = "text or json (structured, one object per line)", DefaultValueFactory = _ => "text" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var logLevel = new Option<string>("--log-level")
        {
            Description = "the least level logged: trace, debug (with an expected failure's stack trace), information, warning, error or critical",
            DefaultValueFactory = _ => "information",
        };
        logLevel.AcceptOnlyFromAmong("trace", "debug", "information", "warning", "error", "critical");
        var command = new Command("run", "Run the pipeline worker: capture → translate → deliver, until stopped (SIGTERM/Ctrl+C stop gracefully).")
        {
            config,
            logFormat,
            logLevel,
        };
        command.SetAction((parse, ct) => RunAsync(
            parse.GetRequiredValue(config),
            new LogSettings(parse.GetValue(logFormat) == "json", Enum.Parse<LogLevel>(parse.GetValue(logLevel) ?? "information", ignoreCase: true)),
            ct));
        return command;
    }

    /// <summary>
    /// A command line of <c>run</c> that does not parse, with <c>--log-format json</c> on it (whatever else is wrong): its
    /// errors as the one record <c>run</c> stops with (<see cref="LogSettings.StoppedAsync"/>), for a log shipper that reads
    /// JSON only. False for any other command line: System.CommandLine's own lines say it.
    /// </summary>
    internal static async Task<bool> TryReportParseErrorsAsync(ParseResult parse)
    {
        if (parse.Errors.Count == 0
            || parse.CommandResult is not { Command.Name: "run", Parent: CommandResult { Command: RootCommand } } run
            || run.Command.Options.FirstOrDefault(o => o.Name == "--log-format") is not { } logFormat
            || parse.GetResult(logFormat) is not { } format
            || format.Tokens.Count == 0
            || format.Tokens[^1].Value != "json")
        {
            return false;
        }

        var errors = string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.')));
        await new LogSettings(Json: true, LogLevel.Information).StoppedAsync($"{errors}; see 'cdcpipeline run --help'").ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The host <c>run</c> runs, services and all, for a loaded configuration: the registrations of every library (their expected
    /// failures among them), the pipeline, health and metrics as the configuration asks, and the worker.
    /// </summary>
    internal static HostApplicationBuilder CreateHostBuilder(PipelineConfiguration configuration, LogSettings log)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        log.Configure(builder.Logging, log.Level);
        builder.Services.AddCdcPipeline();
        builder.Services.AddCdcFailureStore(configuration);
        builder.Services.AddSingleton(configuration);
        builder.Services.AddSingleton(sp => PipelineBuilder.Validate(sp.GetRequiredService<PipelineConfiguration>(), sp));
        builder.Services.AddSingleton(sp => PipelineBuilder.Build(sp.GetRequiredService<PipelinePlan>()));
        if (configuration.Options.Observability is { } observability)
        {
            if (observability.Port is not null)
            {
                // Registered before the worker: health starts first (it also serves /metrics, and is the one that reports a
                // port in use) and stops last, so /healthz still answers while a stop drains. It needs no pipeline to be made:
                // it is bound after the whole configuration was checked and before the pipeline is built (below), and given it after.
                builder.Services.AddSingleton(sp => new HealthEndpoints(
                    observability,
                    sp.GetRequiredService<MeterProvider>(),
                    sp,
                    sp.GetRequiredService<ILoggerFactory>()));
                builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthEndpoints>());
            }

            if (observability.Otlp is not null)
            {
                // The exporter reads OTEL_EXPORTER_OTLP_* and OTEL_METRIC_EXPORT_INTERVAL from the host's configuration,
                // which has no environment variables here (DisableDefaults): give it those, and only those.
                builder.Configuration.AddInMemoryCollection(Environment.GetEnvironmentVariables()
                    .Cast<System.Collections.DictionaryEntry>()
                    .Where(v => ((string)v.Key).StartsWith("OTEL_", StringComparison.Ordinal))
                    .Select(v => KeyValuePair.Create((string)v.Key, (string?)v.Value)));
                // The exporter reports a collector that is down or refuses only to its EventSource: into our log, once per outage.
                builder.Services.AddHostedService<OtlpExportLog>();
            }

            var pipelineName = configuration.Options.Name;
            builder.Services.AddOpenTelemetry()
                // Otherwise the SDK's "unknown_service:cdcpipeline" (target_info, an OTLP collector's resource): the service as an
                // OpenTelemetry user expects, the pipeline as its instance. Later resources override earlier ones, so the environment
                // detector runs after it: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES take precedence, with a port only too (the
                // SDK reads them from the process environment where the host's configuration, without variables here, lacks them).
                .ConfigureResource(resource => resource
                    .AddService("cdcpipeline", serviceInstanceId: string.IsNullOrEmpty(pipelineName) ? null : pipelineName)
                    .AddEnvironmentVariableDetector())
                .WithMetrics(metrics =>
                {
                    metrics.AddMeter(PipelineMetrics.MeterName, PostgresMetrics.MeterName);
                    if (observability.Port is not null)
                    {
                        // Scraped through HealthEndpoints' Kestrel server (its /metrics only).
                        metrics.AddPrometheusExporter();
                    }

                    if (observability.Otlp is { } otlp)
                    {
                        metrics.AddOtlpExporter((exporter, reader) => ConfigureOtlp(otlp, exporter, reader));
                    }
                });
        }

        builder.Services.AddSingleton<PipelineWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PipelineWorker>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = configuration.Options.Runner.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton<IHostLifetime, Microsoft.Extensions.Hosting.Internal.ConsoleLifetime>();
        return builder;
    }

    private static async Task<int> RunAsync(FileInfo configFile, LogSettings log, CancellationToken cancellationToken)
    {
        PipelineConfiguration configuration;
        HostApplicationBuilder builder;
        try
        {
            configuration = PipelineConfiguration.Load(configFile.FullName);
            builder = CreateHostBuilder(configuration, log);
        }
        catch (ConfigurationException e)
        {
            await log.StoppedAsync(e.Message, e).ConfigureAwait(false);
            return 2;
        }

        using var host = builder.Build();
        try
        {
            // The whole configuration (the source's, the dead letters' and every sink's own checks) before the port is bound:
            // a run refused for it has served nothing and said nothing about serving. Nothing is made here.
            host.Services.GetRequiredService<PipelinePlan>();
        }
        catch (ConfigurationException e)
        {
            await log.StoppedAsync(e.Message, e).ConfigureAwait(false);
            return 2;
        }

        var health = host.Services.GetService<HealthEndpoints>();
        if (health is not null)
        {
            try
            {
                // The bind itself, before the pipeline is built and the host starts. A port in use is a fact of the machine:
                // found first, it stops the run before any sink takes anything (a batch sink its spool) or a dead-letter
                // producer connects. Before the host starts, because there a failure to start is logged by the host with its
                // whole stack trace (and a check before with the bind later would leave a gap for another process to take the port).
                await health.BindAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ObservabilityStartException e)
            {
                var where = configuration.Locations.Describe("observability:port") ?? configuration.FilePath;
                await log.StoppedAsync($"{e.Message}; stop what uses it or set observability.port ({where}) to a free port", e).ConfigureAwait(false);
                return 1;
            }
        }

        PipelineInstance pipeline;
        try
        {
            // Build the pipeline before starting: what a component refuses only as it is made fails here, before anything connects.
            pipeline = host.Services.GetRequiredService<PipelineInstance>();
        }
        catch (ConfigurationException e)
        {
            await log.StoppedAsync(e.Message, e).ConfigureAwait(false);
            return 2;
        }
        catch (Core.Sinks.StateDirectoryInUseException e)
        {
            // Another process runs on this sink's state (a batch spool, a file sink's file): not a configuration error, and no stack trace.
            await log.StoppedAsync(e.Message, e).ConfigureAwait(false);
            return 1;
        }

        health?.Serve(pipeline);
        var worker = host.Services.GetRequiredService<PipelineWorker>();
        await host.StartAsync(cancellationToken).ConfigureAwait(false);

        bool closed;
        try
        {
            await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);

            // The host waits for the worker only ShutdownTimeout (the drain's budget); closing comes after the drain (the
            // source's final commit or confirm, the sinks' flushes) and must finish before we exit, or it never happens.
            closed = worker.ExecuteTask is not { } execute
                || await Task.WhenAny(execute, Task.Delay(CloseTimeout, CancellationToken.None)).ConfigureAwait(false) == execute;
        }
        finally
        {
            // As host.RunAsync does: disposing flushes the loggers, so the pipeline's last log lines come before ours.
            await ((IAsyncDisposable)host).DisposeAsync().ConfigureAwait(false);
        }
        var failure = worker.Failure;
        if (!closed)
        {
            if (failure is not null)
            {
                await log.StoppedAsync(FailureLine(failure, configuration), failure).ConfigureAwait(false);
            }

            await log.StoppedAsync(
                $"closing the pipeline did not finish within {CloseTimeout.TotalSeconds:F0} s after the drain (the source's final commit, " +
                "a sink's flush); what was acknowledged since the last commit is delivered again after a restart").ConfigureAwait(false);
            return 1;
        }

        if (failure is not null)
        {
            await log.StoppedAsync(FailureLine(failure, configuration), failure).ConfigureAwait(false);
            // 2 for configuration a component refused only when it started, as for one refused before.
            return failure is ConfigurationException ? ExpectedFailure.Usage : ExpectedFailure.Failed;
        }

        if (worker.DrainCutShort)
        {
            // Exit 0 promises that everything read was delivered and acknowledged; a supervisor or script must see this was not.
            await log.StoppedAsync(
                $"stopped before everything read was delivered: runner.drainTimeout ({configuration.Options.Runner.DrainTimeout}) ran out; " +
                "the changes not acknowledged are delivered again after a restart").ConfigureAwait(false);
            return 1;
        }

        return 0;
    }

    /// <summary>
    /// The one line that says why the pipeline stopped. An expected failure (see <see cref="ExpectedFailure"/>) was not
    /// logged with a stack trace: a database that cannot be used also gets where its connection is configured and what
    /// to check. A bug's trace is in the log already.
    /// </summary>
    internal static string FailureLine(Exception failure, PipelineConfiguration configuration)
    {
        if (ExpectedFailure.ExitCode(failure) is null)
        {
            return failure.Message;
        }

        if (failure is FailureStoreException { InnerException: { } stored } store)
        {
            return $"the failure store could not record a failed delivery of sink '{store.Sink}': " +
                (stored is Npgsql.NpgsqlException or SocketException or TimeoutException
                    ? ExpectedFailure.UnusableDatabase(stored, configuration, "failures:connectionString")
                    : ExpectedFailure.Describe(stored));
        }

        if (failure is DeadLetterStoreException { InnerException: { } kept } letter)
        {
            // The stop is the dead-letter store's: its line names deadLetter.topic or deadLetter.path, not the source's key.
            var key = configuration.Options.DeadLetter.Topic is not null ? "deadLetter:topic" : "deadLetter:path";
            var setting = configuration.Locations.Describe(key) is { } where
                ? $"{key.Replace(':', '.')} ({where})"
                : $"{key.Replace(':', '.')} (not set in {configuration.FilePath}: its default, {configuration.Options.DeadLetter.Path})";
            var file = DeadLetterFile.PathOf(configuration);
            var what = key == "deadLetter:topic"
                ? $"check {setting}: that the cluster is up and that the topic exists and may be written"
                : $"check {setting}: its file {(letter.OfRecord ? DeadLetterOptions.DecodeLettersPath(file) : file)} must be " +
                  "writable, in a directory (no part of the path a regular file), on a disk with room; or set it to a file that is";
            // The producer gave the letter deadLetter.deliveryTimeout (its message.timeout.ms): say how long, and where it is set.
            var timedOut = key == "deadLetter:topic" && kept is Confluent.Kafka.KafkaException { Error.Code: Confluent.Kafka.ErrorCode.Local_MsgTimedOut }
                ? string.Create(CultureInfo.InvariantCulture, $" (not acknowledged within deadLetter.deliveryTimeout, {configuration.Options.DeadLetter.DeliveryTimeout:c})")
                : "";
            return $"the dead-letter store could not keep a dead letter of {letter.Whose}: {ExpectedFailure.Describe(kept).TrimEnd('.')}{timedOut}; {what}; " +
                   $"the {(letter.OfRecord ? "record" : "change")} was not acknowledged, so it is read again when run starts again";
        }

        if (failure is not (Npgsql.NpgsqlException or SocketException or TimeoutException))
        {
            return ExpectedFailure.Describe(failure);
        }

        // A PostgreSQL failure that stops the pipeline is its source's: sinks retry, dead-letter or log theirs.
        foreach (var key in (string[])["source:postgres:connectionString", "source:outboxPolling:connectionString"])
        {
            if (configuration.Root[key] is not null)
            {
                return ExpectedFailure.UnusableDatabase(failure, configuration, key);
            }
        }

        return ExpectedFailure.Describe(failure);
    }

    /// <summary>
    /// Only what the file sets: a key left out keeps what the exporter read from its OTEL_* variables. Two differences
    /// from the exporter's defaults: the protocol is http/protobuf (the exporter's is grpc), and the endpoint is a
    /// base URL as OTEL_EXPORTER_OTLP_ENDPOINT is (the exporter sends http/protobuf to a programmatic endpoint as is,
    /// so http://collector:4318 would be POSTed to "/", which a collector answers with 404).
    /// </summary>
    internal static void ConfigureOtlp(OtlpOptions otlp, OpenTelemetry.Exporter.OtlpExporterOptions exporter, MetricReaderOptions reader)
    {
        if (otlp.Protocol is not null
            || (Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") ?? Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL")) is null)
        {
            exporter.Protocol = otlp.Protocol == OtlpOptions.Grpc ? OpenTelemetry.Exporter.OtlpExportProtocol.Grpc : OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
        }

        if (otlp.Endpoint is not null)
        {
            var endpoint = new Uri(otlp.Endpoint);
            if (exporter.Protocol == OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf
                && !endpoint.AbsolutePath.EndsWith("/v1/metrics", StringComparison.Ordinal))
            {
                endpoint = new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/v1/metrics");
            }

            exporter.Endpoint = endpoint;
        }

        if (otlp.Interval is { } interval)
        {
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)interval.TotalMilliseconds;
        }
    }

    // The exception's type is a field of the record to select on, not words for the reader: the reason says what happened.
    // Not in the message, the field is named as the parameter is: ExceptionType, as the message's fields are.
#pragma warning disable SYSLIB1015
    [LoggerMessage(EventId = 30, Level = LogLevel.Error, Message = "{Reason}")]
    private static partial void LogStopped(ILogger logger, string reason, string? ExceptionType);
#pragma warning restore SYSLIB1015

    /// <summary>
    /// How <c>run</c> logs (<c>--log-format</c>, <c>--log-level</c>) and says why it stopped. Text logs: one
    /// <c>error: …</c> line on stderr, not a log record as well (the operator reads the reason once). JSON logs: a record
    /// like every other line (a log shipper reads JSON only): error level, event id 30, the reason as its message and the
    /// exception's type. Neither has a stack trace: the worker logged a bug's trace already, an expected failure's at debug.
    /// </summary>
    internal sealed record LogSettings(bool Json, LogLevel Level)
    {
        public void Configure(ILoggingBuilder logging, LogLevel level)
        {
            logging.ClearProviders();
            // Standard output belongs to the console sink; every log line goes to standard error.
            if (Json)
            {
                logging.AddJsonConsole(o => o.UseUtcTimestamp = true);
            }
            else
            {
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss ";
                    o.UseUtcTimestamp = true;
                });
            }

            logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            logging.SetMinimumLevel(level);
            // The frameworks' own categories log their warnings and errors whatever --log-level says below that: the
            // pipeline's debug lines are what an operator asks for, not every request and lifetime event.
            var frameworks = level > LogLevel.Warning ? level : LogLevel.Warning;
            logging.AddFilter("Microsoft.Hosting", frameworks);
            logging.AddFilter("Microsoft.Extensions.Hosting", frameworks);
            // IHttpClientFactory logs every request at information level, a failed one with its stack trace, on each retry;
            // the sink's failure is logged once per attempt by the runner already.
            logging.AddFilter("System.Net.Http.HttpClient", frameworks);
            // Kestrel (the observability endpoints): its warnings and errors, not its information (HealthEndpoints says where it listens).
            logging.AddFilter("Microsoft.AspNetCore", frameworks);
        }

        /// <summary>Says why <c>run</c> stops, once, after the host's loggers were flushed (the pipeline's last lines come first).</summary>
        public async Task StoppedAsync(string reason, Exception? failure = null)
        {
            if (!Json)
            {
                await Console.Error.WriteLineAsync($"error: {reason}").ConfigureAwait(false);
                return;
            }

            // Even with --log-level critical: the exit code alone does not say why.
            using var loggers = LoggerFactory.Create(logging => Configure(logging, Level < LogLevel.Error ? Level : LogLevel.Error));
            LogStopped(loggers.CreateLogger(typeof(RunCommand).FullName!), reason, failure?.GetType().FullName);
        }
    }
}
