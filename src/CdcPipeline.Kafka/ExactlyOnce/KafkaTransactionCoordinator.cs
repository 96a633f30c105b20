using Confluent.Kafka;

namespace CdcPipeline.Kafka.ExactlyOnce;

/// <summary>
/// Kafka → Kafka exactly-once, how it fits the runner: the Kafka source with <c>exactlyOnce: true</c>
/// registers its consumer here; the Kafka sink on the same cluster (same <c>bootstrapServers</c>)
/// finds it and becomes transactional. For every batch the runner hands it, the sink begins a
/// transaction, produces the batch's events, adds the consumer group's offsets for the batch
/// (<c>SendOffsetsToTransaction</c>: last position per partition + 1, with the consumer's group
/// metadata so a zombie of an older generation is fenced, KIP-447) and commits. Events and offsets
/// become visible together or not at all: after a crash between produce and commit the broker aborts
/// the open transaction (the restarted producer's <c>InitTransactions</c> with the same
/// <c>transactional.id</c> fences it), the group resumes from the last committed offsets, and a
/// <c>read_committed</c> reader sees each domain event once.
/// <para>
/// The source commits every acknowledgement too, synchronously and in order (librdkafka's auto-commit is
/// off in this mode). An acknowledgement comes after the transaction that covered the same records and
/// before the next transaction starts, so such a commit only ever moves the group's offsets to where the
/// transaction already put them, or past records that produced no events for the Kafka sink (heartbeats,
/// changes it does not subscribe to): never past an uncommitted transaction, and never back. The sink
/// reports each committed transaction's offsets (<see cref="TransactionCommitted"/>), so that a commit the
/// source makes on revocation or shutdown never goes below them either.
/// </para>
/// <para>
/// Other sinks in the same pipeline stay at-least-once only because the runner hands the transactional
/// sink (an <see cref="Core.Sinks.ISourceCommittingSink"/>) a batch after every other sink has finished with
/// it: delivered it, or set aside for good what it never will (dead letter, ignore, log). Delivered in
/// parallel, the transaction would commit the group's offsets while, say, a webhook that is down still
/// retries the batch, and a crash then would lose those events for the webhook. If another sink throws
/// instead (a stop, a cancellation), the transactional sink never sees the batch: nothing of it is committed.
/// </para>
/// One coordinator per service provider (one pipeline).
/// </summary>
public sealed class KafkaTransactionCoordinator
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (IConsumer<byte[]?, byte[]?> Consumer, Action<IReadOnlyList<TopicPartitionOffset>> Committed)> _sources = new(StringComparer.Ordinal);
    private readonly HashSet<string> _claimed = new(StringComparer.Ordinal);

    /// <summary>
    /// Called by an exactly-once Kafka source once its consumer exists; <paramref name="committed"/> learns the
    /// offsets each transaction committed for the group.
    /// </summary>
    public void RegisterSource(string bootstrapServers, IConsumer<byte[]?, byte[]?> consumer, Action<IReadOnlyList<TopicPartitionOffset>> committed)
    {
        lock (_lock)
        {
            _sources[Normalize(bootstrapServers)] = (consumer, committed);
        }
    }

    /// <summary>Called by the transactional sink after a commit: the group's offsets its transaction carried.</summary>
    public void TransactionCommitted(string bootstrapServers, IReadOnlyList<TopicPartitionOffset> offsets)
    {
        Action<IReadOnlyList<TopicPartitionOffset>>? committed;
        lock (_lock)
        {
            committed = _sources.TryGetValue(Normalize(bootstrapServers), out var source) ? source.Committed : null;
        }

        committed?.Invoke(offsets);
    }

    public void UnregisterSource(string bootstrapServers)
    {
        lock (_lock)
        {
            _sources.Remove(Normalize(bootstrapServers));
        }
    }

    /// <summary>Whether an exactly-once source was configured for the cluster (known before its consumer exists).</summary>
    public void DeclareExactlyOnce(string bootstrapServers)
    {
        lock (_lock)
        {
            _claimed.Remove(Normalize(bootstrapServers));
            Declared.Add(Normalize(bootstrapServers));
        }
    }

    private HashSet<string> Declared { get; } = new(StringComparer.Ordinal);

    public bool IsExactlyOnce(string bootstrapServers)
    {
        lock (_lock)
        {
            return Declared.Contains(Normalize(bootstrapServers));
        }
    }

    /// <summary>Claims the cluster's transactions for one sink; a second Kafka sink on the same cluster stays non-transactional.</summary>
    public bool TryClaim(string bootstrapServers)
    {
        lock (_lock)
        {
            var key = Normalize(bootstrapServers);
            return Declared.Contains(key) && _claimed.Add(key);
        }
    }

    /// <summary>The consumer whose offsets the transactions carry, or null while the source has not started.</summary>
    public IConsumer<byte[]?, byte[]?>? ConsumerFor(string bootstrapServers)
    {
        lock (_lock)
        {
            return _sources.TryGetValue(Normalize(bootstrapServers), out var source) ? source.Consumer : null;
        }
    }

    private static string Normalize(string servers) => KafkaCluster.Key(servers);
}
