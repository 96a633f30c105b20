using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// The dead-letter queue as a source sees it: every letter it sets aside (a record it cannot decode) counts in
/// <c>cdc.events.dead_lettered</c> under its stage, as the runner's own do. Owns nothing: whoever made
/// <paramref name="inner"/> disposes it.
/// </summary>
public sealed class CountingDeadLetterQueue(IDeadLetterQueue inner, PipelineMetrics metrics) : IDeadLetterQueue
{
    public async ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(letter, cancellationToken).ConfigureAwait(false);
        metrics.EventsDeadLettered.Add(1, new KeyValuePair<string, object?>("stage", letter.Stage));
    }
}
