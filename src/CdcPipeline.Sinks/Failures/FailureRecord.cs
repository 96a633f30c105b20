using CdcPipeline.Core.Changes;

namespace CdcPipeline.Sinks.Failures;

/// <summary>One row of the failure table.</summary>
public sealed record FailureRecord
{
    public required long Id { get; init; }
    public required string Pipeline { get; init; }
    public required string Sink { get; init; }
    public required string EventId { get; init; }
    public required string Type { get; init; }
    public required SourcePosition Position { get; init; }

    /// <summary>The event body as the sink would have written it (<c>EventJson</c>).</summary>
    public required string Payload { get; init; }
    public required string Status { get; init; }
    public required int Attempts { get; init; }
    public string? LastError { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
}
