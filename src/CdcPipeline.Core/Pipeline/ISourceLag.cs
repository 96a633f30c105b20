namespace CdcPipeline.Core.Pipeline;

/// <summary>A source that knows how far what it acknowledged is behind what its source holds.</summary>
public interface ISourceLag
{
    /// <summary>The lag now, or null while it is not known (before the first figures arrive).</summary>
    SourceLag? Lag { get; }
}

/// <param name="Value">How far behind.</param>
/// <param name="Unit">In what: "records" for Kafka.</param>
public readonly record struct SourceLag(long Value, string Unit);
