namespace CdcPipeline.Core.Sinks;

/// <summary>How the pipeline drives one sink: which events it gets and what its failures lead to.</summary>
public sealed record SinkPolicy
{
    public static SinkPolicy Default { get; } = new();

    /// <summary>Event types this sink subscribes to; null or empty = all.</summary>
    public IReadOnlySet<string>? Types { get; init; }

    public FailurePolicy OnFailure { get; init; } = FailurePolicy.Retry;

    /// <summary>Delivery attempts before dead-lettering (Retry policy); 0 = retry until it succeeds (a dead sink then holds the pipeline back, losing nothing).</summary>
    public int MaxAttempts { get; init; } = 10;

    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    public bool Accepts(string type) => Types is null || Types.Count == 0 || Types.Contains(type);
}
