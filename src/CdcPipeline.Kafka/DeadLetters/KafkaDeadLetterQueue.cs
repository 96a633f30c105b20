using System.Globalization;
using System.Text;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Kafka.DeadLetters;

/// <summary>
/// Dead letters on a Kafka topic: the value is the original bytes (a Debezium record's value, or the
/// event body a sink could not deliver), the key the original key (or the event id), the headers the original record's
/// headers followed by the reason, in
/// <see cref="DeadLetterHeaders"/>; <c>cdc.original.topic</c>, <c>.partition</c> and <c>.offset</c> only on a
/// letter that holds the source record (<see cref="DeadLetter.HoldsSourceRecord"/>), where a redrive may send it. <see cref="WriteAsync"/> returns once the brokers have it, so a
/// record's offset is never acknowledged before its dead letter is safe.
/// </summary>
public sealed class KafkaDeadLetterQueue : IDeadLetterQueue, IAsyncDisposable
{
    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly ILogger _logger;
    private int _disposed;

    /// <param name="deliveryTimeout">
    /// How long a letter may wait for the brokers before its write fails (<c>deadLetter.deliveryTimeout</c>, default 2 minutes as a
    /// Kafka sink's <c>deliveryTimeout</c>): librdkafka's own default would hold run for 5 minutes on an unreachable cluster.
    /// </param>
    public KafkaDeadLetterQueue(ProducerConfig config, string topic, ILogger? logger = null, TimeSpan? deliveryTimeout = null)
    {
        Topic = topic;
        var settings = new ProducerConfig(config.ToDictionary(kv => kv.Key, kv => kv.Value))
        {
            EnableIdempotence = true,
            Acks = Acks.All,
            MessageMaxBytes = DeadLetterHeaders.MessageMaxBytes,
            MessageTimeoutMs = (int)Math.Min(int.MaxValue, (deliveryTimeout ?? DeadLetterOptions.DefaultDeliveryTimeout).TotalMilliseconds),
        };
        _logger = logger ?? NullLogger.Instance;
        var errors = new ClientErrorLog(_logger, "dead letters " + topic, settings.BootstrapServers);
        _producer = new ProducerBuilder<byte[]?, byte[]?>(settings)
            .SetErrorHandler((_, error) => errors.Report(error))
            .SetLogHandler((_, _) => { })
            .Build();
    }

    public string Topic { get; }

    public async ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        // The record's own headers first, then why it failed: a redrive sends the record back with the former only.
        var headers = new Headers();
        foreach (var (name, value) in letter.Headers ?? [])
        {
            headers.Add(name, value);
        }

        headers.Add(DeadLetterHeaders.Error, Encoding.UTF8.GetBytes(letter.Error));
        headers.Add(DeadLetterHeaders.Stage, Encoding.UTF8.GetBytes(letter.Stage));
        headers.Add(DeadLetterHeaders.FailedAt, Encoding.UTF8.GetBytes(letter.FailedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)));
        headers.Add(DeadLetterHeaders.Attempts, Encoding.UTF8.GetBytes(letter.Attempts.ToString(CultureInfo.InvariantCulture)));
        Add(headers, DeadLetterHeaders.ErrorType, letter.ErrorType);
        Add(headers, DeadLetterHeaders.EventId, letter.EventId);
        Add(headers, DeadLetterHeaders.EventType, letter.EventType);
        if (letter.Position is { } position)
        {
            Add(headers, DeadLetterHeaders.Position, position.ToString());
            // Only a letter that holds the source record names the topic it came from: a sink's letter holds a
            // domain event, and a redrive to the change topic would feed the pipeline a record it cannot decode.
            if (letter.HoldsSourceRecord && position.TryGetKafkaPartition(out var topic, out var partition))
            {
                Add(headers, DeadLetterHeaders.OriginalTopic, topic);
                Add(headers, DeadLetterHeaders.OriginalPartition, partition.ToString(CultureInfo.InvariantCulture));
                Add(headers, DeadLetterHeaders.OriginalOffset, position.Major.ToString(CultureInfo.InvariantCulture));
            }
        }

        var key = letter.Key?.ToArray() ?? (letter.EventId is { } id ? Encoding.UTF8.GetBytes(id) : null);
        // No payload is a tombstone (a key with a null value, which the source reads zero bytes as too): it stays null, so a
        // redrive puts a tombstone back on the change topic rather than an empty value nobody can decode or compact away.
        var payload = letter.Payload.IsEmpty ? null : letter.Payload.ToArray();
        await _producer.ProduceAsync(Topic, new Message<byte[]?, byte[]?> { Key = key, Value = payload, Headers = headers }, cancellationToken).ConfigureAwait(false);
        Log.DeadLetterWritten(_logger, Topic, letter.Stage, letter.Position?.ToString() ?? "-");
    }

    private static void Add(Headers headers, string name, string? value)
    {
        if (value is not null)
        {
            headers.Add(name, Encoding.UTF8.GetBytes(value));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.Run(() => _producer.Flush(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        _producer.Dispose();
    }
}
