using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Sinks.Failures;

/// <summary>
/// Re-delivers recorded failures through their sinks, one event at a time in the order they were
/// recorded, and records each outcome (delivered → <c>resent</c>; failed again → attempts + 1 and the
/// new error, still <c>failed</c>). Sinks are created on first use and disposed at the end.
/// </summary>
public sealed class FailureResender
{
    private readonly PostgresFailureStore _store;
    private readonly Func<string, ISink> _createSink;

    public FailureResender(PostgresFailureStore store, Func<string, ISink> createSink)
    {
        _store = store;
        _createSink = createSink;
    }

    public async Task<IReadOnlyList<ResendOutcome>> ResendAsync(IReadOnlyList<FailureRecord> failures, CancellationToken cancellationToken)
    {
        var sinks = new Dictionary<string, ISink>(StringComparer.Ordinal);
        var outcomes = new List<ResendOutcome>(failures.Count);
        try
        {
            foreach (var failure in failures)
            {
                Exception? error = null;
                try
                {
                    if (!sinks.TryGetValue(failure.Sink, out var sink))
                    {
                        sink = _createSink(failure.Sink);
                        sinks[failure.Sink] = sink;
                    }

                    var domainEvent = StoredEvent.Read(failure.Payload, failure.EventId, failure.Type, failure.Position);
                    await sink.DeliverAsync([domainEvent], cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not Core.Configuration.ConfigurationException and not StateDirectoryInUseException && (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
                {
                    // A configuration error, or a sink whose state another process holds (a batch sink's spool while the pipeline
                    // runs), is the operator's to fix, not a delivery attempt: it escapes, and the failure keeps its attempts.
                    error = e;
                }

                await _store.MarkResentAsync(failure.Id, error, cancellationToken).ConfigureAwait(false);
                outcomes.Add(new ResendOutcome(failure, error));
            }
        }
        finally
        {
            foreach (var sink in sinks.Values)
            {
                await sink.DisposeAsync().ConfigureAwait(false);
            }
        }

        return outcomes;
    }
}
