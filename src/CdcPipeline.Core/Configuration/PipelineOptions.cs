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

    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
