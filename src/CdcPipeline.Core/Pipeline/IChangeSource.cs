using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A capture path: yields change events in source order and learns, through
/// <see cref="AcknowledgeAsync"/>, which positions every sink has durably accepted. Only then may it
/// advance what it tells its source (the slot's confirmed LSN, the consumer group's committed offset).
/// </summary>
public interface IChangeSource : IAsyncDisposable
{
    /// <summary>The changes, pulled by the caller (Npgsql's and Kafka's own pull model).</summary>
    IAsyncEnumerable<ChangeEvent> ReadAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Every change of <paramref name="position"/>'s stream at or before it has been delivered to every
    /// sink. Called in increasing order per stream; may be called for a stream the source no longer owns
    /// (a revoked Kafka partition), which it then ignores.
    /// </summary>
    ValueTask AcknowledgeAsync(SourcePosition position, CancellationToken cancellationToken);
}
