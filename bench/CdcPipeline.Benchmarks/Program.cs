using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "sinks")
{
    return await CdcPipeline.Benchmarks.Sinks.SinkThroughput.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "backlog")
{
    return await CdcPipeline.Benchmarks.Embedded.BacklogDrain.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
