using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// A downstream destination. <see cref="DeliverAsync"/> completes only when the destination has
/// durably accepted every event of the batch, in order; the pipeline acknowledges source positions
/// after that and never before. Throw to report failure: the pipeline's failure policy for the sink
/// (retry, dead letter, ignore, log) decides what happens next.
/// </summary>
public interface ISink : IAsyncDisposable
{
    string Name { get; }

    ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken);
}
