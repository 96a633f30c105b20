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
    private readonly Func<string, SinkBinding> _createSink;

    public FailureResender(PostgresFailureStore store, Func<string, SinkBinding> createSink)
    {
        _store = store;
        _createSink = createSink;
    }

    public async Task<IReadOnlyList<ResendOutcome>> ResendAsync(IReadOnlyList<FailureRecord> failures, CancellationToken cancellationToken)
    {
        var outcomes = new List<ResendOutcome>(failures.Count);
        var sinks = new SinkRedelivery(_createSink);
        await using (sinks.ConfigureAwait(false))
        {
            foreach (var failure in failures)
            {
                Exception? error;
                try
                {
                    var domainEvent = StoredEvent.Read(failure.Payload, failure.EventId, failure.Type, failure.Position);
                    error = await sinks.DeliverAsync(failure.Sink, domainEvent, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not Core.Configuration.ConfigurationException and not StateDirectoryInUseException && (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
                {
                    // A stored body that no longer reads is this failure's error, not the end of the resend.
                    error = e;
                }

                await _store.MarkResentAsync(failure.Id, error, cancellationToken).ConfigureAwait(false);
                outcomes.Add(new ResendOutcome(failure, error));
            }
        }

        return outcomes;
    }
}
