using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka.Avro;
using CdcPipeline.Kafka.ExactlyOnce;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace CdcPipeline.Kafka.Source;

/// <summary>
/// Debezium topics in, through a consumer group.
/// <para>
/// A dedicated poll thread calls <c>Consume</c> in a loop and feeds a bounded buffer that
/// <see cref="ReadAsync"/> drains. When the buffer stays full (longer than a short grace period, see
/// <see cref="WaitForRoom"/>) the thread pauses the assigned partitions
/// but keeps polling, so the consumer stays in its group (librdkafka's <c>max.poll.interval.ms</c>
/// counts time between polls) while the pipeline catches up; it resumes them once the buffer takes
/// records again — every partition it paused, even one a rebalance has moved away meanwhile, since
/// librdkafka keeps the pause on a partition that comes back later (see <see cref="Resume"/>).
/// Pausing drops librdkafka's prefetched records for those partitions and resuming
/// fetches again from the last record handed to us, so nothing is skipped.
/// </para>
/// <para>
/// Offsets: <c>enable.auto.offset.store=false</c>; an offset is stored only for a position the
/// pipeline acknowledged (acknowledgements arrive in order per partition, so what is stored is the
/// contiguous watermark, as offset + 1 — Kafka's committed offset is the next record to read).
/// librdkafka's auto-commit commits stored offsets; revocation and shutdown commit explicitly. With auto-commit off
/// (<c>enable.auto.commit=false</c> under <c>consumer:</c>, or exactly-once) each acknowledgement is committed synchronously
/// instead: otherwise nothing would commit while the source runs.
/// </para>
/// <para>
/// Exactly-once (a <see cref="KafkaTransactionCoordinator"/> given): the transactional sink commits the
/// offsets of the records that made its events in its transactions, so librdkafka's auto-commit is off —
/// it sends whatever offset is stored at the moment, asynchronously, and a stale one (stored after an
/// earlier batch) could reach the broker after a later transaction and move the group back. Instead each
/// acknowledgement is committed synchronously, in order: it comes after the batch's transaction and
/// before the next one starts, so it is never stale, and it covers what no transaction did (heartbeats,
/// changes that made no event for the Kafka sink). No commit ever goes below an offset a transaction
/// already committed (<see cref="OnTransactionCommitted"/>). An acknowledgement a transaction already
/// covered is committed all the same: on a broker that changes nothing and costs one round trip per
/// batch, and it keeps the group's offsets right where TxnOffsetCommit is not applied — librdkafka's mock
/// cluster, which the tests run on, answers it without storing anything.
/// </para>
/// <para>
/// Rebalance: when partitions are revoked nothing more of them is handed out (records of theirs
/// still buffered are dropped: the new owner reads them again), the revoke callback waits, bounded
/// by <see cref="KafkaSourceOptions.RevokeTimeout"/>, until everything already handed out for them is
/// acknowledged, commits, and only then lets them go. In exactly-once mode the wait is not cut short
/// by that timeout: a transaction of the handed-out records may still be on its way, and once the
/// partition belonged to another member its offsets would be committed for records the new owner
/// reads again. Only <c>max.poll.interval.ms</c> bounds it — the broker's rebalance timeout, after
/// which this member is out of the group and its transaction's offset commit is refused (KIP-447).
/// An acknowledgement for a partition no longer owned is ignored, and so is one for a record handed out under an earlier
/// ownership of a partition that came back (the group may have read on meanwhile: its offset must not move back). Lost partitions (session expired)
/// are let go at once without committing.
/// Under the cooperative protocol (<c>partition.assignment.strategy: cooperative-sticky</c> passed through) the handlers get
/// only the partitions that change owner and Confluent.Kafka assigns and unassigns them incrementally: a partition this
/// member keeps is not revoked, keeps its state and is read on without a pause.
/// </para>
/// <para>
/// A record that cannot be decoded goes to the dead-letter queue with its original bytes and is
/// passed on as a position-only heartbeat, so its offset is acknowledged in order and the partition
/// never stalls. A record whose schema the Schema Registry cannot be asked for (it is down) waits and
/// is tried again: it is not a bad record.
/// </para>
/// </summary>
public sealed class KafkaChangeSource : IChangeSource, ISourceLag, ISourceConnection
{
    /// <summary>librdkafka's statistics, which carry the lag per partition, every 10 s unless configured.</summary>
    private const int DefaultStatisticsIntervalMs = 10_000;

    /// <summary>
    /// librdkafka's <c>fetch.queue.backoff.ms</c> unless configured. librdkafka (2.4 and later) defaults it to
    /// 1 000 ms: once a consumer's prefetch queue is over <c>queued.max.messages.kbytes</c> (64 MB — about
    /// 11 000 Debezium records with schemas) it stops fetching for a whole second, so a pipeline catching up
    /// on a backlog drains the queue and then sits idle for the rest of that second (librdkafka issue #2879).
    /// 100 ms keeps it fed: 15–16k → 52–73k records/s in the Kafka benchmark on the mock cluster
    /// (bench/README.md, "2026-12-04"). librdkafka only re-checks its queue that often; nothing more is fetched.
    /// </summary>
    public const int DefaultFetchQueueBackoffMs = 100;

    /// <summary>Records buffered between the poll thread and the pipeline unless configured (<see cref="KafkaSourceOptions.BufferCapacity"/>).</summary>
    public const int DefaultBufferCapacity = 64;

    /// <summary>librdkafka's <c>max.poll.interval.ms</c> default.</summary>
    private const int DefaultMaxPollIntervalMs = 300_000;

    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>The headers of every record that has none (most of them): one shared empty list.</summary>
    private static readonly IReadOnlyList<KeyValuePair<string, byte[]?>> NoHeaders = [];

    /// <summary>The record a decode is retried for, for the log.</summary>
    private static readonly ResiliencePropertyKey<ConsumeResult<byte[]?, byte[]?>> RecordKey = new("cdc.kafka.record");

    /// <summary>Set once the registry did not answer: the next attempt comes after a wait.</summary>
    private static readonly ResiliencePropertyKey<bool> RetryingKey = new("cdc.kafka.retrying");

    private readonly ConsumerConfig _config;
    private readonly IReadOnlyList<string> _subscription;
    private readonly IKafkaRecordDecoder _decoder;
    private readonly IDeadLetterQueue _deadLetters;
    private readonly ILogger _logger;
    private readonly TimeSpan _revokeTimeout;
    private readonly KafkaTransactionCoordinator? _coordinator;
    private readonly bool _exactlyOnce;
    private readonly bool _commitEachAcknowledgement;
    private readonly Channel<FetchedRecord> _buffer;
    private readonly int _resumeBelow;
    private readonly TimeSpan _pauseAfter;
    private readonly object _lock = new();
    private readonly Dictionary<TopicPartition, PartitionState> _owned = [];

    /// <summary>Partitions already reported as starting at the end (<see cref="ReportStartingAtEnd"/>); the poll thread's only.</summary>
    private readonly HashSet<TopicPartition> _reportedAtEnd = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly ManualResetEventSlim _room = new(false);
    private readonly ClientErrorLog _clientErrors;
    private readonly ResiliencePipeline<ChangeEvent?> _registryRetry;
    private long _epochs;
    private IConsumer<byte[]?, byte[]?>? _consumer;
    private Thread? _pollThread;
    private volatile bool _closing;
    private int _disposed;
    private long _pauses;
    private long _resumes;
    private long _lag = -1;
    private int _assignments;
    private volatile bool _joined;
    private int _writerWaiting;
    // The last commit's failure (cleared by a commit that succeeds): a final commit on close that failed is an error.
    private volatile CommitFailure? _commitFailure;
    private volatile string? _lastCommitAttempt;

    /// <summary>How long a close waits for the final commit and the group leave.</summary>
    private static readonly TimeSpan FinalCommitTimeout = TimeSpan.FromSeconds(30);

    public KafkaChangeSource(
        ConsumerConfig config,
        IReadOnlyList<string> subscription,
        IKafkaRecordDecoder decoder,
        IDeadLetterQueue deadLetters,
        int bufferCapacity = DefaultBufferCapacity,
        TimeSpan? revokeTimeout = null,
        ILogger? logger = null,
        KafkaTransactionCoordinator? exactlyOnceCoordinator = null,
        TimeSpan? pauseAfter = null)
    {
        if (subscription.Count == 0)
        {
            throw new ArgumentException("a Kafka source needs at least one topic or a topic pattern", nameof(subscription));
        }

        if (string.IsNullOrEmpty(config.GroupId))
        {
            throw new ArgumentException("a Kafka source needs a consumer group id", nameof(config));
        }

        _config = new ConsumerConfig(config.ToDictionary(kv => kv.Key, kv => kv.Value))
        {
            // The pipeline decides what is stored; librdkafka only commits it.
            EnableAutoOffsetStore = false,
        };
        _exactlyOnce = exactlyOnceCoordinator is not null;
        if (_exactlyOnce)
        {
            // Whatever the configuration says: an asynchronous commit of a stale stored offset could land after a
            // transaction's and move the group back. Acknowledgements are committed synchronously instead.
            _config.EnableAutoCommit = false;
        }

        // Without librdkafka's auto-commit (exactly-once, or enable.auto.commit=false under consumer:) nothing else would
        // commit the acknowledged offsets while the source runs: a crash would deliver everything since the start again.
        _commitEachAcknowledgement = _config.Get("enable.auto.commit")?.Trim().ToLowerInvariant() is "false" or "f" or "0";
        _config.StatisticsIntervalMs ??= DefaultStatisticsIntervalMs;
        _config.FetchQueueBackoffMs ??= DefaultFetchQueueBackoffMs;
        _subscription = subscription;
        _decoder = decoder;
        _deadLetters = deadLetters;
        _revokeTimeout = revokeTimeout ?? TimeSpan.FromSeconds(30);
        _logger = logger ?? NullLogger.Instance;
        _clientErrors = new ClientErrorLog(_logger, "source " + _config.GroupId, _config.BootstrapServers);
        _coordinator = exactlyOnceCoordinator;
        _resumeBelow = bufferCapacity / 2;
        _pauseAfter = pauseAfter ?? TimeSpan.FromSeconds(1);
        _registryRetry = BuildRegistryRetry();
        _buffer = Channel.CreateBounded<FetchedRecord>(new BoundedChannelOptions(bufferCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string GroupId => _config.GroupId;

    /// <summary>The consumer, once <see cref="ReadAsync"/> started (exactly-once sinks take its group metadata).</summary>
    internal IConsumer<byte[]?, byte[]?>? Consumer => _consumer;

    /// <summary>How often the buffer ran full and partitions were paused (backpressure reached Kafka).</summary>
    public long Pauses => Interlocked.Read(ref _pauses);

    /// <summary>Test hook: the offsets each commit of this source's own stored (transactions' commits are the sink's).</summary>
    internal Action<IReadOnlyList<TopicPartitionOffset>>? Committed { get; set; }

    /// <summary>How often paused partitions were resumed (tests: the pipeline caught up).</summary>
    internal long Resumes => Interlocked.Read(ref _resumes);

    /// <summary>How records are decoded (tests: the connector's settings reached the decoder).</summary>
    internal IKafkaRecordDecoder Decoder => _decoder;

    /// <summary>The subscription: topics, or a <c>^</c>-anchored pattern.</summary>
    internal IReadOnlyList<string> Subscription => _subscription;

    /// <summary>The librdkafka settings the consumer is built with (ours where the caller set none).</summary>
    internal ConsumerConfig EffectiveConfig => _config;

    /// <summary>Records fetched and waiting for the pipeline (tests: a full buffer).</summary>
    internal int Buffered => _buffer.Reader.Count;

    /// <summary>The poll thread is blocked in <see cref="WaitForRoom"/> (<see cref="SignalRoom"/>; tests: a stalled pipeline).</summary>
    internal bool WaitingForRoom => Volatile.Read(ref _writerWaiting) != 0;

    /// <summary>How many times partitions were assigned to this consumer (rebalances that gave it any; under the cooperative protocol, increments that were not empty).</summary>
    public int Assignments => Volatile.Read(ref _assignments);

    public async IAsyncEnumerable<ChangeEvent> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Start();
        var reader = _buffer.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var fetched))
            {
                SignalRoom();
                var result = fetched.Result;
                if (!HandOut(result.TopicPartition, fetched.Epoch, result.Offset.Value))
                {
                    continue;
                }

                if (await DecodeAsync(result, fetched.Epoch, cancellationToken).ConfigureAwait(false) is { } change)
                {
                    yield return change;
                }
            }
        }
    }

    public ValueTask AcknowledgeAsync(SourcePosition position, CancellationToken cancellationToken)
    {
        if (!position.TryGetKafkaPartition(out var topic, out var partition))
        {
            throw new ArgumentException($"'{position}' is not a Kafka position (topic/partition@offset)", nameof(position));
        }

        var tp = new TopicPartition(topic, partition);
        lock (_lock)
        {
            // Not ours any more, or handed out before the partition was revoked (or lost) and assigned to us again: the
            // group's offset may have moved on meanwhile (another member read on), and storing this one would move it back.
            if (!_owned.TryGetValue(tp, out var state) || position.Major < state.FirstHandedOut || position.Major > state.HandedOut)
            {
                Log.LateAck(_logger, position.ToString());
                return default;
            }

            if (position.Major > state.Acknowledged)
            {
                state.Acknowledged = position.Major;
                try
                {
                    _consumer?.StoreOffset(new TopicPartitionOffset(tp, position.Major + 1));
                }
                catch (KafkaException e) when (e.Error.Code == ErrorCode.Local_State || e.Error.Code == ErrorCode.Local_UnknownPartition)
                {
                    // Unassigned between our check and the call: the revoke path commits what we recorded.
                }
            }

            Monitor.PulseAll(_lock);
        }

        if (_commitEachAcknowledgement && _consumer is { } consumer)
        {
            // In order, after the batch's transaction and before the next one: never stale (see the class remarks).
            Commit(consumer, [tp]);
        }

        return default;
    }

    /// <summary>
    /// Exactly-once: the transactional sink committed these offsets (the next record to read) for the group in a
    /// transaction. Recorded so that no commit of the source's own goes below them afterwards — one made on
    /// revocation or shutdown between a transaction and its acknowledgement would otherwise move the group back
    /// to an earlier acknowledgement, and a restart would produce the transaction's events again.
    /// </summary>
    internal void OnTransactionCommitted(IReadOnlyList<TopicPartitionOffset> offsets)
    {
        lock (_lock)
        {
            foreach (var o in offsets)
            {
                if (_owned.TryGetValue(o.TopicPartition, out var state))
                {
                    state.TransactionCommitted = Math.Max(state.TransactionCommitted, o.Offset.Value - 1);
                }
            }
        }
    }

    private void Start()
    {
        if (_pollThread is not null)
        {
            throw new InvalidOperationException("ReadAsync may be called once per Kafka source");
        }

        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        _consumer = new ConsumerBuilder<byte[]?, byte[]?>(_config)
            .SetPartitionsAssignedHandler((c, partitions) => OnAssigned(c, partitions))
            .SetPartitionsRevokedHandler((c, partitions) => OnRevoked(c, partitions))
            .SetPartitionsLostHandler((_, partitions) => OnLost(partitions))
            .SetErrorHandler((_, error) => _clientErrors.Report(error))
            .SetStatisticsHandler((_, json) => OnStatistics(json))
            .SetLogHandler((_, message) => OnClientLog(message))
            .Build();
        Log.Subscribing(_logger, _config.GroupId, string.Join(",", _subscription), _config.BootstrapServers);
        _consumer.Subscribe(_subscription);
        _coordinator?.RegisterSource(_config.BootstrapServers, _consumer, OnTransactionCommitted);
        _pollThread = new Thread(Poll) { IsBackground = true, Name = "kafka-source-" + _config.GroupId };
        _pollThread.Start();
    }

    /// <summary>
    /// librdkafka's own log stays quiet (its errors come through the error handler) except for an offset reset after a fetch
    /// error: a committed offset out of the partition's range (retention deleted it, the topic was re-created) is reset by
    /// <c>auto.offset.reset</c> with only a log line of librdkafka's to say so — records skipped without a word otherwise.
    /// </summary>
    private void OnClientLog(LogMessage message)
    {
        if (message.Level <= SyslogLevel.Warning && message.Facility == "OFFSET")
        {
            Log.OffsetReset(_logger, _config.GroupId, UrlCredentials.HideIn(message.Message), OffsetResetSetting);
        }
    }

    /// <summary>
    /// The stop <c>auto.offset.reset=error</c> asks for: a partition without a committed offset in its log (a new group, or
    /// retention deleted what the offset pointed to) is neither skipped nor read again.
    /// </summary>
    private KafkaException OffsetResetRefused(ConsumeException e)
    {
        var partition = e.ConsumerRecord?.TopicPartition is { } tp
            ? string.Create(CultureInfo.InvariantCulture, $"{tp.Topic}/{tp.Partition.Value}")
            : "a partition";
        return new KafkaException(new Error(e.Error.Code,
            $"Kafka source {_config.GroupId}: {partition} has no committed offset inside its log ({UrlCredentials.HideIn(e.Error.Reason)}) and " +
            "autoOffsetReset is error, so the source stops instead of skipping records or reading them again. Set the group's offsets " +
            "(replay --to earliest, latest, offset:P:N or timestamp:ISO) or set autoOffsetReset to earliest or latest, then start again"), e);
    }

    /// <summary>How long an assignment waits for the group's committed offsets before it goes on without reporting them.</summary>
    private static readonly TimeSpan CommittedLookupTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Where a partition without a usable committed offset starts (librdkafka's default is latest).</summary>
    private string OffsetResetSetting => _config.Get("auto.offset.reset") ?? "latest";

    private void Poll()
    {
        var consumer = _consumer!;
        var writer = _buffer.Writer;
        var overflow = new Queue<FetchedRecord>();
        var paused = new HashSet<TopicPartition>();
        Exception? failure = null;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                while (overflow.Count > 0 && writer.TryWrite(overflow.Peek()))
                {
                    overflow.Dequeue();
                }

                // Resume at a low-water mark, not at the first free slot: every resume costs a fetch round trip.
                if (overflow.Count == 0 && paused.Count > 0 && DownToLowWater)
                {
                    Resume(consumer, paused);
                    paused.Clear();
                }

                ConsumeResult<byte[]?, byte[]?>? result;
                try
                {
                    result = consumer.Consume(PollTimeout);
                }
                catch (ConsumeException e) when (e.Error.Code == ErrorCode.Local_AutoOffsetReset)
                {
                    // auto.offset.reset=error: librdkafka has stopped fetching the partition; going on would leave it unread for ever.
                    failure = OffsetResetRefused(e);
                    break;
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    _clientErrors.Report(e.Error);
                    continue;
                }

                if (result is null || result.IsPartitionEOF)
                {
                    continue;
                }

                var fetched = new FetchedRecord(result, EpochOf(result.TopicPartition));
                if (overflow.Count == 0 && (writer.TryWrite(fetched) || (WaitForRoom() && writer.TryWrite(fetched))))
                {
                    continue;
                }

                if (_stop.IsCancellationRequested)
                {
                    // Stopping while waiting for room: the record was never handed out, so its offset is
                    // never stored and the next start reads it again.
                    break;
                }

                // The pipeline is behind: hold the record, pause fetching, keep polling (heartbeats, rebalances).
                overflow.Enqueue(fetched);
                var toPause = consumer.Assignment.Where(tp => !paused.Contains(tp)).ToList();
                if (toPause.Count > 0)
                {
                    consumer.Pause(toPause);
                    paused.UnionWith(toPause);
                    Interlocked.Increment(ref _pauses);
                    Log.Paused(_logger, _config.GroupId, paused.Count);
                }
            }
        }
        catch (Exception e) when (e is KafkaException or InvalidOperationException)
        {
            failure = e;
        }
        finally
        {
            writer.TryComplete(failure);
        }
    }

    /// <summary>
    /// Resumes every partition this consumer paused, whether it is assigned now or not. librdkafka keeps a
    /// partition's pause flag across a revoke and a later re-assignment (librdkafka issues #1849, #5111): resuming
    /// only the partitions assigned at this moment would leave one that a rebalance took away paused, and when it
    /// came back it would never be read again while its lag grew. Resuming a partition that is not assigned only
    /// clears that flag; librdkafka reports one it does not know at all (UNKNOWN_PARTITION: its topic is gone
    /// from the subscription's metadata) per partition, and such a partition has no flag left to clear.
    /// </summary>
    private void Resume(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyCollection<TopicPartition> paused)
    {
        try
        {
            consumer.Resume(paused);
        }
        catch (TopicPartitionException e)
        {
            Log.ResumeSkipped(_logger, _config.GroupId, Describe(e.Results.Where(r => r.Error.IsError).Select(r => r.TopicPartition)), e.Results.First(r => r.Error.IsError).Error.Reason);
        }

        Interlocked.Increment(ref _resumes);
        Log.Resumed(_logger, _config.GroupId, paused.Count);
    }

    /// <summary>
    /// The buffer is full: give the pipeline up to <see cref="_pauseAfter"/> to take it down to the
    /// low-water mark (half, see <see cref="SignalRoom"/>) before pausing. A pause throws away
    /// everything librdkafka prefetched for the partitions (up to <c>queued.max.messages.kbytes</c>)
    /// and a resume fetches it all again, so pausing whenever the
    /// pipeline is a batch behind would read the topic several times over; a short blocking wait
    /// costs nothing (heartbeats run on librdkafka's own thread, and the wait is far below
    /// <c>max.poll.interval.ms</c>), while a pipeline that is really stuck still gets paused.
    /// </summary>
    private bool WaitForRoom()
    {
        if (_pauseAfter <= TimeSpan.Zero)
        {
            return false;
        }

        _room.Reset();
        Interlocked.Exchange(ref _writerWaiting, 1);
        try
        {
            // The reader may have drained the buffer between the failed write and the flag: it would not signal.
            return DownToLowWater || _room.Wait(_pauseAfter, _stop.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            Volatile.Write(ref _writerWaiting, 0);
        }
    }

    /// <summary>
    /// Reader side of <see cref="WaitForRoom"/>: wakes the waiting poll thread once the buffer is down to
    /// the low-water mark, not at the first free slot. Waking it for every record taken made the two
    /// threads hand the buffer back and forth one record at a time, a thread wake-up per record.
    /// </summary>
    private void SignalRoom()
    {
        // Pairs with the Interlocked.Exchange in WaitForRoom (store flag, load count vs. take record, load flag).
        Interlocked.MemoryBarrier();
        if (WaitingForRoom && DownToLowWater)
        {
            _room.Set();
        }
    }

    /// <summary>The buffer is down to the low-water mark (half) at which a waiting or paused poll thread goes on.</summary>
    private bool DownToLowWater => _buffer.Reader.Count <= _resumeBelow;

    /// <summary>Joined the consumer group (a partition assignment arrived, and was not lost since).</summary>
    public bool IsConnected => _joined && !_closing;

    /// <summary>
    /// Records the owned partitions hold beyond what the pipeline acknowledged, summed: per partition the
    /// readable end (last stable offset, else high watermark) less the stored offset (else the group's
    /// committed offset, else — a new group reading from the earliest — the low watermark). Refreshed from
    /// librdkafka's statistics (<c>statistics.interval.ms</c>, 10 s unless configured); null until they arrive.
    /// </summary>
    public SourceLag? Lag => Interlocked.Read(ref _lag) is var lag and >= 0 ? new SourceLag(lag, "records") : null;

    private void OnStatistics(string json)
    {
        try
        {
            using var stats = JsonDocument.Parse(json);
            if (!stats.RootElement.TryGetProperty("topics", out var topics) || topics.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            var total = 0L;
            var known = false;
            foreach (var topic in topics.EnumerateObject())
            {
                if (!topic.Value.TryGetProperty("partitions", out var partitions) || partitions.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                foreach (var partition in partitions.EnumerateObject())
                {
                    if (!int.TryParse(partition.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || !Owns(new TopicPartition(topic.Name, id)))
                    {
                        continue;
                    }

                    if (PartitionLag(partition.Value) is >= 0 and var lag)
                    {
                        total += lag;
                        known = true;
                    }
                }
            }

            Interlocked.Exchange(ref _lag, known ? total : -1);
        }
        catch (JsonException)
        {
            // Statistics are best effort; the next ones come soon.
        }

        static long Number(JsonElement partition, string name) =>
            partition.TryGetProperty(name, out var value) && value.TryGetInt64(out var n) ? n : -1;

        long PartitionLag(JsonElement partition)
        {
            // The readable end (the last stable offset under read_committed, librdkafka's default), less where the
            // pipeline stands: what it acknowledged (stored), else what the group committed, else — a new group —
            // where auto.offset.reset starts it.
            var end = Number(partition, "ls_offset") is >= 0 and var stable ? stable : Number(partition, "hi_offset");
            var from = Number(partition, "stored_offset") is >= 0 and var stored ? stored
                : Number(partition, "committed_offset") is >= 0 and var committed ? committed
                : StartsAtBeginning ? Number(partition, "lo_offset")
                : -1;
            return end >= 0 && from >= 0 ? Math.Max(0, end - from) : Number(partition, "consumer_lag");
        }
    }

    private bool StartsAtBeginning => _config.AutoOffsetReset is AutoOffsetReset.Earliest;

    private bool Owns(TopicPartition tp)
    {
        lock (_lock)
        {
            return _owned.ContainsKey(tp);
        }
    }

    private long EpochOf(TopicPartition tp)
    {
        lock (_lock)
        {
            return _owned.TryGetValue(tp, out var state) ? state.Epoch : -1;
        }
    }

    private bool HandOut(TopicPartition tp, long epoch, long offset)
    {
        lock (_lock)
        {
            if (!_owned.TryGetValue(tp, out var state) || state.Epoch != epoch || state.Revoking || offset <= state.HandedOut)
            {
                return false;
            }

            if (state.FirstHandedOut < 0)
            {
                state.FirstHandedOut = offset;
            }

            state.HandedOut = offset;
            return true;
        }
    }

    /// <summary>
    /// Decodes a record; one that can never be decoded is dead-lettered and becomes a position-only marker (a letter the store
    /// cannot keep stops the source: <see cref="DeadLetterStoreException"/>).
    /// While the Schema Registry does not answer the record is tried again, with backoff, for as long as this
    /// consumer owns its partition (null once it lost it: the new owner reads the record again) — an outage of
    /// the registry must not send every record of the meantime to the dead letters.
    /// </summary>
    private async ValueTask<ChangeEvent?> DecodeAsync(ConsumeResult<byte[]?, byte[]?> result, long epoch, CancellationToken cancellationToken)
    {
        var message = result.Message;
        var record = new DebeziumRecord
        {
            Topic = result.Topic,
            Partition = result.Partition.Value,
            Offset = result.Offset.Value,
            // Kafka's null (tombstone, keyless table) must stay null: a null byte[] would convert to an
            // empty, non-null ReadOnlyMemory. Zero bytes count as null too — no converter writes an empty
            // key or value, and librdkafka's mock cluster hands a null back as zero bytes.
            Key = Bytes(message.Key),
            Value = Bytes(message.Value),
            // Confluent.Kafka hands every record a Headers list, most of them empty: those share one empty list.
            Headers = message.Headers is { Count: 0 } ? NoHeaders : message.Headers?.Select(h => new KeyValuePair<string, byte[]?>(h.Key, h.GetValueBytes())).ToList(),
        };
        ResilienceContext? context = null;
        try
        {
            if (!_decoder.UsesSchemaRegistry)
            {
                return await _decoder.DecodeAsync(record, cancellationToken).ConfigureAwait(false);
            }

            context = ResilienceContextPool.Shared.Get(cancellationToken);
            context.Properties.Set(RecordKey, result);
            return await _registryRetry.ExecuteAsync(
                static (attempt, state) => state.Source.DecodeAttemptAsync(attempt, state.Record, state.Partition, state.Epoch),
                context,
                (Source: this, Record: record, Partition: result.TopicPartition, Epoch: epoch)).ConfigureAwait(false);
        }
        catch (SchemaRegistryUnavailableException) when (cancellationToken.IsCancellationRequested)
        {
            // Polly hands back the last failure instead of waiting once the stop was asked for: the record is not bad.
            throw new OperationCanceledException(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.DecodeFailed(_logger, e, result.Topic, result.Partition.Value, result.Offset.Value);
            var position = SourcePosition.ForKafka(result.Topic, result.Partition.Value, result.Offset.Value);
            var letter = new DeadLetter
            {
                Stage = "decode",
                Error = $"{record.Describe()}: {e.Message}",
                ErrorType = e.GetType().FullName,
                Position = position,
                Payload = message.Value ?? [],
                Key = record.Key,
                Headers = record.Headers,
                FailedAt = DateTimeOffset.UtcNow,
                Attempts = 1,
            };
            try
            {
                await _deadLetters.WriteAsync(letter, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception storeError) when (storeError is not OperationCanceledException)
            {
                // Blamed on the store, as the runner blames its own letters: run's line names deadLetter.topic or .path. The
                // record is not handed on, so its offset is never acknowledged and the next start reads it again. The line names
                // the record as event 4006 did: a supervisor may keep only the last line.
                throw new DeadLetterStoreException(letter.Stage, storeError, position);
            }

            // Passed on as a position-only marker: the runner acknowledges it in order, nothing is delivered.
            return new ChangeEvent
            {
                Kind = ChangeKind.Heartbeat,
                Source = new SourceInfo { Topic = result.Topic },
                Position = position,
                Raw = record.Value,
            };
        }
        finally
        {
            if (context is not null)
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>
    /// One attempt at decoding. A retry (the registry did not answer, <see cref="RetryingKey"/>) comes after a wait in which
    /// the partition may have been revoked or reassigned: then the record is not decoded and null ends the retries.
    /// </summary>
    private async ValueTask<ChangeEvent?> DecodeAttemptAsync(ResilienceContext context, DebeziumRecord record, TopicPartition partition, long epoch)
    {
        if (context.Properties.TryGetValue(RetryingKey, out _) && EpochOf(partition) != epoch)
        {
            return null;
        }

        return await _decoder.DecodeAsync(record, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Tries a record again while the Schema Registry does not answer: 0.5 s, doubling, at most 30 s between attempts, for as
    /// long as it takes (<see cref="DecodeAttemptAsync"/> gives up once the partition is no longer ours).
    /// </summary>
    private ResiliencePipeline<ChangeEvent?> BuildRegistryRetry() =>
        new ResiliencePipelineBuilder<ChangeEvent?>()
            .AddRetry(new RetryStrategyOptions<ChangeEvent?>
            {
                ShouldHandle = new PredicateBuilder<ChangeEvent?>().Handle<SchemaRegistryUnavailableException>(),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = TimeSpan.FromMilliseconds(500),
                MaxDelay = TimeSpan.FromSeconds(30),
                OnRetry = args =>
                {
                    var result = args.Context.Properties.GetValue(RecordKey, null!);
                    Log.SchemaRegistryUnavailable(
                        _logger, args.Outcome.Exception!, result.Topic, result.Partition.Value, result.Offset.Value, args.AttemptNumber + 1, args.RetryDelay);
                    args.Context.Properties.Set(RetryingKey, true);
                    return default;
                },
            })
            .Build();

    private static ReadOnlyMemory<byte>? Bytes(byte[]? bytes)
    {
        if (bytes is null || bytes.Length == 0)
        {
            return null;
        }

        return bytes;
    }

    /// <summary>
    /// Partitions given to this member: under the eager protocol (range, roundrobin) its whole assignment, under the cooperative
    /// one (<c>partition.assignment.strategy: cooperative-sticky</c>) only what is new — the partitions it keeps stay in
    /// <see cref="_owned"/> as they are, with their epoch, so their buffered records are still handed out. librdkafka ends every
    /// cooperative rebalance with an assignment, most often of nothing new (a member that only gave partitions up, or kept its
    /// own): that one is neither logged nor counted (<see cref="Assignments"/>).
    /// </summary>
    private void OnAssigned(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        _joined = true;
        if (partitions.Count == 0)
        {
            return;
        }

        Interlocked.Increment(ref _assignments);
        lock (_lock)
        {
            foreach (var tp in partitions)
            {
                _owned[tp] = new PartitionState(Interlocked.Increment(ref _epochs));
            }
        }

        Log.Assigned(_logger, _config.GroupId, Describe(partitions));
        if (OffsetResetSetting.Trim().ToLowerInvariant() is "latest" or "largest" or "end")
        {
            ReportStartingAtEnd(consumer, partitions);
        }
    }

    /// <summary>
    /// With <c>auto.offset.reset=latest</c>, a partition the group has no committed offset for starts at the end of its log: the
    /// records already there are never read. librdkafka says so only in its debug log (facility OFFSET, which
    /// <see cref="OnClientLog"/> never sees at its level), so the operator of a new group would not learn why its history is
    /// missing. One committed-offset lookup per assignment (in the rebalance callback, before librdkafka starts fetching, so no
    /// commit of ours can race it), nothing per record; each partition is reported once.
    /// </summary>
    private void ReportStartingAtEnd(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions)
    {
        var unreported = partitions.Where(p => !_reportedAtEnd.Contains(p)).ToList();
        if (unreported.Count == 0)
        {
            return;
        }

        List<TopicPartitionOffset> committed;
        try
        {
            committed = consumer.Committed(unreported, CommittedLookupTimeout);
        }
        catch (KafkaException e)
        {
            Log.CommittedLookupFailed(_logger, _config.GroupId, UrlCredentials.HideIn(e.Error.Reason));
            return;
        }

        var atEnd = committed.Where(c => c.Offset == Offset.Unset).Select(c => c.TopicPartition).ToList();
        if (atEnd.Count > 0)
        {
            _reportedAtEnd.UnionWith(atEnd);
            Log.StartsAtEnd(_logger, _config.GroupId, Describe(atEnd), OffsetResetSetting);
        }
    }

    private void OnRevoked(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> revoked)
    {
        var partitions = revoked.Select(p => p.TopicPartition).ToList();
        var drained = true;
        var stopping = false;
        List<TopicPartition> undrained = [];
        lock (_lock)
        {
            foreach (var tp in partitions)
            {
                if (_owned.TryGetValue(tp, out var state))
                {
                    state.Revoking = true;
                }
            }

            // On shutdown the pipeline has already drained: whatever is unacknowledged now stays so (a shutdown
            // that starts while we wait wakes us, see DisposeAsync).
            var deadline = DateTime.UtcNow + RevokeWait;
            while (!partitions.All(tp => !_owned.TryGetValue(tp, out var s) || s.Drained))
            {
                var left = deadline - DateTime.UtcNow;
                if (_closing || left <= TimeSpan.Zero)
                {
                    drained = false;
                    stopping = _closing;
                    undrained = partitions.Where(tp => _owned.TryGetValue(tp, out var s) && !s.Drained).ToList();
                    break;
                }

                Monitor.Wait(_lock, left);
            }
        }

        var committed = Commit(consumer, partitions);
        lock (_lock)
        {
            foreach (var tp in partitions)
            {
                _owned.Remove(tp);
            }
        }

        if (drained)
        {
            Log.Revoked(_logger, _config.GroupId, Describe(partitions), committed);
        }
        else if (stopping)
        {
            // not a timeout: the stop let go at once, after the pipeline drained what it could
            Log.StoppedUnacknowledged(_logger, _config.GroupId, Describe(undrained), committed);
        }
        else
        {
            Log.RevokeTimedOut(_logger, _config.GroupId, Describe(partitions), RevokeWait, committed);
        }
    }

    /// <summary>
    /// How long a revoked partition waits for the acknowledgement of what was handed out: <see cref="KafkaSourceOptions.RevokeTimeout"/>,
    /// or in exactly-once mode <c>max.poll.interval.ms</c> (see the class remarks).
    /// </summary>
    private TimeSpan RevokeWait => _exactlyOnce ? TimeSpan.FromMilliseconds(_config.MaxPollIntervalMs ?? DefaultMaxPollIntervalMs) : _revokeTimeout;

    private void OnLost(List<TopicPartitionOffset> lost)
    {
        _joined = false;
        lock (_lock)
        {
            foreach (var p in lost)
            {
                _owned.Remove(p.TopicPartition);
            }

            Monitor.PulseAll(_lock);
        }

        Log.Lost(_logger, _config.GroupId, Describe(lost.Select(p => p.TopicPartition)));
    }

    /// <summary>
    /// Commits the acknowledged watermark of <paramref name="partitions"/> (offset + 1) where it is beyond what this
    /// source committed and not below what a transaction committed; returns what it committed, for the log.
    /// </summary>
    private string Commit(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<TopicPartition> partitions)
    {
        List<TopicPartitionOffset> offsets;
        lock (_lock)
        {
            offsets = partitions
                .Select(tp => (tp, state: _owned.GetValueOrDefault(tp)))
                .Where(x => x.state is { } s && s.Acknowledged > s.Committed && s.Acknowledged >= s.TransactionCommitted)
                .Select(x => new TopicPartitionOffset(x.tp, x.state!.Acknowledged + 1))
                .ToList();
        }

        if (offsets.Count == 0)
        {
            return "nothing new";
        }

        var described = Describe(offsets);
        _lastCommitAttempt = described;
        try
        {
            consumer.Commit(offsets);
            lock (_lock)
            {
                foreach (var o in offsets)
                {
                    if (_owned.TryGetValue(o.TopicPartition, out var s))
                    {
                        s.Committed = Math.Max(s.Committed, o.Offset.Value - 1);
                    }
                }
            }

            Committed?.Invoke(offsets);
        }
        catch (KafkaException e)
        {
            // E.g. REBALANCE_IN_PROGRESS: the group moved on; the new owner starts from the last
            // committed offset and re-reads what we acknowledged since (at-least-once, never a gap).
            Log.CommitFailed(_logger, _config.GroupId, e.Error.Reason);
            // A commit the group refused because it rebalances is the protocol at work (the new owner re-reads, by
            // design); one that could not be made at all (no coordinator, broker down) is what a stop must report.
            _commitFailure = e.Error.Code is ErrorCode.RebalanceInProgress or ErrorCode.IllegalGeneration or ErrorCode.UnknownMemberId
                ? null
                : new CommitFailure(e.Error.Code, described, e.Error.Reason);
            return "nothing (commit failed: " + e.Error.Reason + ")";
        }

        _commitFailure = null;
        return described;
    }

    private static string Describe(IEnumerable<TopicPartitionOffset> offsets) =>
        string.Join(", ", offsets.Select(o => string.Create(CultureInfo.InvariantCulture, $"{o.Topic}/{o.Partition.Value}@{o.Offset.Value}")));

    private static string Describe(IEnumerable<TopicPartition> partitions) =>
        string.Join(", ", partitions.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Topic}/{p.Partition.Value}")));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        WakeForClose();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_pollThread is not null)
        {
            await Task.Run(() => _pollThread.Join(), CancellationToken.None).ConfigureAwait(false);
        }

        if (_consumer is not null)
        {
            _coordinator?.UnregisterSource(_config.BootstrapServers);
            var consumer = _consumer;
            _commitFailure = null;
            var closing = Task.Run(
                () =>
                {
                    try
                    {
                        // A failure is recorded in _commitFailure; the revoke callback of Close tries again.
                        Commit(consumer, consumer.Assignment);

                        // Leaves the group at once (instead of after the session timeout); runs the revoke callback.
                        consumer.Close();
                    }
                    catch (KafkaException e)
                    {
                        Log.CommitFailed(_logger, _config.GroupId, e.Error.Reason);
                    }
                    finally
                    {
                        consumer.Dispose();
                    }
                },
                CancellationToken.None);

            // librdkafka's synchronous commit has no time-out: with the group coordinator gone it can wait for ever,
            // and the stop with it. Past FinalCommitTimeout the close is abandoned (the process is exiting) and
            // reported like a failed commit.
            if (await Task.WhenAny(closing, Task.Delay(FinalCommitTimeout, CancellationToken.None)).ConfigureAwait(false) != closing)
            {
                _commitFailure ??= new CommitFailure(ErrorCode.Local_TimedOut, _lastCommitAttempt ?? "the acknowledged offsets",
                    string.Create(CultureInfo.InvariantCulture, $"no answer within {FinalCommitTimeout.TotalSeconds:F0} s"));
            }
        }

        _stop.Dispose();
        _room.Dispose();

        // Logged is not enough: the process would exit 0, though the group restarts from its last committed
        // offsets and everything acknowledged since is delivered again.
        if (_commitFailure is { } failure)
        {
            throw new KafkaException(new Error(failure.Code,
                $"Kafka source {_config.GroupId}: the final commit on close failed ({failure.Reason}); {failure.Offsets} not committed: " +
                "what was acknowledged since the last commit is delivered again after a restart"));
        }
    }

    private sealed record CommitFailure(ErrorCode Code, string Offsets, string Reason);

    /// <summary>Stopping: a revoke callback waiting for acknowledgements that will not come any more lets go at once.</summary>
    private void WakeForClose()
    {
        _closing = true;
        lock (_lock)
        {
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Test hook: the process dies — no commit, no leave-group; acknowledged offsets only survive if a commit already sent them.</summary>
    internal async ValueTask CrashAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        WakeForClose();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_pollThread is not null)
        {
            await Task.Run(() => _pollThread.Join(), CancellationToken.None).ConfigureAwait(false);
        }

        _consumer?.Dispose();
    }
}
