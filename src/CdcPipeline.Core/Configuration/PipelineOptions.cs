using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Core.Configuration;

/// <summary>The top level of the pipeline's YAML file (sections with plug-in kinds are read by their factories).</summary>
public sealed class PipelineOptions
{
    [Required(ErrorMessage = "every pipeline needs a name (used in event sources, slot and group defaults)")]
    [RegularExpression("^[A-Za-z0-9][A-Za-z0-9_.-]*$", ErrorMessage = "use letters, digits, '.', '_' and '-' only")]
    public string Name { get; set; } = "";

    /// <summary>Directory of rule files; relative paths are relative to the configuration file.</summary>
    public string? Rules { get; set; }

    public DeadLetterOptions DeadLetter { get; set; } = new();

    public RunnerOptions Runner { get; set; } = new();

    /// <summary>Metrics and health endpoints; null (no <c>observability</c> section): none served.</summary>
    public ObservabilityOptions? Observability { get; set; }
}

public sealed class DeadLetterOptions
{
    /// <summary>JSON-lines file for dead letters (embedded path); relative to the configuration file.</summary>
    public string Path { get; set; } = "out/dead-letters.jsonl";

    /// <summary>Kafka topic for dead letters (Kafka path); when set, used instead of the file.</summary>
    public string? Topic { get; set; }

    /// <summary>A Kafka sink's <c>deliveryTimeout</c> default, the dead-letter producer's too.</summary>
    public static readonly TimeSpan DefaultDeliveryTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long the producer of <see cref="Topic"/> may take to have a letter acknowledged before the write fails (and run stops,
    /// the change not acknowledged): its <c>message.timeout.ms</c>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ParseLimitsInInvariantCulture = true, ConvertValueInInvariantCulture = true,
        ErrorMessage = "must be a duration from 00:00:01 to 01:00:00, written hh:mm:ss (e.g. \"00:00:30\"); a bare number is read as days")]
    public TimeSpan DeliveryTimeout { get; set; } = DefaultDeliveryTimeout;

    /// <summary>
    /// The file a Kafka source keeps its <c>decode</c> letters in when there is no <see cref="Topic"/>: beside
    /// <paramref name="path"/> (<see cref="Path"/> resolved), as <c>….decode.jsonl</c>, so the runner's own file stays its own.
    /// </summary>
    public static string DecodeLettersPath(string path) => System.IO.Path.ChangeExtension(path, ".decode.jsonl");
}

public sealed class RunnerOptions
{
    [Range(1, 1_000_000)]
    public int BufferCapacity { get; set; } = 1024;

    [Range(1, 100_000)]
    public int MaxBatchSize { get; set; } = 1000;

    /// <summary>
    /// On stop, how long buffered changes may take to reach the sinks. Bounded: a bare number is a count of days
    /// ('60' is 60 days, not seconds), and beyond about 49 days the stop itself failed (the timer cannot be set).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00", ParseLimitsInInvariantCulture = true, ConvertValueInInvariantCulture = true,
        ErrorMessage = "must be a duration from 00:00:00 to 01:00:00, written hh:mm:ss (e.g. \"00:00:30\"); a bare number is read as days")]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// <c>observability:</c> serves, on <see cref="Port"/> of every interface, Prometheus metrics (<c>/metrics</c>),
/// liveness (<c>/healthz</c>) and readiness (<c>/readyz</c>); and/or pushes the same metrics to an OpenTelemetry
/// collector (<see cref="Otlp"/>). At least one of the two.
/// </summary>
public sealed class ObservabilityOptions
{
    [Range(1, 65535, ErrorMessage = "must be a TCP port from 1 to 65535")]
    public int? Port { get; set; }

    /// <summary>Liveness fails once changes have waited this long without an acknowledgement (an idle pipeline stays live).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00", ParseLimitsInInvariantCulture = true, ConvertValueInInvariantCulture = true,
        ErrorMessage = "must be a duration from 00:00:01 to 1.00:00:00, written hh:mm:ss (e.g. \"00:05:00\"); a bare number is read as days")]
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Push metrics over OTLP; null (no <c>otlp</c> key): no push.</summary>
    public OtlpOptions? Otlp { get; set; }
}

/// <summary>
/// <c>observability.otlp:</c> the OTLP exporter. A key left out falls back to the exporter's own environment variables
/// (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_METRIC_EXPORT_INTERVAL</c>, …),
/// then to its defaults; headers and timeout come from those variables only.
/// </summary>
public sealed class OtlpOptions : IValidatableObject
{
    public const string Grpc = "grpc";

    /// <summary>The collector's base URL, as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>: for http/protobuf, <c>/v1/metrics</c> is added.</summary>
    public string? Endpoint { get; set; }

    /// <summary><c>grpc</c> or <c>http/protobuf</c>; null: <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, else http/protobuf.</summary>
    [RegularExpression("^(grpc|http/protobuf)$", ErrorMessage = "unknown protocol; expected grpc or http/protobuf")]
    public string? Protocol { get; set; }

    /// <summary>Time between pushes; null: <c>OTEL_METRIC_EXPORT_INTERVAL</c>, else the exporter's 60 s.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00", ParseLimitsInInvariantCulture = true, ConvertValueInInvariantCulture = true,
        ErrorMessage = "must be a duration from 00:00:01 to 1.00:00:00, written hh:mm:ss (e.g. \"00:00:10\"); a bare number is read as days")]
    public TimeSpan? Interval { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Endpoint is not null
            && !(Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
        {
            yield return new ValidationResult(
                "not an absolute http(s) URI; write the collector's base URL, e.g. \"http://collector:4318\"", [nameof(Endpoint)]);
        }
    }
}
