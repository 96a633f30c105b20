using System.Diagnostics;
using System.Globalization;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using Confluent.Kafka;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// Load harness (not BenchmarkDotNet: the unit is a whole pipeline run): over librdkafka's mock cluster
/// (or CDC_TEST_KAFKA), N recorded Debezium JSON records (with schemas) are first consumed raw by a
/// consumer group, then run through the pipeline — Kafka source (decode) → translator (the sample's
/// rules, or one whole-row event per change) → Kafka sink (CloudEvents JSON, idempotent, acks=all) with acknowledged offsets.
/// Both are timed in steady state, from the record that ends the first quarter (the warm-up: the group
/// join, about 3 s on the mock cluster, and the JIT's tier-0 code) to their last; reports records/s for
/// both and their ratio (goal ≥ 0.5). KAFKA_BENCH_WARMUP=0 times from the first record instead.
/// Run: dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- kafka-throughput [N] [sink producer key=value …]
/// </summary>
internal static class KafkaThroughput
{
    // librdkafka's mock cluster keeps at most 5 MiB (and 100 000 message sets) per partition and deletes
    // the oldest message sets beyond that (rd_kafka_mock_partition_init / rd_kafka_mock_msgset_new in
    // src/rdkafka_mock.c): more than that per partition and the start of the topic is gone before anyone
    // reads it — which is what "stalled" the raw consumer before. Stay well below it.
    private const long BytesPerPartition = 4L * 1024 * 1024;

    public static async Task<int> RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;

        // Further arguments key=value are librdkafka settings for the sink's producer (e.g. compression.type=lz4).
        var sinkProducer = MockCluster.Settings(args.Skip(1), new Dictionary<string, string> { ["linger.ms"] = "5" });
        using var cluster = MockCluster.Start(allowExternal: true);
        var servers = cluster.Servers;

        var run = Guid.NewGuid().ToString("N")[..8];
        var samples = Samples();
        var average = samples.Average(s => s.Key.Length + s.Value.Length);

        // KAFKA_BENCH_TRANSLATOR: "rules" (default) translates with the sample's rules, as `cdcpipeline run` does —
        // OrderPlaced / OrderShipped / OrderCancelled with a few fields each, nothing for snapshot reads and deletes;
        // "row" makes one event per change carrying the whole new row (the ~3.8 KB memo included): the most a
        // translation can ask the sink to produce.
        var translatorName = Environment.GetEnvironmentVariable("KAFKA_BENCH_TRANSLATOR") is { Length: > 0 } name ? name : "rules";
        IChangeTranslator translator = translatorName switch
        {
            "rules" => RuleSet.LoadDirectory(Path.Combine(Repository.Root(), "samples", "legacy-orders", "rules")).CreateTranslator("bench"),
            "row" => new OneEventPerChange(),
            _ => throw new ArgumentException($"KAFKA_BENCH_TRANSLATOR='{translatorName}': use rules or row"),
        };
        var events = ExpectedEvents(samples, translator, count);
        var produceWatch = Stopwatch.StartNew();
        List<string> topics;
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = servers,
            LingerMs = 20,
            EnableIdempotence = true,

            // Spread over every partition: the few distinct sample keys would otherwise pile everything onto
            // a handful of partitions (and past the mock's per-partition retention).
            Partitioner = Partitioner.Random,
        }).SetLogHandler((_, _) => { }).Build())
        {
            // The mock cluster auto-creates topics with its default partition count (the admin client's CreateTopics
            // times out "waiting for controller" on it): learn that count from the first topic, then use as many topics as keep
            // each partition below the retention limit — as a Debezium deployment has one topic per table.
            using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
            var perTopic = PartitionCount(admin, $"bench.public.tb_ord_mst.{run}.0");
            var needed = (int)Math.Ceiling(count * average / (BytesPerPartition * perTopic));
            topics = [.. Enumerable.Range(0, Math.Max(1, needed)).Select(t => $"bench.public.tb_ord_mst.{run}.{t}")];
            for (var i = 0; i < count; i++)
            {
                var (key, value) = samples[i % samples.Count];
                var topic = topics[i % topics.Count];
                while (true)
                {
                    try
                    {
                        producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = key, Value = value });
                        break;
                    }
                    catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(10));
                    }
                }
            }

            if (producer.Flush(TimeSpan.FromMinutes(5)) > 0)
            {
                throw new TimeoutException("records still unsent after 5 minutes");
            }
        }

        produceWatch.Stop();
        var onTopics = CheckTopics(servers, topics, count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count} Debezium JSON records ({samples.Count} distinct tb_ord_mst changes, {average:0} bytes avg key+value) produced in {produceWatch.Elapsed.TotalSeconds:0.0} s to {topics.Count} topic(s), {(cluster.IsMock ? "mock cluster, 3 brokers" : servers)}; {onTopics}"));

        // KAFKA_BENCH_SKIP_RAW=1 leaves the raw consume out, to profile the pipeline on its own.
        var skipRaw = Environment.GetEnvironmentVariable("KAFKA_BENCH_SKIP_RAW") == "1";

        // Both consumers get the librdkafka settings the Kafka source runs with by default (so the ratio compares
        // like with like), then KAFKA_BENCH_CONSUMER=key=value,key=value (e.g. fetch.queue.backoff.ms=1000, librdkafka's own).
        var consumerSettings = MockCluster.Settings(
            (Environment.GetEnvironmentVariable("KAFKA_BENCH_CONSUMER") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries),
            new Dictionary<string, string> { ["fetch.queue.backoff.ms"] = KafkaChangeSource.DefaultFetchQueueBackoffMs.ToString(CultureInfo.InvariantCulture) });
        var warmup = Environment.GetEnvironmentVariable("KAFKA_BENCH_WARMUP") == "0" ? 0 : count / 4;
        var raw = skipRaw ? default : RawConsume(servers, topics, count, warmup, consumerSettings);
        if (!skipRaw)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"raw consume:                      {raw.Steady.TotalSeconds,7:0.00} s  {raw.Measured / raw.Steady.TotalSeconds,10:N0} records/s, {raw.Cpu.TotalMicroseconds / raw.Measured,5:0.0} µs CPU/record (first record {raw.First.TotalSeconds:0.00} s after subscribe; timed: the last {raw.Measured})"));
        }

        var pipeline = await PipelineAsync(servers, topics, $"bench.domain.{run}", count, warmup, events, translator, consumerSettings, sinkProducer).ConfigureAwait(false);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"consume→decode→translate→produce: {pipeline.Steady.TotalSeconds,7:0.00} s  {pipeline.Measured / pipeline.Steady.TotalSeconds,10:N0} records/s, {pipeline.Cpu.TotalMicroseconds / pipeline.Measured,5:0.0} µs CPU/record (first record {pipeline.First.TotalSeconds:0.00} s after start; timed: the last {pipeline.Measured}; translator '{translatorName}': {events} domain events in all)"));
        if (!skipRaw)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio pipeline/raw: {pipeline.Measured / pipeline.Steady.TotalSeconds / (raw.Measured / raw.Steady.TotalSeconds):0.00} (goal ≥ 0.5); by CPU per record (whole process, mock broker included, less sensitive to other load): {raw.Cpu.TotalMicroseconds / raw.Measured / (pipeline.Cpu.TotalMicroseconds / pipeline.Measured):0.00}"));
        }

        return 0;
    }

    /// <summary>CPU of the whole process — the in-process mock broker's thread included.</summary>
    private static TimeSpan ProcessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>Collections per generation and bytes allocated so far (managed heap only: librdkafka's own buffers are native).</summary>
    private readonly record struct GcMark(int Gen0, int Gen1, int Gen2, long Allocated, long ContextSwitches, TimeSpan Paused)
    {
        public static GcMark Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalAllocatedBytes(), ContextSwitchesSoFar(), GC.GetTotalPauseDuration());

        public string Since(GcMark start, int records) => string.Create(CultureInfo.InvariantCulture,
            $"GC: {Gen0 - start.Gen0} gen0, {Gen1 - start.Gen1} gen1, {Gen2 - start.Gen2} gen2 collections, {(Paused - start.Paused).TotalSeconds:0.00} s paused; {(Allocated - start.Allocated) / (double)records / 1024:0.0} KB allocated per record; {(ContextSwitches - start.ContextSwitches) / (double)records:0.00} context switches per record");

        /// <summary>Context switches of the live threads (Linux /proc; 0 elsewhere): each is a thread that went to sleep or was preempted.</summary>
        private static long ContextSwitchesSoFar()
        {
            var total = 0L;
            if (!Directory.Exists("/proc/self/task"))
            {
                return 0;
            }

            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            total += long.Parse(line.AsSpan(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim(), CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }

            return total;
        }
    }

    private static int PartitionCount(IAdminClient admin, string topic)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();
            if (metadata.Error.Code == ErrorCode.NoError && metadata.Partitions.Count > 0)
            {
                return metadata.Partitions.Count;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"topic {topic} was not created: {metadata.Error}");
            }

            Thread.Sleep(100);
        }
    }

    /// <summary>Every produced record is on the topics from offset 0 on (nothing lost to retention or a failed send).</summary>
    private static string CheckTopics(string servers, List<string> topics, int count)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = servers, GroupId = "bench-check" }).SetLogHandler((_, _) => { }).Build();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = servers }).SetLogHandler((_, _) => { }).Build();
        var total = 0L;
        var smallest = long.MaxValue;
        var largest = 0L;
        var partitions = 0;
        foreach (var topic in topics)
        {
            foreach (var partition in admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions)
            {
                var tp = new TopicPartition(topic, partition.PartitionId);
                var marks = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10));
                if (marks.Low.Value != 0)
                {
                    throw new InvalidOperationException($"{tp} starts at offset {marks.Low.Value}, not 0: the broker deleted records before they were read (retention)");
                }

                partitions++;
                total += marks.High.Value;
                smallest = Math.Min(smallest, marks.High.Value);
                largest = Math.Max(largest, marks.High.Value);
            }
        }

        if (total != count)
        {
            throw new InvalidOperationException($"the topics hold {total} records, {count} were produced");
        }

        return $"{partitions} partitions of {smallest}..{largest} records, all from offset 0";
    }

    /// <summary>
    /// A consumer group reading everything, storing each offset (as the pipeline does). Steady = record
    /// <paramref name="warmup"/> to the last, so the group join (seconds on the mock cluster) counts for neither side.
    /// </summary>
    private static (TimeSpan First, TimeSpan Steady, TimeSpan Cpu, int Measured) RawConsume(string servers, List<string> topics, int count, int warmup, Dictionary<string, string> consumerSettings)
    {
        var rawConfig = new ConsumerConfig
        {
            BootstrapServers = servers,
            GroupId = "bench-raw-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoOffsetStore = false,
        };
        KafkaClientSettings.Apply(rawConfig, consumerSettings);
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(rawConfig).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topics);
        var seen = 0;
        var bytes = 0L;
        var watch = Stopwatch.StartNew();
        var first = TimeSpan.Zero;
        var mark = TimeSpan.Zero;
        var cpuAtMark = TimeSpan.Zero;
        var gcAtMark = default(GcMark);
        var threadsAtMark = default(ThreadCpu);
        var lastProgress = Stopwatch.StartNew();
        while (seen < count)
        {
            var r = consumer.Consume(TimeSpan.FromSeconds(1));
            if (r is { IsPartitionEOF: false })
            {
                if (seen == 0)
                {
                    first = watch.Elapsed;
                }

                if (seen++ == warmup)
                {
                    mark = watch.Elapsed;
                    cpuAtMark = ProcessCpu();
                    gcAtMark = GcMark.Now();
                    threadsAtMark = ThreadCpu.Now();
                }

                // Touch the payload as the pipeline must, so neither side is credited for not reading it.
                bytes += (r.Message.Key?.Length ?? 0) + (r.Message.Value?.Length ?? 0);
                consumer.StoreOffset(r);
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"raw consume stalled at {seen} of {count} records; assignment: {string.Join(",", consumer.Assignment)}");
            }
        }

        var steady = watch.Elapsed - mark;
        var cpu = ProcessCpu() - cpuAtMark;
        Console.WriteLine("  " + GcMark.Now().Since(gcAtMark, count - warmup));
        Console.WriteLine("  " + ThreadCpu.Now().Since(threadsAtMark!, count - warmup));
        consumer.Close();
        return bytes > 0 ? (first, steady, cpu, count - warmup) : throw new InvalidOperationException("every record was empty");
    }

    /// <summary>The whole pipeline; steady = the <paramref name="warmup"/>th change read to the last event acknowledged by the sink.</summary>
    private static async Task<(TimeSpan First, TimeSpan Steady, TimeSpan Cpu, int Measured)> PipelineAsync(string servers, List<string> topics, string output, int count, int warmup, long events, IChangeTranslator translator, Dictionary<string, string> consumerSettings, Dictionary<string, string> sinkProducer)
    {
        var deadLetters = new JsonLinesDeadLetterQueue(Path.Combine(Path.GetTempPath(), "bench-dead-letters.jsonl"));
        var sourceConfig = new ConsumerConfig { BootstrapServers = servers, GroupId = "bench-pipeline-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest };
        KafkaClientSettings.Apply(sourceConfig, consumerSettings);
        var source = new KafkaChangeSource(
            sourceConfig,
            topics,
            new JsonRecordDecoder(),
            deadLetters,
            bufferCapacity: Environment.GetEnvironmentVariable("KAFKA_BENCH_SOURCE_BUFFER") is { Length: > 0 } sb ? int.Parse(sb, CultureInfo.InvariantCulture) : KafkaChangeSource.DefaultBufferCapacity);
        var sinkOptions = new KafkaSinkOptions { BootstrapServers = servers, Topic = output, Producer = sinkProducer };
        var sink = new TimedSink(Environment.GetEnvironmentVariable("KAFKA_BENCH_SINK") == "null" ? new NullSink() : new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(sinkOptions, "bench", "domain"), new TopicTemplate(output, "bench")));
        var runner = new PipelineRunner(source, translator, [new SinkBinding(sink, SinkPolicy.Default)], deadLetters, RunnerOptions());
        using var cts = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        TimeSpan? first = null;
        TimeSpan? mark = null;
        var readAtMark = 0L;
        var cpuAtMark = TimeSpan.Zero;
        var gcAtMark = default(GcMark);
        var threadsAtMark = default(ThreadCpu);
        using var alloc = Environment.GetEnvironmentVariable("KAFKA_BENCH_ALLOC") == "1" ? new AllocProfile { On = true } : null;
        var task = runner.RunAsync(cts.Token);
        var last = 0L;
        var lastProgress = Stopwatch.StartNew();
        // Done when every record was read and every event it makes was acknowledged by the sink.
        while (runner.ChangesRead < count || runner.EventsDelivered < events)
        {
            await Task.Delay(5).ConfigureAwait(false);
            if (first is null && runner.ChangesRead > 0)
            {
                first = watch.Elapsed;
            }

            // Polled every 5 ms: the records timed are counted from where reading actually stood.
            if (mark is null && runner.ChangesRead > warmup)
            {
                mark = watch.Elapsed;
                readAtMark = runner.ChangesRead;
                cpuAtMark = ProcessCpu();
                gcAtMark = GcMark.Now();
                threadsAtMark = ThreadCpu.Now();
            }

            if (task.IsCompleted)
            {
                await task.ConfigureAwait(false);
                throw new InvalidOperationException($"the pipeline stopped after {runner.ChangesRead} of {count} records, {runner.EventsDelivered} of {events} events");
            }

            if (runner.ChangesRead + runner.EventsDelivered != last)
            {
                last = runner.ChangesRead + runner.EventsDelivered;
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"pipeline stalled at {runner.ChangesRead} of {count} records read, {runner.EventsDelivered} of {events} events delivered");
            }
        }

        var steady = watch.Elapsed - mark!.Value;
        var cpu = ProcessCpu() - cpuAtMark;
        var measured = (int)(count - readAtMark);
        Console.WriteLine("  " + GcMark.Now().Since(gcAtMark, measured));
        Console.WriteLine("  " + ThreadCpu.Now().Since(threadsAtMark!, measured));
        if (alloc is not null)
        {
            alloc.On = false;
            foreach (var (type, bytes) in alloc.Top(12))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / (double)count,8:0} B/record  {type}"));
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  sink ({string.Join(", ", sinkProducer.Select(kv => kv.Key + "=" + kv.Value))}): {sink.Batches} batches (avg {events / (double)sink.Batches:0} events), {sink.Busy.TotalSeconds:0.00} s inside the sink (produce + delivery reports); source paused {source.Pauses} times"));
        await cts.CancelAsync().ConfigureAwait(false);
        await task.ConfigureAwait(false);
        await sink.DisposeAsync().ConfigureAwait(false);
        await source.DisposeAsync().ConfigureAwait(false);
        return (first!.Value, steady, cpu, measured);
    }

    /// <summary>KAFKA_BENCH_BATCH / KAFKA_BENCH_BUFFER override the runner's batch size and buffer (experiments).</summary>
    private static PipelineRunnerOptions RunnerOptions()
    {
        var options = new PipelineRunnerOptions();
        if (Environment.GetEnvironmentVariable("KAFKA_BENCH_BATCH") is { Length: > 0 } batch)
        {
            options = options with { MaxBatchSize = int.Parse(batch, CultureInfo.InvariantCulture) };
        }

        if (Environment.GetEnvironmentVariable("KAFKA_BENCH_BUFFER") is { Length: > 0 } buffer)
        {
            options = options with { BufferCapacity = int.Parse(buffer, CultureInfo.InvariantCulture) };
        }

        return options;
    }

    private static List<(byte[] Key, byte[] Value)> Samples() =>
        File.ReadLines(Path.Combine(Repository.Root(), "samples", "legacy-orders", "debezium", "changes.jsonl"))
            .Select((line, i) => DebeziumJsonDecoder.ReadLine(Encoding.UTF8.GetBytes(line), i + 1))
            .Where(r => r.Topic == "legacy.public.tb_ord_mst" && r.Value is not null && r.Key is not null)
            .Select(r => (r.Key!.Value.ToArray(), r.Value!.Value.ToArray()))
            .ToList();

    /// <summary>How many domain events the translator makes of the <paramref name="count"/> records produced (sample i % samples).</summary>
    private static long ExpectedEvents(List<(byte[] Key, byte[] Value)> samples, IChangeTranslator translator, int count)
    {
        var decoder = new DebeziumJsonDecoder();
        var perSample = samples.Select((s, i) =>
        {
            var output = new List<DomainEvent>();
            translator.Translate(decoder.Decode(new DebeziumRecord { Topic = "legacy.public.tb_ord_mst", Partition = 0, Offset = i, Key = s.Key, Value = s.Value }), output);
            return output.Count;
        }).ToArray();
        var events = 0L;
        for (var i = 0; i < count; i++)
        {
            events += perSample[i % perSample.Length];
        }

        return events > 0 ? events : throw new InvalidOperationException("the translator makes no event of the sample records");
    }

    private sealed class NullSink : ISink
    {
        public string Name => "null";

        public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken) => default;

        public ValueTask DisposeAsync() => default;
    }

    private sealed class OneEventPerChange : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) =>
            output.Add(new DomainEvent
            {
                Id = EventIds.For(change.Position, "bench"),
                Type = "OrderChanged",
                Source = "/cdc/bench/public.tb_ord_mst",
                Subject = change.Key is { Count: > 0 } key ? Convert.ToString(key[0], CultureInfo.InvariantCulture) : null,
                Data = change.After,
                Position = change.Position,
                Change = change,
            });
    }
}
