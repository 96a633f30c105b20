using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Configuration;

/// <summary>The keys every sink has besides its kind section (<c>file:</c>, <c>kafka:</c>, …).</summary>
public sealed class SinkCommonOptions
{
    public static readonly IReadOnlySet<string> Keys = new HashSet<string>(["name", "types", "onFailure", "retry"], StringComparer.OrdinalIgnoreCase);

    [Required(ErrorMessage = "every sink needs a name")]
    public string Name { get; set; } = "";

    public List<string>? Types { get; set; }

    /// <summary><c>retry</c> (default), <c>ignore</c> or <c>log</c>.</summary>
    [RegularExpression("^(?i:retry|ignore|log)$", ErrorMessage = "must be one of: retry, ignore, log")]
    public string OnFailure { get; set; } = "retry";

    public RetryOptions Retry { get; set; } = new();

    public SinkPolicy ToPolicy() => new()
    {
        Types = Types is { Count: > 0 } ? new HashSet<string>(Types, StringComparer.Ordinal) : null,
        OnFailure = Enum.Parse<FailurePolicy>(OnFailure, ignoreCase: true),
        MaxAttempts = Retry.MaxAttempts,
        InitialDelay = Retry.InitialDelay,
        MaxDelay = Retry.MaxDelay,
    };
}

public sealed class RetryOptions
{
    /// <summary>0 = until it succeeds.</summary>
    [Range(0, int.MaxValue)]
    public int MaxAttempts { get; set; } = 10;

    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);
}
