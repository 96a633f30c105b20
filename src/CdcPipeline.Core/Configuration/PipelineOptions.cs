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
}

public sealed class DeadLetterOptions
{
    /// <summary>JSON-lines file for dead letters (embedded path); relative to the configuration file.</summary>
    public string Path { get; set; } = "out/dead-letters.jsonl";

    /// <summary>Kafka topic for dead letters (Kafka path); when set, used instead of the file.</summary>
    public string? Topic { get; set; }
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
