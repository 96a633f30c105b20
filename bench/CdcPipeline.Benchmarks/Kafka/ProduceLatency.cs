using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// How long librdkafka's mock cluster takes to acknowledge a batch the size the Kafka sink sends, with
/// nothing else running: 200 messages with the sink's producer settings (idempotent, acks=all, linger 5 ms,
/// status-only reports), timed from the first produce call to the last delivery report, 30 rounds.
/// The yardstick for the sink's time per batch inside the pipeline (bench/README.md, "Kafka").
/// Run: dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- produce-latency [producer key=value …]
/// </summary>
internal static class ProduceLatency
{
    public static async Task<int> RunAsync(string[] args)
    {
        using var cluster = MockCluster.Start(allowExternal: false);
        // The sink's settings, then the arguments' (they win).
        var config = new ProducerConfig(MockCluster.Settings(args, new ProducerConfig
        {
            BootstrapServers = cluster.Servers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            DeliveryReportFields = "status",
        }.ToDictionary(kv => kv.Key, kv => kv.Value)));

        using var producer = new ProducerBuilder<byte[]?, byte[]>(config).SetLogHandler((_, _) => { }).Build();
        var value = new byte[400];
        const int Batch = 200;
        for (var round = 1; round <= 30; round++)
        {
            var left = Batch;
            var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < Batch; i++)
            {
                var message = new Message<byte[]?, byte[]>
                {
                    Key = BitConverter.GetBytes(i % 7),
                    Value = value,
                    Headers = new Headers { { "ce_id", value[..36] }, { "ce_type", value[..12] } },
                };
                producer.Produce("latency", message, report =>
                {
                    if (report.Error.IsError)
                    {
                        delivered.TrySetException(new KafkaException(report.Error));
                    }
                    else if (Interlocked.Decrement(ref left) == 0)
                    {
                        delivered.TrySetResult();
                    }
                });
            }

            var produced = watch.Elapsed;
            await delivered.Task.ConfigureAwait(false);
            if (round % 5 == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round}: {Batch} messages produced in {produced.TotalMilliseconds:0.0} ms, all acknowledged after {watch.Elapsed.TotalMilliseconds:0.0} ms"));
            }
        }

        return 0;
    }
}
