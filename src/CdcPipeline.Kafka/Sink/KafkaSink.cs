using System.Globalization;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.ExactlyOnce;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Kafka.Sink;

/// <summary>
/// Domain events to Kafka topics: key = aggregate key (<see cref="DomainEvent.Subject"/>, so one
/// aggregate's events share a partition and stay in order), value = CloudEvents JSON
/// (<see cref="EventJson"/>) or a generic CloudEvents Avro record registered in Schema Registry,
/// CloudEvents attributes as <c>ce_</c> headers. Idempotent producer with <c>acks=all</c>: a broker
/// retry never duplicates or reorders within a partition. <see cref="DeliverAsync"/> produces the
/// whole batch, then waits for every delivery report; it returns only when the brokers have every
/// message. A message the broker can never take (too large, invalid) is a
/// <see cref="PermanentDeliveryException"/>; anything else may be transient and is rethrown.
/// In exactly-once mode see <see cref="KafkaTransactionCoordinator"/>.
/// </summary>
public sealed class KafkaSink : ISourceCommittingSink
{
    private readonly ProducerConfig _config;
    private readonly TopicTemplate _topics;
    private readonly bool _avro;
    private readonly ISchemaRegistryClient? _registry;
    private readonly KafkaTransactionCoordinator? _coordinator;
    private readonly string _transactionalId;
    private readonly TimeSpan _deliveryTimeout;
    private readonly ILogger _logger;
    /// <summary>Pause between attempts of a transaction call that failed with a retriable error.</summary>
    private static readonly TimeSpan TransactionRetryBackoff = TimeSpan.FromMilliseconds(200);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _decision = new();
    private IProducer<byte[]?, byte[]>? _producer;
    private AvroSerializer<global::Avro.Generic.GenericRecord>? _serializer;
    private bool? _transactional;
    private int _disposed;

    public KafkaSink(
        string name,
        ProducerConfig config,
        TopicTemplate topics,
        bool avro = false,
        ISchemaRegistryClient? schemaRegistry = null,
        KafkaTransactionCoordinator? coordinator = null,
        string? transactionalId = null,
        TimeSpan? deliveryTimeout = null,
        ILogger? logger = null,
        AvroSerializerConfig? avroSerializer = null)
    {
        if (avro && schemaRegistry is null)
        {
            throw new ArgumentException("an Avro Kafka sink needs a Schema Registry client", nameof(schemaRegistry));
        }

        Name = name;
        _config = config;
        _topics = topics;
        _avro = avro;
        _registry = schemaRegistry;
        _coordinator = coordinator;
        _transactionalId = transactionalId ?? name;
        _deliveryTimeout = deliveryTimeout ?? TimeSpan.FromMinutes(2);
        _logger = logger ?? NullLogger.Instance;
        AvroSerializer = avroSerializer ?? new AvroSerializerConfig { AutoRegisterSchemas = true };
    }

    public string Name { get; }

    /// <summary>The Schema Registry client of an Avro sink (tests: the settings it was built with).</summary>
    internal ISchemaRegistryClient? SchemaRegistry => _registry;

    /// <summary>How an Avro sink's serializer finds its schema id: registers the schema (the default), looks it up, or takes the latest.</summary>
    internal AvroSerializerConfig AvroSerializer { get; }

    /// <summary>True once the sink joined the source's transactions; decided once for its lifetime, when the runner is built or at the first delivery.</summary>
    public bool IsTransactional
    {
        get
        {
            lock (_decision)
            {
                return _transactional == true;
            }
        }
    }

    /// <summary>In exactly-once mode the sink commits the source's offsets in its transactions: the runner hands it a batch last.</summary>
    public bool CommitsSourcePositions => Transactional;

    /// <summary>Test hook: runs before each attempt to commit a transactional batch (its events produced and its offsets added).</summary>
    internal Func<ValueTask>? BeforeCommit { get; set; }

    /// <summary>
    /// Whether this sink carries the source's offsets in transactions. Decided once and kept: a producer
    /// created again after a failure must be transactional too (the coordinator grants the claim once), or
    /// the rest of the run would silently produce without transactions and commit no offsets with them.
    /// </summary>
    internal bool Transactional
    {
        get
        {
            lock (_decision)
            {
                return _transactional ??= _coordinator?.TryClaim(_config.BootstrapServers) ?? false;
            }
        }
    }

    public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) =>
        DeliverAsync(batch, partOfChange: false, cancellationToken);

    /// <summary>
    /// In exactly-once mode the transaction carries no offset for the last event's record: its change has more events
    /// to come, and the group must still read that record again should the pipeline stop before they are delivered.
    /// </summary>
    public ValueTask DeliverPartAsync(IReadOnlyList<DomainEvent> events, CancellationToken cancellationToken) =>
        DeliverAsync(events, partOfChange: true, cancellationToken);

    private async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, bool partOfChange, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Transactional)
            {
                await DeliverTransactionallyAsync(batch, partOfChange, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await ProduceAllAsync(_producer ??= CreateProducer(transactional: false), batch, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private IProducer<byte[]?, byte[]> CreateProducer(bool transactional)
    {
        var config = new ProducerConfig(_config.ToDictionary(kv => kv.Key, kv => kv.Value));
        if (transactional)
        {
            config.TransactionalId = _transactionalId;

            // librdkafka refuses message.timeout.ms > transaction.timeout.ms (a message may not outlive its transaction).
            if (config.TransactionTimeoutMs is null && config.MessageTimeoutMs is { } messageTimeout)
            {
                config.TransactionTimeoutMs = Math.Max(60_000, messageTimeout);
            }
        }

        var errors = new ClientErrorLog(_logger, "sink " + Name, config.BootstrapServers);
        var producer = new ProducerBuilder<byte[]?, byte[]>(config)
            .SetErrorHandler((_, error) => errors.Report(error))
            .SetLogHandler((_, _) => { })
            .Build();
        if (transactional)
        {
            try
            {
                // Fences an earlier producer with the same transactional.id (a crashed process, or this sink's own
                // producer given up after a failed abort) and aborts its open transaction.
                producer.InitTransactions(_deliveryTimeout);
            }
            catch
            {
                producer.Dispose();
                throw;
            }
        }

        if (_avro)
        {
            _serializer ??= new AvroSerializer<global::Avro.Generic.GenericRecord>(_registry!, AvroSerializer);
        }

        Log.SinkStarted(_logger, Name, _topics.ToString(), config.BootstrapServers, _avro ? "avro" : "json", transactional ? ", transactional " + _transactionalId : "");
        return producer;
    }

    private async Task DeliverTransactionallyAsync(IReadOnlyList<DomainEvent> batch, bool partOfChange, CancellationToken cancellationToken)
    {
        var consumer = _coordinator!.ConsumerFor(_config.BootstrapServers)
            ?? throw new InvalidOperationException($"sink '{Name}' is transactional but the exactly-once Kafka source on {_config.BootstrapServers} has not started");
        var unfinished = partOfChange ? batch[^1].Position : (SourcePosition?)null;
        var offsets = batch
            .Where(e => e.Position != unfinished)
            .GroupBy(e => e.Position.Stream, StringComparer.Ordinal)
            .Select(g => ToOffset(g.Key, g.Max(e => e.Position.Major) + 1))
            .ToList();
        var producer = _producer ??= CreateProducer(transactional: true);
        try
        {
            producer.BeginTransaction();
            await ProduceAllAsync(producer, batch, cancellationToken).ConfigureAwait(false);
            if (offsets.Count > 0)
            {
                await RetryWhileRetriableAsync("send offsets", timeout =>
                {
                    producer.SendOffsetsToTransaction(offsets, consumer.ConsumerGroupMetadata, timeout);
                    return default;
                }).ConfigureAwait(false);
            }
            await RetryWhileRetriableAsync("commit", async timeout =>
            {
                if (BeforeCommit is { } hook)
                {
                    await hook().ConfigureAwait(false);
                }

                producer.CommitTransaction(timeout);
            }).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Whatever failed (a delivery error or timeout, a rejected event, a stop, a commit that failed for
            // good), the transaction must not stay open: every later BeginTransaction would fail.
            AbortAfterFailure(producer, e);
            throw;
        }

        _coordinator.TransactionCommitted(_config.BootstrapServers, offsets);
    }

    /// <summary>
    /// librdkafka's rule for <c>send_offsets_to_transaction</c> and <c>commit_transaction</c>: a retriable
    /// error (e.g. a timeout while the coordinator is busy) leaves the transaction intact, and the call may
    /// be made again. Retried until <c>deliveryTimeout</c> is spent; any other error is the caller's.
    /// </summary>
    private async Task RetryWhileRetriableAsync(string operation, Func<TimeSpan, ValueTask> call)
    {
        var deadline = DateTime.UtcNow + _deliveryTimeout;
        for (var attempt = 1; ; attempt++)
        {
            var left = deadline - DateTime.UtcNow;
            try
            {
                await call(left > TransactionRetryBackoff ? left : TransactionRetryBackoff).ConfigureAwait(false);
                return;
            }
            catch (KafkaRetriableException e) when (DateTime.UtcNow + TransactionRetryBackoff < deadline)
            {
                Log.TransactionRetry(_logger, Name, operation, attempt, e.Error.Reason);
            }

            // Not cancellable on purpose: a commit in flight is finished or given up, never left half-way by a stop.
            await Task.Delay(TransactionRetryBackoff, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// After a failed transactional batch: abort, so the next batch starts a new transaction on this producer.
    /// A fatal error (fenced by a newer instance, an epoch bump that failed) or an abort that fails too leaves
    /// the producer unusable: it is disposed, and the next attempt's <c>InitTransactions</c> with the same
    /// <c>transactional.id</c> fences it and aborts whatever it left open. The sink stays transactional.
    /// </summary>
    private void AbortAfterFailure(IProducer<byte[]?, byte[]> producer, Exception failure)
    {
        if (failure is KafkaException { Error.IsFatal: true })
        {
            Log.TransactionProducerReset(_logger, failure, Name, failure.Message);
            Reset();
            return;
        }

        try
        {
            producer.AbortTransaction(_deliveryTimeout);
            Log.TransactionAborted(_logger, Name, failure.Message);
        }
        catch (KafkaException abortError)
        {
            Log.TransactionProducerReset(_logger, abortError, Name, failure.Message);
            Reset();
        }
    }

    private void Reset()
    {
        _producer?.Dispose();
        _producer = null;
    }

    private static TopicPartitionOffset ToOffset(string stream, long next)
    {
        var slash = stream.LastIndexOf('/');
        if (slash <= 0)
        {
            throw new InvalidOperationException($"event position stream '{stream}' is not a Kafka topic/partition; exactly-once needs a Kafka source");
        }

        return new TopicPartitionOffset(stream[..slash], int.Parse(stream.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture), next);
    }

    private async Task ProduceAllAsync(IProducer<byte[]?, byte[]> producer, IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        var pending = new BatchDelivery(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            Message<byte[]?, byte[]> message;
            string topic;
            try
            {
                topic = _topics.Render(e);
                message = await ToMessageAsync(e, topic).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SchemaRegistryException or HttpRequestException or global::Avro.AvroException or InvalidTopicNameException)
            {
                pending.Fail(e, ex);
                pending.Skip(batch.Count - i);
                break;
            }

            var index = i;
            while (true)
            {
                try
                {
                    producer.Produce(topic, message, report => pending.Report(batch[index], report));
                    break;
                }
                catch (ProduceException<byte[]?, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // librdkafka's queue is full: let it send, then try again.
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                    cancellationToken.ThrowIfCancellationRequested();
                }
                catch (ProduceException<byte[]?, byte[]> ex)
                {
                    pending.Fail(e, ex);
                    pending.Skip(batch.Count - i);
                    goto produced;
                }
            }
        }

    produced:
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_deliveryTimeout);
        try
        {
            await pending.Completion.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"sink '{Name}': the brokers did not acknowledge the batch within {_deliveryTimeout}");
        }

        if (pending.FirstError is { } failure)
        {
            if (IsPermanent(failure.Error))
            {
                throw new PermanentDeliveryException(failure.Event, $"sink '{Name}': Kafka rejects event {failure.Event.Id} ({failure.Event.Type}) for good: {failure.Error.Message}", failure.Error);
            }

            throw new KafkaException(new Error(ErrorCode.Local_Fail, $"sink '{Name}': delivery of event {failure.Event.Id} ({failure.Event.Type}) failed: {failure.Error.Message}"), failure.Error);
        }
    }

    // The registry refuses the schema for good: invalid (42201), invalid version (42202), or incompatible with the
    // subject's earlier versions — error code 409 from Confluent Schema Registry for years (2016-2023 reports), 40901 in
    // its current source; either may answer, depending on the release.
    private static bool IsPermanent(Exception e) =>
        e is SchemaRegistryException { ErrorCode: 42201 or 409 or 40901 or 42202 } or global::Avro.AvroException or InvalidTopicNameException
        || (e is KafkaException k && k.Error.Code is ErrorCode.MsgSizeTooLarge
            or ErrorCode.RecordListTooLarge or ErrorCode.InvalidRecord or ErrorCode.InvalidMsg
            or ErrorCode.TopicException or ErrorCode.InvalidMsgSize);

    private async ValueTask<Message<byte[]?, byte[]>> ToMessageAsync(DomainEvent e, string topic)
    {
        byte[] value;
        Headers headers;
        if (_avro)
        {
            headers = CloudEventHeaders.For(e, CloudEventHeaders.AvroContentType);
            value = await _serializer!.SerializeAsync(CloudEventAvro.ToRecord(e), new SerializationContext(MessageComponentType.Value, topic, headers)).ConfigureAwait(false);
        }
        else
        {
            headers = CloudEventHeaders.For(e, e.IsRawChange ? "application/json" : CloudEventHeaders.JsonContentType);
            value = EventJson.SerializeToUtf8(e);
        }

        return new Message<byte[]?, byte[]>
        {
            Key = e.Subject is { } subject ? Encoding.UTF8.GetBytes(subject) : null,
            Value = value,
            Headers = headers,
        };
    }

    /// <summary>Test hook: the process dies — the producer goes away without flushing, committing or aborting.</summary>
    internal void Abandon()
    {
        _producer?.Dispose();
        _producer = null;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_producer is { } producer)
            {
                await Task.Run(() => producer.Flush(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
                producer.Dispose();
                _producer = null;
            }
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
        }
    }

    /// <summary>Counts delivery reports of one batch; completes when all are in.</summary>
    private sealed class BatchDelivery
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _lock = new();
        private int _outstanding;

        public BatchDelivery(int count)
        {
            _outstanding = count;
            if (count == 0)
            {
                _done.TrySetResult();
            }
        }

        public Task Completion => _done.Task;

        public (DomainEvent Event, Exception Error)? FirstError { get; private set; }

        public void Report(DomainEvent e, DeliveryReport<byte[]?, byte[]> report)
        {
            if (report.Error.IsError)
            {
                Fail(e, new KafkaException(report.Error));
            }

            Done(1);
        }

        public void Fail(DomainEvent e, Exception error)
        {
            lock (_lock)
            {
                FirstError ??= (e, error);
            }
        }

        public void Skip(int count) => Done(count);

        private void Done(int count)
        {
            if (Interlocked.Add(ref _outstanding, -count) == 0)
            {
                _done.TrySetResult();
            }
        }
    }
}
