using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using Polly;

namespace CdcPipeline.Sinks.Failures;

/// <summary>
/// Delivers events again through configured sinks, as the operator commands do (<c>failures resend</c>, <c>dlq redrive</c>
/// of a dead-letter file): each sink is created on first use with the policy it has in the configuration, and an event
/// is retried as that policy says (<see cref="SinkRetry"/>, as <c>run</c> does). Disposing it disposes the sinks it made.
/// </summary>
public sealed class SinkRedelivery : IAsyncDisposable
{
    private readonly Func<string, SinkBinding> _createSink;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, (SinkBinding Binding, ResiliencePipeline Retry)> _sinks = new(StringComparer.Ordinal);

    public SinkRedelivery(Func<string, SinkBinding> createSink, TimeProvider? time = null)
    {
        _createSink = createSink;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Delivers <paramref name="domainEvent"/> through the sink named <paramref name="sink"/>; the error of its last
    /// attempt, or null when it was delivered. A configuration error, a sink whose state another process holds (a batch
    /// sink's spool while the pipeline runs) and the caller's cancellation are the operator's to fix, not a delivery
    /// attempt: they escape.
    /// </summary>
    public async Task<Exception?> DeliverAsync(string sink, DomainEvent domainEvent, CancellationToken cancellationToken)
    {
        var entry = Get(sink);
        try
        {
            await entry.Retry.ExecuteAsync(
                static (state, ct) => state.Sink.DeliverAsync([state.Event], ct),
                (entry.Binding.Sink, Event: domainEvent),
                cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is not Core.Configuration.ConfigurationException and not StateDirectoryInUseException && (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            return e;
        }
    }

    /// <summary>Whether <c>run</c> hands <paramref name="domainEvent"/> to the sink named <paramref name="sink"/> (<see cref="SinkBinding.Wants"/>).</summary>
    public bool Wants(string sink, DomainEvent domainEvent) => Get(sink).Binding.Wants(domainEvent);

    private (SinkBinding Binding, ResiliencePipeline Retry) Get(string sink)
    {
        if (!_sinks.TryGetValue(sink, out var entry))
        {
            var binding = _createSink(sink);
            entry = (binding, SinkRetry.Build(binding.Policy, _time));
            _sinks[sink] = entry;
        }

        return entry;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (binding, _) in _sinks.Values)
        {
            await binding.Sink.DisposeAsync().ConfigureAwait(false);
        }

        _sinks.Clear();
    }
}
