using System.Diagnostics;
using System.Threading.Channels;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// Source → translator → sinks. One reader pulls changes and translates them into a bounded buffer
/// (when it is full, reading pauses: backpressure reaches the replication slot or the consumer);
/// one delivery loop takes what is buffered as a batch, hands it to every sink in parallel, and only
/// when every sink has finished with the batch acknowledges the batch's last position per stream.
/// A sink that commits source positions itself (<see cref="ISourceCommittingSink"/>: the Kafka sink in
/// exactly-once mode) gets the batch only after every other sink has finished with it.
/// Batches are delivered strictly in source order, so events with the same aggregate key arrive in
/// order and the acknowledged position is always a contiguous watermark.
/// </summary>
public sealed class PipelineRunner
{
    private readonly IChangeSource _source;
    private readonly IChangeTranslator _translator;
    private readonly IReadOnlyList<SinkBinding> _sinks;
    private readonly SinkBinding[] _deliverFirst;
    private readonly SinkBinding[] _deliverLast;
    private readonly IDeadLetterQueue _deadLetters;
    private readonly IFailureStore? _failureStore;
    private readonly PipelineRunnerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PipelineMetrics _metrics;
    private readonly Dictionary<string, PerSink> _perSink = new(StringComparer.Ordinal);
    private readonly HashSet<string> _sinkNames;
    private long _changesRead;
    private long _eventsDelivered;
    private long _lastProgressTimestamp;
    private int _batchChanges;
    private int _batchEvents;
    private long _changesSettled;
    private long _backlogSinceTimestamp;
    private int _running;

    public PipelineRunner(
        IChangeSource source,
        IChangeTranslator translator,
        IReadOnlyList<SinkBinding> sinks,
        IDeadLetterQueue deadLetters,
        PipelineRunnerOptions? options = null,
        ILogger<PipelineRunner>? logger = null,
        TimeProvider? timeProvider = null,
        IFailureStore? failureStore = null,
        PipelineMetrics? metrics = null)
    {
        _source = source;
        _translator = translator;
        _sinks = sinks;
        _deadLetters = deadLetters;
        _failureStore = failureStore;
        _options = options ?? new PipelineRunnerOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _metrics = metrics ?? new PipelineMetrics();
        _sinkNames = sinks.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        if (_sinkNames.Count != sinks.Count)
        {
            throw new ArgumentException("sink names must be unique", nameof(sinks));
        }

        foreach (var binding in sinks)
        {
            _perSink[binding.Name] = new PerSink(BuildRetryPipeline(binding), binding.Name);
        }

        _deliverLast = sinks.Where(s => s.Sink is ISourceCommittingSink { CommitsSourcePositions: true }).ToArray();
        _deliverFirst = sinks.Except(_deliverLast).ToArray();

        _lastProgressTimestamp = _time.GetTimestamp();
    }

    public long ChangesRead => Interlocked.Read(ref _changesRead);

    public long EventsDelivered => Interlocked.Read(ref _eventsDelivered);

    /// <summary>Time since a batch was last acknowledged (or the runner started): a liveness signal for health checks.</summary>
    public TimeSpan SinceLastProgress => _time.GetElapsedTime(Interlocked.Read(ref _lastProgressTimestamp));

    /// <summary>True from the start of <see cref="RunAsync"/> until it returns.</summary>
    public bool IsRunning => Volatile.Read(ref _running) != 0;

    /// <summary>Changes read whose position is not acknowledged yet (buffered, being delivered or retried).</summary>
    public long Backlog => Math.Max(0, ChangesRead - Interlocked.Read(ref _changesSettled));

    /// <summary>
    /// How long changes have waited without an acknowledgement: zero when there is no backlog (an idle pipeline
    /// is not stuck), else the time since the last acknowledgement or since the backlog began, whichever is later.
    /// </summary>
    public TimeSpan StalledFor => Backlog == 0
        ? TimeSpan.Zero
        : _time.GetElapsedTime(Math.Max(Interlocked.Read(ref _lastProgressTimestamp), Interlocked.Read(ref _backlogSinceTimestamp)));

    /// <summary>
    /// Set when a stop's drain ran out of <see cref="PipelineRunnerOptions.DrainTimeout"/>: changes were read but not
    /// acknowledged, so the source hands them out again after a restart (at-least-once) — not the clean stop it looks like.
    /// </summary>
    public bool DrainCutShort { get; private set; }

    /// <summary>
    /// The sinks whose latest delivery failed (an attempt that is retried, or a batch or event given up on: dead-lettered,
    /// logged, ignored) with none delivered since: how long each has been failing and its last error, in the one line the
    /// failure logs give (no stack trace), and whether its <c>onFailure</c> is <c>ignore</c>. A sink that failed briefly is
    /// not here once a batch of it was delivered, nor one that refused some events of a batch and delivered the others (bad
    /// events, not a failing sink). Read by the probes; the delivery path only swaps a field per sink.
    /// </summary>
    public IReadOnlyList<FailingSink> FailingSinks
    {
        get
        {
            List<FailingSink>? failing = null;
            foreach (var binding in _sinks)
            {
                if (_perSink[binding.Name].Failing is { } state)
                {
                    (failing ??= []).Add(new FailingSink(binding.Name, _time.GetElapsedTime(state.Since), state.LastError, binding.Policy.OnFailure == FailurePolicy.Ignore));
                }
            }

            return failing ?? (IReadOnlyList<FailingSink>)[];
        }
    }

    /// <summary>
    /// Runs until the source ends or <paramref name="stoppingToken"/> fires. On stop, reading stops at
    /// once and what is already buffered is still delivered and acknowledged (within
    /// <see cref="PipelineRunnerOptions.DrainTimeout"/>), so a graceful stop loses and repeats nothing.
    /// </summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        Volatile.Write(ref _running, 1);
        try
        {
            await RunCoreAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    private async Task RunCoreAsync(CancellationToken stoppingToken)
    {
        Log.Started(_logger, _sinks.Count, string.Join(", ", _sinks.Select(s => s.Name)));
        if (_failureStore is null)
        {
            foreach (var binding in _sinks)
            {
                if (binding.Policy.OnFailure == FailurePolicy.Log)
                {
                    Log.NoFailureStore(_logger, binding.Name);
                }
            }
        }

        if (_sinks.Count > 1)
        {
            foreach (var binding in _deliverLast)
            {
                Log.DeliversLast(_logger, binding.Name);
            }
        }

        // Before the source reads: a sink whose configuration is refused for good (ISinkStartCheck) stops the pipeline here,
        // nothing read; one merely unavailable says so and is retried at its deliveries.
        try
        {
            await Task.WhenAll(_sinks.Select(b => b.Sink).OfType<ISinkStartCheck>().Select(c => c.CheckAtStartAsync(stoppingToken).AsTask())).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            Log.Stopped(_logger, 0, 0);
            return;
        }

        var buffer = Channel.CreateBounded<TranslatedChange>(new BoundedChannelOptions(_options.BufferCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        using var deliveryCts = new CancellationTokenSource();
        using var readerCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var stopRegistration = stoppingToken.Register(() =>
        {
            Log.Draining(_logger, buffer.Reader.Count);
            deliveryCts.CancelAfter(_options.DrainTimeout);
        });

        var reader = Task.Run(() => ReadAsync(buffer.Writer, readerCts.Token), CancellationToken.None);
        var delivery = Task.Run(() => DeliverAsync(buffer.Reader, deliveryCts.Token), CancellationToken.None);

        var first = await Task.WhenAny(reader, delivery).ConfigureAwait(false);
        if (first == delivery && delivery.IsFaulted)
        {
            // Delivery cannot go on: stop reading too, then surface the error.
            await readerCts.CancelAsync().ConfigureAwait(false);
        }

        try
        {
            await Task.WhenAll(reader, delivery).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested && !delivery.IsFaulted && !reader.IsFaulted)
        {
            // A requested stop is not an error; one whose drain ran out of time is not a clean one either.
            if (delivery.IsCanceled && deliveryCts.IsCancellationRequested)
            {
                var changes = _batchChanges;
                var events = _batchEvents;
                while (buffer.Reader.TryRead(out var left))
                {
                    changes++;
                    events += left.Events.Count;
                }

                // The time-out also ends a delivery loop that had nothing left (it waited for the source's read to end,
                // e.g. with drainTimeout 00:00:00): only changes read and not acknowledged make the stop unclean.
                if (changes > 0)
                {
                    DrainCutShort = true;
                    Log.DrainCutShort(_logger, _options.DrainTimeout, changes, events);
                }
            }
        }

        Log.Stopped(_logger, ChangesRead, EventsDelivered);
    }

    private async Task ReadAsync(ChannelWriter<TranslatedChange> writer, CancellationToken cancellationToken)
    {
        Exception? failure = null;
        try
        {
            await foreach (var change in _source.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (Backlog == 0)
                {
                    Interlocked.Exchange(ref _backlogSinceTimestamp, _time.GetTimestamp());
                }

                Interlocked.Increment(ref _changesRead);
                _metrics.ChangesRead.Add(1);
                var translated = await TranslateAsync(change, cancellationToken).ConfigureAwait(false);
                await writer.WriteAsync(translated, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stop requested: whatever is buffered is still delivered.
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            // Let delivery finish what is buffered; a source failure surfaces after that.
            writer.TryComplete(failure);
        }
    }

    private async ValueTask<TranslatedChange> TranslateAsync(ChangeEvent change, CancellationToken cancellationToken)
    {
        if (change.Kind != ChangeKind.Change && change.Kind != ChangeKind.Message)
        {
            // Heartbeats, tombstones and transaction markers carry no domain meaning, but their
            // positions must still be acknowledged (a heartbeat exists to move the slot on).
            return new TranslatedChange(change.Position, []);
        }

        var events = new List<DomainEvent>(2);
        try
        {
            _translator.Translate(change, events);
            foreach (var e in events)
            {
                CloudEventJson.CheckExtensions(e);
            }
        }
        catch (Exception e)
        {
            if (!_logger.IsEnabled(LogLevel.Debug) && TranslationFailures.IsExpected(e))
            {
                ExpectedLog.TranslationFailed(_logger, change.Position, change.Source.QualifiedTable, ((RuleEvaluationException)e).RuleId ?? "(none)",
                    DeliveryFailures.Describe(e), e.GetType().FullName);
            }
            else
            {
                Log.TranslationFailed(_logger, e, change.Position, change.Source.QualifiedTable);
            }

            _metrics.EventsDeadLettered.Add(1, new KeyValuePair<string, object?>("stage", "translate"));
            await KeepDeadLetterAsync(
                new DeadLetter
                {
                    Stage = "translate",
                    Error = e.Message,
                    ErrorType = e.GetType().FullName,
                    Position = change.Position,
                    Payload = change.Raw ?? System.Text.Encoding.UTF8.GetBytes(CanonicalJson.Serialize(change)),
                    ValueTypes = change.Raw is null ? CanonicalValueTypes.Of(change) : null,
                    Origin = change.Raw is null ? change.Origin : null,
                    Key = change.RawKey,
                    Headers = change.RawHeaders,
                    FailedAt = _time.GetUtcNow(),
                    Attempts = 1,
                },
                cancellationToken).ConfigureAwait(false);
            return new TranslatedChange(change.Position, []);
        }

        _metrics.EventsProduced.Add(events.Count);
        return new TranslatedChange(change.Position, events);
    }

    private async Task DeliverAsync(ChannelReader<TranslatedChange> reader, CancellationToken cancellationToken)
    {
        var batch = new List<TranslatedChange>(_options.MaxBatchSize);
        var events = new List<DomainEvent>(_options.MaxBatchSize);
        var lastPerStream = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            batch.Clear();
            events.Clear();
            while (events.Count < _options.MaxBatchSize && batch.Count < _options.MaxBatchSize && reader.TryRead(out var item))
            {
                batch.Add(item);
                events.AddRange(item.Events);
            }

            _batchChanges = batch.Count;
            _batchEvents = events.Count;
            await DeliverBatchAsync(events, cancellationToken).ConfigureAwait(false);

            lastPerStream.Clear();
            foreach (var item in batch)
            {
                lastPerStream[item.Position.Stream] = item.Position;
            }

            foreach (var position in lastPerStream.Values)
            {
                await _source.AcknowledgeAsync(position, cancellationToken).ConfigureAwait(false);
                _metrics.PositionsAcknowledged.Add(1);
                Log.Acknowledged(_logger, position);
            }

            _batchChanges = _batchEvents = 0;
            Interlocked.Exchange(ref _lastProgressTimestamp, _time.GetTimestamp());
            Interlocked.Add(ref _changesSettled, batch.Count);
        }

        // Surfaces a source failure once everything before it has been delivered.
        await reader.Completion.ConfigureAwait(false);
    }

    private async Task DeliverBatchAsync(List<DomainEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        foreach (var e in events)
        {
            if (e.Kind == DomainEventKind.Command && (e.Target is null || !_sinkNames.Contains(e.Target)))
            {
                Log.UnknownTarget(_logger, e.Id, e.Type, e.Target);
                await DeadLetterAsync("translate", e, new InvalidOperationException($"command targets sink '{e.Target}', which is not configured"), 1, cancellationToken).ConfigureAwait(false);
            }
        }

        await DeliverToSinksAsync(_deliverFirst, events, cancellationToken).ConfigureAwait(false);

        // Only now, with every other sink done, may a sink commit the batch's source positions. Had one of
        // them thrown (a stop, a cancellation), we would not be here: nothing of this batch is committed.
        await DeliverToSinksAsync(_deliverLast, events, cancellationToken).ConfigureAwait(false);
    }

    private async Task DeliverToSinksAsync(SinkBinding[] sinks, List<DomainEvent> events, CancellationToken cancellationToken)
    {
        switch (sinks.Length)
        {
            case 0:
                return;
            case 1:
                // One sink (the common case): no thread-pool hop.
                await DeliverToSinkAsync(sinks[0], events, cancellationToken).ConfigureAwait(false);
                return;
        }

        var tasks = new Task[sinks.Length];
        for (var i = 0; i < sinks.Length; i++)
        {
            var binding = sinks[i];
            tasks[i] = Task.Run(() => DeliverToSinkAsync(binding, events, cancellationToken), cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task DeliverToSinkAsync(SinkBinding binding, List<DomainEvent> events, CancellationToken cancellationToken)
    {
        var selected = Select(binding, events);
        if (selected.Count == 0)
        {
            return;
        }

        var failure = await TryDeliverAsync(binding, selected, cancellationToken).ConfigureAwait(false);
        if (failure is null)
        {
            Interlocked.Add(ref _eventsDelivered, selected.Count);
            _metrics.EventsDelivered.Add(selected.Count, new KeyValuePair<string, object?>("sink", binding.Name));
            return;
        }

        if (selected.Count == 1)
        {
            await HandleFailureAsync(binding, selected[0], failure.Value.Error, failure.Value.Attempts, cancellationToken).ConfigureAwait(false);
            return;
        }

        // The batch failed for good: isolate event by event so only what can never be delivered is
        // set aside and the rest still arrives (in order; some may arrive twice — at-least-once).
        var delivered = false;
        for (var i = 0; i < selected.Count; i++)
        {
            var e = selected[i];

            // A sink that commits source positions must not commit a change's position with the first of its
            // events while the others are still to come: a stop or crash then would resume after the change.
            var partOfChange = i + 1 < selected.Count && selected[i + 1].Position == e.Position;
            var single = await TryDeliverAsync(binding, [e], cancellationToken, partOfChange).ConfigureAwait(false);
            if (single is null)
            {
                delivered = true;
                Interlocked.Increment(ref _eventsDelivered);
                _metrics.EventsDelivered.Add(1, new KeyValuePair<string, object?>("sink", binding.Name));
            }
            else
            {
                await HandleFailureAsync(binding, e, single.Value.Error, single.Value.Attempts, cancellationToken).ConfigureAwait(false);
            }
        }

        if (delivered)
        {
            // The sink took events of this batch: what it refused were bad events (dead-lettered, logged or ignored), not a
            // failing sink, also when the last of them came after its last delivery.
            _perSink[binding.Name].MarkDelivered();
        }
    }

    private static List<DomainEvent> Select(SinkBinding binding, List<DomainEvent> events)
    {
        var selected = new List<DomainEvent>(events.Count);
        foreach (var e in events)
        {
            if (binding.Wants(e))
            {
                selected.Add(e);
            }
        }

        return selected;
    }

    private async Task<(Exception Error, int Attempts)?> TryDeliverAsync(
        SinkBinding binding, IReadOnlyList<DomainEvent> events, CancellationToken cancellationToken, bool partOfChange = false)
    {
        var attempts = 0;
        var perSink = _perSink[binding.Name];
        var started = _time.GetTimestamp();
        try
        {
            if (binding.Policy.OnFailure == FailurePolicy.Retry)
            {
                await perSink.Retry.ExecuteAsync(
                    async (state, ct) =>
                    {
                        attempts++;
                        await DeliverOnceAsync(state.Sink, state.Events, state.PartOfChange, ct).ConfigureAwait(false);
                    },
                    (binding.Sink, Events: events, PartOfChange: partOfChange),
                    cancellationToken).ConfigureAwait(false);
            }
            else
            {
                attempts = 1;
                await DeliverOnceAsync(binding.Sink, events, partOfChange, cancellationToken).ConfigureAwait(false);
            }

            _metrics.SinkBatchDuration.Record(_time.GetElapsedTime(started).TotalSeconds, perSink.Delivered);
            perSink.MarkDelivered();
            return null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // A stop, not the sink's answer: nothing to measure.
            throw;
        }
        catch (Exception e)
        {
            _metrics.SinkBatchDuration.Record(_time.GetElapsedTime(started).TotalSeconds, perSink.Failed);
            if (e is PermanentDeliveryException refused)
            {
                perSink.MarkRefused(refused, _time.GetTimestamp());
            }
            else
            {
                perSink.MarkFailing(e, _time.GetTimestamp());
            }

            return (e, attempts);
        }
    }

    private static ValueTask DeliverOnceAsync(ISink sink, IReadOnlyList<DomainEvent> events, bool partOfChange, CancellationToken cancellationToken) =>
        partOfChange && sink is ISourceCommittingSink committing
            ? committing.DeliverPartAsync(events, cancellationToken)
            : sink.DeliverAsync(events, cancellationToken);

    private ResiliencePipeline BuildRetryPipeline(SinkBinding binding) =>
        SinkRetry.Build(binding.Policy, _time, args =>
        {
            if (args.Outcome.Exception is { } failed)
            {
                // The pipeline is built before the sink's state (it is part of it): looked up per retry, not per event.
                _perSink[binding.Name].MarkFailing(failed, _time.GetTimestamp());
            }

            if (args.Outcome.Exception is { } error && WithoutTrace(error))
            {
                ExpectedLog.SinkRetry(_logger, binding.Name, args.AttemptNumber + 1, args.RetryDelay, DeliveryFailures.Describe(error), error.GetType().FullName);
            }
            else
            {
                Log.SinkRetry(_logger, args.Outcome.Exception, binding.Name, args.AttemptNumber + 1, args.RetryDelay);
            }

            return default;
        });

    /// <summary>
    /// An expected failure (the remote end said no or did not answer, <see cref="DeliveryFailures"/>) is logged in one line,
    /// its type a field; a bug with its stack trace. Debug logging shows every failure's trace, for a report.
    /// </summary>
    private bool WithoutTrace(Exception error) => !_logger.IsEnabled(LogLevel.Debug) && DeliveryFailures.IsExpected(error, _options.ExpectedFailures);

    private async Task HandleFailureAsync(SinkBinding binding, DomainEvent e, Exception error, int attempts, CancellationToken cancellationToken)
    {
        var oneLine = WithoutTrace(error);
        switch (binding.Policy.OnFailure)
        {
            case FailurePolicy.Ignore when oneLine:
                ExpectedLog.Ignored(_logger, binding.Name, e.Id, e.Type, e.Position, DeliveryFailures.Describe(error), error.GetType().FullName);
                _metrics.EventsIgnored.Add(1, new KeyValuePair<string, object?>("sink", binding.Name));
                return;
            case FailurePolicy.Ignore:
                Log.Ignored(_logger, error, binding.Name, e.Id, e.Type, e.Position);
                _metrics.EventsIgnored.Add(1, new KeyValuePair<string, object?>("sink", binding.Name));
                return;
            case FailurePolicy.Log when _failureStore is not null:
                if (oneLine)
                {
                    ExpectedLog.FailureLogged(_logger, binding.Name, e.Id, e.Type, e.Position, DeliveryFailures.Describe(error), error.GetType().FullName);
                }
                else
                {
                    Log.FailureLogged(_logger, error, binding.Name, e.Id, e.Type, e.Position);
                }

                try
                {
                    await _failureStore.RecordAsync(binding.Name, e, error, attempts, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception storeError) when (storeError is not OperationCanceledException)
                {
                    // The stop is the store's, not the source's: its line names failures.connectionString, not the source's key.
                    throw new FailureStoreException(binding.Name, storeError);
                }

                _metrics.EventsLogged.Add(1, new KeyValuePair<string, object?>("sink", binding.Name));
                return;
            default:
                if (oneLine)
                {
                    ExpectedLog.DeadLettered(_logger, binding.Name, e.Id, e.Type, e.Position, attempts, DeliveryFailures.Describe(error), error.GetType().FullName);
                }
                else
                {
                    Log.DeadLettered(_logger, error, binding.Name, e.Id, e.Type, e.Position, attempts);
                }

                await DeadLetterAsync(binding.Name, e, error, attempts, cancellationToken).ConfigureAwait(false);
                return;
        }
    }

    private async Task DeadLetterAsync(string stage, DomainEvent e, Exception error, int attempts, CancellationToken cancellationToken)
    {
        _metrics.EventsDeadLettered.Add(1, new KeyValuePair<string, object?>("stage", stage));
        await KeepDeadLetterAsync(
            new DeadLetter
            {
                Stage = stage,
                Error = error.Message,
                ErrorType = error.GetType().FullName,
                Position = e.Position,
                EventId = e.Id,
                EventType = e.Type,
                Payload = EventJson.SerializeToUtf8(e),
                FailedAt = _time.GetUtcNow(),
                Attempts = attempts,
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A dead letter the store cannot keep stops the pipeline, blamed on the store (<see cref="DeadLetterStoreException"/>).</summary>
    private async ValueTask KeepDeadLetterAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        try
        {
            await _deadLetters.WriteAsync(letter, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception storeError) when (storeError is not OperationCanceledException)
        {
            // The stop's line names the change (its position, as dlq list shows it), as the source's decode letter names its record.
            throw new DeadLetterStoreException(letter.Stage, storeError, letter.Position);
        }
    }

    /// <summary>
    /// A change once translated: its position (to acknowledge) and its events. The change itself is not
    /// kept — thousands wait in the buffer, and holding their rows and raw bytes there would carry them
    /// through every garbage collection; an event that needs its change holds what it needs.
    /// </summary>
    private sealed record TranslatedChange(SourcePosition Position, IReadOnlyList<DomainEvent> Events);

    /// <summary>
    /// What a delivery to one sink needs, built once: its retry pipeline, and its tags for <c>cdc.sink.batch.duration</c>
    /// (so a batch's measurement allocates nothing); and whether it is failing, for <see cref="FailingSinks"/>.
    /// </summary>
    private sealed class PerSink(ResiliencePipeline retry, string sink)
    {
        // One delivery to a sink at a time (the delivery loop awaits each batch): one writer; the probes read it from other
        // threads, so it is swapped whole (Since and LastError always go together), and only on a failure or the first
        // success after one — a sink that delivers writes nothing here.
        private FailingState? _failing;

        /// <summary>
        /// The event the sink refused for good (<see cref="PermanentDeliveryException"/>: a 4xx, a value the server rejects) with
        /// no delivery since, and when: that alone is a bad event, not a failing sink. Written and read by the delivery loop only.
        /// </summary>
        private (string EventId, long Since)? _refused;

        public ResiliencePipeline Retry { get; } = retry;

        public KeyValuePair<string, object?>[] Delivered { get; } = [new("sink", sink), new("outcome", "delivered")];

        public KeyValuePair<string, object?>[] Failed { get; } = [new("sink", sink), new("outcome", "failed")];

        public FailingState? Failing => Volatile.Read(ref _failing);

        /// <summary>An attempt failed: failing since the first failure after the last delivery, with this error.</summary>
        public void MarkFailing(Exception error, long timestamp) =>
            Volatile.Write(ref _failing, new FailingState(Volatile.Read(ref _failing)?.Since ?? timestamp, DeliveryFailures.Describe(error)));

        /// <summary>
        /// The sink refused an event (or a batch, for one of its events) for good. The first such refusal after a delivery is that
        /// event's fault: it is dead-lettered (or logged, ignored), and the sink is not failing; so is the same event refused again
        /// when its batch is sent event by event. Another event refused before any delivery (a receiver that refuses everything,
        /// a wrong URL's 404) is the sink's: failing since the first refusal.
        /// </summary>
        public void MarkRefused(PermanentDeliveryException error, long timestamp)
        {
            if (_refused is not { } first)
            {
                _refused = (error.Event.Id, timestamp);
            }
            else if (!string.Equals(first.EventId, error.Event.Id, StringComparison.Ordinal))
            {
                Volatile.Write(ref _failing, new FailingState(Volatile.Read(ref _failing)?.Since ?? first.Since, DeliveryFailures.Describe(error)));
            }
        }

        /// <summary>A batch (or an event) of the sink was delivered: it is not failing any more.</summary>
        public void MarkDelivered()
        {
            _refused = null;
            if (Volatile.Read(ref _failing) is not null)
            {
                Volatile.Write(ref _failing, null);
            }
        }
    }

    private sealed record FailingState(long Since, string LastError);
}
