using System.Diagnostics;
using System.Globalization;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using Confluent.Kafka;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// Load harness (not BenchmarkDotNet: the unit is a whole pipeline run): over librdkafka's mock cluster
/// (or CDC_TEST_KAFKA), N recorded Debezium JSON records (with schemas) are first consumed raw by a
/// consumer group, then run through the pipeline — Kafka source (decode) → translator (one domain
/// event each) → Kafka sink (CloudEvents JSON, idempotent, acks=all) with acknowledged offsets.
/// Both are timed from their first record to their last, so the consumer-group join (about 3 s on the
/// mock cluster) counts for neither; reports records/s for both and their ratio (goal ≥ 0.5).
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
        var sinkProducer = new Dictionary<string, string> { ["linger.ms"] = "5" };
        foreach (var setting in args.Skip(1))
        {
            var eq = setting.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"'{setting}' is not a librdkafka producer setting key=value");
            }

            sinkProducer[setting[..eq]] = setting[(eq + 1)..];
        }

        IProducer<byte[]?, byte[]?>? mock = null;
        var servers = Environment.GetEnvironmentVariable("CDC_TEST_KAFKA");
        if (string.IsNullOrEmpty(servers))
        {
            var config = new ProducerConfig();
            config.Set("test.mock.num.brokers", "3");
            mock = new ProducerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
            using var admin = new DependentAdminClientBuilder(mock.Handle).Build();
            servers = string.Join(",", admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Select(b => $"{b.Host}:{b.Port}"));
        }

        var run = Guid.NewGuid().ToString("N")[..8];
        var samples = Samples();
        var average = samples.Average(s => s.Key.Length + s.Value.Length);
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
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count} Debezium JSON records ({samples.Count} distinct tb_ord_mst changes, {average:0} bytes avg key+value) produced in {produceWatch.Elapsed.TotalSeconds:0.0} s to {topics.Count} topic(s), {(mock is null ? servers : "mock cluster, 3 brokers")}; {onTopics}"));

        // KAFKA_BENCH_SKIP_RAW=1 leaves the raw consume out, to profile the pipeline on its own.
        var skipRaw = Environment.GetEnvironmentVariable("KAFKA_BENCH_SKIP_RAW") == "1";
        var raw = skipRaw ? default : RawConsume(servers, topics, count);
        if (!skipRaw)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"raw consume:                      {raw.Steady.TotalSeconds,7:0.00} s  {count / raw.Steady.TotalSeconds,10:N0} records/s, {raw.Cpu.TotalMicroseconds / count,5:0} µs CPU/record (first record {raw.First.TotalSeconds:0.00} s after subscribe)"));
        }

        var pipeline = await PipelineAsync(servers, topics, $"bench.domain.{run}", count, sinkProducer).ConfigureAwait(false);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"consume→decode→translate→produce: {pipeline.Steady.TotalSeconds,7:0.00} s  {count / pipeline.Steady.TotalSeconds,10:N0} events/s,  {pipeline.Cpu.TotalMicroseconds / count,5:0} µs CPU/event (first record {pipeline.First.TotalSeconds:0.00} s after start)"));
        if (!skipRaw)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio pipeline/raw: {raw.Steady.TotalSeconds / pipeline.Steady.TotalSeconds:0.00} (goal ≥ 0.5); by CPU per record (whole process, mock broker included, less sensitive to other load): {raw.Cpu / pipeline.Cpu:0.00}"));
        }

        mock?.Dispose();
        return 0;
    }

    /// <summary>CPU of the whole process — the in-process mock broker's thread included.</summary>
    private static TimeSpan ProcessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>Collections per generation and bytes allocated so far (managed heap only: librdkafka's own buffers are native).</summary>
    private readonly record struct GcMark(int Gen0, int Gen1, int Gen2, long Allocated)
    {
        public static GcMark Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalAllocatedBytes());

        public string Since(GcMark start, int records) => string.Create(CultureInfo.InvariantCulture,
            $"GC: {Gen0 - start.Gen0} gen0, {Gen1 - start.Gen1} gen1, {Gen2 - start.Gen2} gen2 collections; {(Allocated - start.Allocated) / (double)records / 1024:0.0} KB allocated per record");
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
    /// A consumer group reading everything, storing each offset (as the pipeline does). Steady = first
    /// record to last, so the group join (seconds on the mock cluster) counts for neither side.
    /// </summary>
    private static (TimeSpan First, TimeSpan Steady, TimeSpan Cpu) RawConsume(string servers, List<string> topics, int count)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = servers,
            GroupId = "bench-raw-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoOffsetStore = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topics);
        var seen = 0;
        var bytes = 0L;
        var watch = Stopwatch.StartNew();
        var first = TimeSpan.Zero;
        var cpuAtFirst = TimeSpan.Zero;
        var gcAtFirst = default(GcMark);
        var lastProgress = Stopwatch.StartNew();
        while (seen < count)
        {
            var r = consumer.Consume(TimeSpan.FromSeconds(1));
            if (r is { IsPartitionEOF: false })
            {
                if (seen++ == 0)
                {
                    first = watch.Elapsed;
                    cpuAtFirst = ProcessCpu();
                    gcAtFirst = GcMark.Now();
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

        var steady = watch.Elapsed - first;
        var cpu = ProcessCpu() - cpuAtFirst;
        Console.WriteLine("  " + GcMark.Now().Since(gcAtFirst, count));
        consumer.Close();
        return bytes > 0 ? (first, steady, cpu) : throw new InvalidOperationException("every record was empty");
    }

    /// <summary>The whole pipeline; steady = first change read to last event acknowledged by the sink.</summary>
    private static async Task<(TimeSpan First, TimeSpan Steady, TimeSpan Cpu)> PipelineAsync(string servers, List<string> topics, string output, int count, Dictionary<string, string> sinkProducer)
    {
        var deadLetters = new JsonLinesDeadLetterQueue(Path.Combine(Path.GetTempPath(), "bench-dead-letters.jsonl"));
        var source = new KafkaChangeSource(
            new ConsumerConfig { BootstrapServers = servers, GroupId = "bench-pipeline-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest },
            topics,
            new JsonRecordDecoder(),
            deadLetters);
        var sinkOptions = new KafkaSinkOptions { BootstrapServers = servers, Topic = output, Producer = sinkProducer };
        var sink = new TimedSink(new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(sinkOptions, "bench", "domain"), new TopicTemplate(output, "bench")));
        var runner = new PipelineRunner(source, new OneEventPerChange(), [new SinkBinding(sink, SinkPolicy.Default)], deadLetters);
        using var cts = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        TimeSpan? first = null;
        var cpuAtFirst = TimeSpan.Zero;
        var gcAtFirst = default(GcMark);
        using var alloc = Environment.GetEnvironmentVariable("KAFKA_BENCH_ALLOC") == "1" ? new AllocProfile { On = true } : null;
        var task = runner.RunAsync(cts.Token);
        var last = 0L;
        var lastProgress = Stopwatch.StartNew();
        while (runner.EventsDelivered < count)
        {
            await Task.Delay(5).ConfigureAwait(false);
            if (first is null && runner.ChangesRead > 0)
            {
                first = watch.Elapsed;
                cpuAtFirst = ProcessCpu();
                gcAtFirst = GcMark.Now();
            }

            if (task.IsCompleted)
            {
                await task.ConfigureAwait(false);
                throw new InvalidOperationException($"the pipeline stopped after {runner.EventsDelivered} of {count} events");
            }

            if (runner.EventsDelivered != last)
            {
                last = runner.EventsDelivered;
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"pipeline stalled at {last} of {count} events ({runner.ChangesRead} changes read)");
            }
        }

        var steady = watch.Elapsed - first!.Value;
        var cpu = ProcessCpu() - cpuAtFirst;
        Console.WriteLine("  " + GcMark.Now().Since(gcAtFirst, count));
        if (alloc is not null)
        {
            alloc.On = false;
            foreach (var (type, bytes) in alloc.Top(12))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / (double)count,8:0} B/event  {type}"));
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  sink ({string.Join(", ", sinkProducer.Select(kv => kv.Key + "=" + kv.Value))}): {sink.Batches} batches (avg {count / (double)sink.Batches:0} events), {sink.Busy.TotalSeconds:0.00} s inside the sink (produce + delivery reports); source paused {source.Pauses} times"));
        await cts.CancelAsync().ConfigureAwait(false);
        await task.ConfigureAwait(false);
        await sink.DisposeAsync().ConfigureAwait(false);
        await source.DisposeAsync().ConfigureAwait(false);
        return (first.Value, steady, cpu);
    }

    private static List<(byte[] Key, byte[] Value)> Samples()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var file = Path.Combine(dir.FullName, "samples", "legacy-orders", "debezium", "changes.jsonl");
            if (File.Exists(file))
            {
                return File.ReadLines(file)
                    .Select((line, i) => DebeziumJsonDecoder.ReadLine(Encoding.UTF8.GetBytes(line), i + 1))
                    .Where(r => r.Topic == "legacy.public.tb_ord_mst" && r.Value is not null && r.Key is not null)
                    .Select(r => (r.Key!.Value.ToArray(), r.Value!.Value.ToArray()))
                    .ToList();
            }
        }

        throw new FileNotFoundException("samples/legacy-orders/debezium/changes.jsonl not found above " + AppContext.BaseDirectory);
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
