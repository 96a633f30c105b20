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
/// Reports events/s for both and their ratio (goal ≥ 0.5).
/// Run: dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- kafka-throughput [N]
/// </summary>
internal static class KafkaThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100_000;
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
        var input = $"bench.public.tb_ord_mst.{run}";
        var samples = Samples();
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = servers, LingerMs = 20, EnableIdempotence = true }).SetLogHandler((_, _) => { }).Build())
        {
            for (var i = 0; i < count; i++)
            {
                var (key, value) = samples[i % samples.Count];
                while (true)
                {
                    try
                    {
                        producer.Produce(input, new Message<byte[]?, byte[]?> { Key = key, Value = value });
                        break;
                    }
                    catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(10));
                    }
                }
            }

            producer.Flush(TimeSpan.FromMinutes(2));
        }

        Console.WriteLine($"{count} Debezium JSON records ({samples.Count} distinct tb_ord_mst changes, {samples.Average(s => s.Value.Length):0} bytes avg) on {input}, 4 partitions, {(mock is null ? servers : "mock cluster")}");

        var raw = RawConsume(servers, input, count);
        Console.WriteLine($"raw consume:                  {raw.TotalSeconds,7:0.00} s  {count / raw.TotalSeconds,10:N0} records/s");

        var pipeline = await PipelineAsync(servers, input, $"bench.domain.{run}", count);
        Console.WriteLine($"consume→decode→translate→produce: {pipeline.TotalSeconds,7:0.00} s  {count / pipeline.TotalSeconds,10:N0} events/s");
        Console.WriteLine($"ratio pipeline/raw: {raw.TotalSeconds / pipeline.TotalSeconds:0.00} (goal ≥ 0.5)");
        mock?.Dispose();
        return 0;
    }

    private static TimeSpan RawConsume(string servers, string topic, int count)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = servers,
            GroupId = "bench-raw-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoOffsetStore = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        var seen = 0;
        var watch = Stopwatch.StartNew();
        var lastProgress = Stopwatch.StartNew();
        while (seen < count)
        {
            var r = consumer.Consume(TimeSpan.FromSeconds(1));
            if (r is { IsPartitionEOF: false })
            {
                seen++;
                consumer.StoreOffset(r);
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"raw consume stalled at {seen} of {count} records");
            }
        }

        watch.Stop();
        consumer.Close();
        return watch.Elapsed;
    }

    private static async Task<TimeSpan> PipelineAsync(string servers, string input, string output, int count)
    {
        var source = new KafkaChangeSource(
            new ConsumerConfig { BootstrapServers = servers, GroupId = "bench-pipeline-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest },
            [input],
            new JsonRecordDecoder(),
            new JsonLinesDeadLetterQueue(Path.Combine(Path.GetTempPath(), "bench-dead-letters.jsonl")));
        var sinkOptions = new KafkaSinkOptions { BootstrapServers = servers, Topic = output, Producer = new() { ["linger.ms"] = "5" } };
        var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(sinkOptions, "bench", "domain"), new TopicTemplate(output, "bench"));
        var runner = new PipelineRunner(source, new OneEventPerChange(), [new SinkBinding(sink, SinkPolicy.Default)], new JsonLinesDeadLetterQueue(Path.Combine(Path.GetTempPath(), "bench-dead-letters.jsonl")));
        using var cts = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        var task = runner.RunAsync(cts.Token);
        var last = 0L;
        var lastProgress = Stopwatch.StartNew();
        while (runner.EventsDelivered < count)
        {
            await Task.Delay(10).ConfigureAwait(false);
            if (runner.EventsDelivered != last)
            {
                last = runner.EventsDelivered;
                lastProgress.Restart();
            }
            else if (lastProgress.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"pipeline stalled at {last} of {count} events");
            }
        }

        watch.Stop();
        await cts.CancelAsync().ConfigureAwait(false);
        await task.ConfigureAwait(false);
        await sink.DisposeAsync().ConfigureAwait(false);
        await source.DisposeAsync().ConfigureAwait(false);
        return watch.Elapsed;
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
