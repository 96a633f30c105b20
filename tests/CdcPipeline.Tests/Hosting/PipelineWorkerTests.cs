using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Hosting;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Tests.Hosting;

public class PipelineWorkerTests
{
    [Fact]
    public async Task A_final_commit_that_fails_on_the_way_out_is_a_failure_and_every_sink_is_still_closed()
    {
        // The source ends by itself (a finished snapshot); closing it — where the last acknowledged position is
        // committed — fails. The host (.NET 10) does not turn a BackgroundService's exception into a nonzero exit,
        // so the worker must; and the sinks must still be closed (flushed) after the source's failure.
        var source = new InMemoryChangeSource { DisposeError = new InvalidOperationException("commit failed: the broker is down") };
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var sink = new RecordingSink("file");
        var runner = new PipelineRunner(source, new StatusTranslator(), [new(sink, SinkPolicy.Default)], new RecordingDeadLetterQueue());
        var pipeline = new PipelineInstance(runner, source, [new SinkBinding(sink, SinkPolicy.Default)], new RecordingDeadLetterQueue());
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        using var worker = new PipelineWorker(pipeline, lifetime, NullLogger<PipelineWorker>.Instance, TimeProvider.System);

        await worker.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            await worker.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }
        catch (InvalidOperationException)
        {
            // Before the fix the exception left ExecuteAsync, for the host to log and ignore; the assertions say why that is wrong.
        }

        Assert.Single(sink.Delivered);
        Assert.True(sink.Disposed, "a sink was left unclosed because the source's close failed");
        Assert.NotNull(worker.Failure);
        Assert.Contains("commit failed", worker.Failure.Message, StringComparison.Ordinal);
    }
}
