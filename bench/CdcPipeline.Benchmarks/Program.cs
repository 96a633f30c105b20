using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "kafka-throughput")
{
    return await CdcPipeline.Benchmarks.Kafka.KafkaThroughput.RunAsync(args).ConfigureAwait(false);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
