using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace CdcPipeline.Kafka.Replay;

/// <summary><see cref="IConsumerGroupAdmin"/> on a real cluster through Confluent's admin client.</summary>
public sealed class KafkaConsumerGroupAdmin : IConsumerGroupAdmin, IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly IAdminClient _admin;
    private readonly IConsumer<byte[], byte[]> _consumer;

    /// <param name="config">Where the cluster is, and how to authenticate.</param>
    /// <param name="timeout">How long each request may take (default 15 s): an unreachable cluster fails after it.</param>
    public KafkaConsumerGroupAdmin(ClientConfig config, TimeSpan? timeout = null)
    {
        _timeout = timeout ?? TimeSpan.FromSeconds(15);
        _admin = new AdminClientBuilder(config).SetLogHandler(ClientLog.Handle).Build();
        var consumer = new ConsumerConfig(config.ToDictionary(kv => kv.Key, kv => kv.Value)) { GroupId = "cdcpipeline-replay-probe", EnableAutoCommit = false };
        _consumer = new ConsumerBuilder<byte[], byte[]>(consumer).SetLogHandler(ClientLog.Handle).Build();
    }

    /// <summary>The clients' last warning, for an error message (their log is not printed).</summary>
    public ClientLogTail ClientLog { get; } = new();

    public async Task<IReadOnlyList<string>> ActiveMembersAsync(string group, CancellationToken cancellationToken)
    {
        var result = await _admin.DescribeConsumerGroupsAsync([group], new DescribeConsumerGroupsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
        return result.ConsumerGroupDescriptions.SelectMany(d => d.Members).Select(m => $"{m.ClientId}@{m.Host}").ToList();
    }

    public Task<IReadOnlyList<int>> PartitionsAsync(string topic, CancellationToken cancellationToken)
    {
        return Task.FromResult(KafkaTopics.Partitions(_admin, topic, _timeout));
    }

    public Task<IReadOnlyList<string>> TopicsAsync(CancellationToken cancellationToken)
    {
        return Task.FromResult(KafkaTopics.Names(_admin, _timeout));
    }

    public async Task<IReadOnlyDictionary<int, long?>> CommittedAsync(string group, string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken)
    {
        var result = await _admin.ListConsumerGroupOffsetsAsync(
            [new ConsumerGroupTopicPartitions(group, partitions.Select(p => new TopicPartition(topic, p)).ToList())],
            new ListConsumerGroupOffsetsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
        return result.SelectMany(r => r.Partitions).ToDictionary(p => p.Partition.Value, p => p.Offset.IsSpecial ? (long?)null : p.Offset.Value);
    }

    public Task<IReadOnlyDictionary<int, (long Low, long High)>> WatermarksAsync(string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken)
    {
        IReadOnlyDictionary<int, (long, long)> marks = partitions.ToDictionary(p => p, p =>
        {
            var w = _consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), _timeout);
            return (w.Low.Value, w.High.Value);
        });
        return Task.FromResult(marks);
    }

    public Task<IReadOnlyDictionary<int, long>> OffsetsForTimeAsync(string topic, IReadOnlyList<int> partitions, DateTimeOffset time, CancellationToken cancellationToken)
    {
        var stamp = new Timestamp(time.UtcDateTime);
        var found = _consumer.OffsetsForTimes(partitions.Select(p => new TopicPartitionTimestamp(topic, p, stamp)), _timeout);
        IReadOnlyDictionary<int, long> offsets = found.ToDictionary(
            o => o.Partition.Value,
            o => o.Offset == Offset.End || o.Offset.IsSpecial ? _consumer.QueryWatermarkOffsets(o.TopicPartition, _timeout).High.Value : o.Offset.Value);
        return Task.FromResult(offsets);
    }

    public async Task<IReadOnlyList<GroupOffset>> AlterAsync(string group, IReadOnlyList<GroupOffset> offsets, CancellationToken cancellationToken)
    {
        try
        {
            await _admin.AlterConsumerGroupOffsetsAsync(
                [new ConsumerGroupTopicPartitionOffsets(group, offsets.Select(o => new TopicPartitionOffset(o.Topic, o.Partition, o.Offset)).ToList())],
                new AlterConsumerGroupOffsetsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
            return offsets;
        }
        catch (AlterConsumerGroupOffsetsException e) when (e.Results.Count > 0)
        {
            // Kafka answered, and refused some partitions (or all of them): the others are set. An error on the group
            // (rather than on a partition) leaves none of its partitions set.
            return e.Results.SelectMany(r => r.Partitions.Select(p => new GroupOffset(
                p.Topic,
                p.Partition.Value,
                p.Offset.Value,
                p.Error.IsError ? Refusal(p.Error, group, p.Topic) : r.Error.IsError ? Refusal(r.Error, group, p.Topic) : null))).ToList();
        }
    }

    /// <summary>Kafka's reason, and what to do about the refusals an operator can act on.</summary>
    private static string Refusal(Error error, string group, string topic) => error.Code switch
    {
        ErrorCode.TopicAuthorizationFailed => $"{error.Reason} ({error.Code}): the principal needs READ on topic '{topic}'",
        ErrorCode.GroupAuthorizationFailed => $"{error.Reason} ({error.Code}): the principal needs READ on group '{group}'",
        ErrorCode.UnknownTopicOrPart => $"{error.Reason} ({error.Code}): the partition does not exist (any more)",
        ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.RebalanceInProgress => $"{error.Reason} ({error.Code}): the group has members again; stop the pipeline",
        _ => $"{error.Reason} ({error.Code})",
    };

    public void Dispose()
    {
        _consumer.Dispose();
        _admin.Dispose();
    }
}
