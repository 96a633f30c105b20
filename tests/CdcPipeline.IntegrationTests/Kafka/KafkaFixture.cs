using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

[assembly: AssemblyFixture(typeof(CdcPipeline.IntegrationTests.Kafka.KafkaFixture))]

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// One Kafka for the test run: <c>CDC_TEST_KAFKA</c> (bootstrap servers of a real broker) when set,
/// else librdkafka's mock cluster — started by a producer with <c>test.mock.num.brokers=3</c> that
/// stays alive for the run; its brokers listen on 127.0.0.1 ports that every other client reaches
/// over TCP (read from the metadata). Topics auto-create with 4 partitions. Tests use unique topic
/// and group names, so they may run in parallel.
/// </summary>
public sealed class KafkaFixture : IAsyncLifetime
{
    private IProducer<byte[]?, byte[]?>? _mockOwner;
    private IProducer<byte[]?, byte[]?>? _producer;
    private int _counter;

    public string BootstrapServers { get; private set; } = "";

    /// <summary>True on the mock cluster, which lacks CreateTopics, OffsetsForTimes, ListConsumerGroupOffsets and AlterConsumerGroupOffsets.</summary>
    public bool IsMock { get; private set; }

    public IProducer<byte[]?, byte[]?> Producer => _producer!;

    public ValueTask InitializeAsync()
    {
        var real = Environment.GetEnvironmentVariable("CDC_TEST_KAFKA");
        if (!string.IsNullOrWhiteSpace(real))
        {
            BootstrapServers = real;
        }
        else
        {
            IsMock = true;
            var config = new ProducerConfig { BootstrapServers = "" };
            config.Set("test.mock.num.brokers", "3");
            _mockOwner = new ProducerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
            using var admin = new DependentAdminClientBuilder(_mockOwner.Handle).Build();
            var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
            BootstrapServers = string.Join(",", metadata.Brokers.Select(b => $"{b.Host}:{b.Port}"));
        }

        _producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = BootstrapServers, EnableIdempotence = true, LingerMs = 1 })
            .SetLogHandler((_, _) => { })
            .Build();
        return default;
    }

    public string Unique(string prefix) => $"{prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..6]}";

    public async Task<DeliveryResult<byte[]?, byte[]?>> ProduceAsync(string topic, string? key, string? value, int? partition = null, Headers? headers = null)
    {
        var message = new Message<byte[]?, byte[]?>
        {
            Key = key is null ? null : Encoding.UTF8.GetBytes(key),
            Value = value is null ? null : Encoding.UTF8.GetBytes(value),
            Headers = headers,
        };
        return partition is { } p
            ? await Producer.ProduceAsync(new TopicPartition(topic, p), message)
            : await Producer.ProduceAsync(topic, message);
    }

    public async Task<DeliveryResult<byte[]?, byte[]?>> ProduceAsync(string topic, byte[]? key, byte[]? value, int? partition = null)
    {
        var message = new Message<byte[]?, byte[]?> { Key = key, Value = value };
        return partition is { } p
            ? await Producer.ProduceAsync(new TopicPartition(topic, p), message)
            : await Producer.ProduceAsync(topic, message);
    }

    /// <summary>Reads until <paramref name="count"/> records arrived from <paramref name="topic"/> (or the timeout passes).</summary>
    public List<ConsumeResult<byte[]?, byte[]?>> ReadAll(string topic, int count, IsolationLevel isolation = IsolationLevel.ReadCommitted, TimeSpan? timeout = null, TimeSpan? settle = null) =>
        ReadAll([topic], count, isolation, timeout, settle);

    /// <summary>Reads until <paramref name="count"/> records arrived from all of <paramref name="topics"/> together (one consumer, one group join).</summary>
    public List<ConsumeResult<byte[]?, byte[]?>> ReadAll(IReadOnlyCollection<string> topics, int count, IsolationLevel isolation = IsolationLevel.ReadCommitted, TimeSpan? timeout = null, TimeSpan? settle = null)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = Unique("reader"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            IsolationLevel = isolation,
            AllowAutoCreateTopics = true,
        };
        // A consumer that subscribes before its topics exist may never be assigned them on the mock cluster: the
        // rebalance their creation starts never completes there. So they are created first (a test may well
        // read a topic before the pipeline under test has written to it).
        EnsureTopics(topics);
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topics);
        var results = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (results.Count < count && DateTime.UtcNow < deadline)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is { IsPartitionEOF: false })
            {
                results.Add(r);
            }
        }

        // Keep reading a little after the expected count, so an unexpected extra record is seen.
        var quietUntil = DateTime.UtcNow + (settle ?? TimeSpan.FromMilliseconds(500));
        while (DateTime.UtcNow < quietUntil)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (r is { IsPartitionEOF: false })
            {
                results.Add(r);
            }
        }

        consumer.Close();
        return results;
    }

    /// <summary>Creates the topics that do not exist yet, with the cluster's default partition count.</summary>
    public void EnsureTopics(IEnumerable<string> topics)
    {
        // A metadata request for a topic creates it where the brokers auto-create topics, as the mock cluster does
        // (its CreateTopics times out waiting for a controller).
        using var admin = new DependentAdminClientBuilder(Producer.Handle).Build();
        if (!IsMock)
        {
            // A real cluster may not auto-create topics.
            try
            {
                admin.CreateTopicsAsync(topics.Select(t => new TopicSpecification { Name = t, NumPartitions = 4, ReplicationFactor = -1 })).GetAwaiter().GetResult();
            }
            catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
            {
                // Some existed already.
            }
        }

        foreach (var topic in topics)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single() is { } metadata
                && (metadata.Error.Code != ErrorCode.NoError || metadata.Partitions.Count == 0))
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"topic {topic} does not exist and was not created: {metadata.Error}");
                }

                Thread.Sleep(100);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _producer?.Dispose();
        _mockOwner?.Dispose();
        return default;
    }
}
