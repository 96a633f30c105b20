using BenchmarkDotNet.Running;

// Load harnesses (real servers, whole processes) by name; everything else is BenchmarkDotNet.
switch (args.Length > 0 ? args[0] : "")
{
    case "sinks":
        return await CdcPipeline.Benchmarks.Sinks.SinkThroughput.RunAsync(args[1..]);
    case "backlog":
        return await CdcPipeline.Benchmarks.Embedded.BacklogDrain.RunAsync(args[1..]);
    case "produce-latency":
        return await CdcPipeline.Benchmarks.Kafka.ProduceLatency.RunAsync(args[1..]);
    case "kafka-throughput":
        return await CdcPipeline.Benchmarks.Kafka.KafkaThroughput.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
