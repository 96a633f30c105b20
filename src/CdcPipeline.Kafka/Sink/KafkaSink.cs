using System.Globalization;
using System.Text;
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
public sealed class KafkaSink : ISink
{
    private readonly ProducerConfig _config;
    private readonly TopicTemplate _topics;
    private readonly bool _avro;
    private readonly ISchemaRegistryClient? _registry;
    private readonly KafkaTransactionCoordinator? _coordinator;
    private readonly string _transactionalId;
    private readonly TimeSpan _deliveryTimeout;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IProducer<byte[]?, byte[]>? _producer;
    private AvroSerializer<global::Avro.Generic.GenericRecord>? _serializer;
    private bool _transactional;
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
        ILogger? logger = null)
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
    }

    public string Name { get; }

    /// <summary>True once the sink joined the source's transactions (decided at the first delivery).</summary>
    public bool IsTransactional => _transactional;

    /// <summary>Test hook: runs after a transactional batch is produced and its offsets added, before the commit.</summary>
    internal Func<ValueTask>? BeforeCommit { get; set; }

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var producer = _producer ??= CreateProducer();
            if (_transactional)
            {
                await DeliverTransactionallyAsync(producer, batch, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await ProduceAllAsync(producer, batch, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private IProducer<byte[]?, byte[]> CreateProducer()
    {
        var config = new ProducerConfig(_config.ToDictionary(kv => kv.Key, kv => kv.Value));
        _transactional = _coordinator?.TryClaim(config.BootstrapServers) ?? false;
        if (_transactional)
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
        if (_transactional)
        {
            // Fences an earlier instance with the same transactional.id and aborts its open transaction.
            producer.InitTransactions(_deliveryTimeout);
        }

        if (_avro)
        {
            _serializer = new AvroSerializer<global::Avro.Generic.GenericRecord>(_registry!, new AvroSerializerConfig { AutoRegisterSchemas = true });
        }

        Log.SinkStarted(_logger, Name, _topics.ToString(), config.BootstrapServers, _avro ? "avro" : "json", _transactional ? ", transactional " + _transactionalId : "");
        return producer;
    }

    private async Task DeliverTransactionallyAsync(IProducer<byte[]?, byte[]> producer, IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        var consumer = _coordinator!.ConsumerFor(_config.BootstrapServers)
            ?? throw new InvalidOperationException($"sink '{Name}' is transactional but the exactly-once Kafka source on {_config.BootstrapServers} has not started");
        producer.BeginTransaction();
        try
        {
            await ProduceAllAsync(producer, batch, cancellationToken).ConfigureAwait(false);
            var offsets = batch
                .GroupBy(e => e.Position.Stream, StringComparer.Ordinal)
                .Select(g => ToOffset(g.Key, g.Max(e => e.Position.Major) + 1))
                .ToList();
            producer.SendOffsetsToTransaction(offsets, consumer.ConsumerGroupMetadata, _deliveryTimeout);
            if (BeforeCommit is { } hook)
            {
                await hook().ConfigureAwait(false);
            }

            producer.CommitTransaction(_deliveryTimeout);
        }
        catch (Exception e) when (e is KafkaException or PermanentDeliveryException or OperationCanceledException)
        {
            if (e is KafkaTxnRequiresAbortException or PermanentDeliveryException or OperationCanceledException or ProduceException<byte[]?, byte[]>)
            {
                try
                {
                    producer.AbortTransaction(_deliveryTimeout);
                    Log.TransactionAborted(_logger, Name, e.Message);
                }
                catch (KafkaException)
                {
                    Reset();
                }
            }
            else
            {
                // Fenced or fatal: this producer is done; the next attempt starts a new one (InitTransactions).
                Reset();
            }

            throw;
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
            var topic = _topics.Render(e);
            Message<byte[]?, byte[]> message;
            try
            {
                message = await ToMessageAsync(e, topic).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SchemaRegistryException or HttpRequestException or global::Avro.AvroException)
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

    private static bool IsPermanent(Exception e) =>
        e is SchemaRegistryException { ErrorCode: 42201 or 40901 or 42202 } or global::Avro.AvroException
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
