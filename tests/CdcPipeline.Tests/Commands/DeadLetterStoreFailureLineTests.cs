using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;

namespace CdcPipeline.Tests.Commands;

/// <summary>
/// The line <c>run</c> stops with when the Kafka path's dead-letter topic cannot take a letter (its producer failing): it
/// names deadLetter.topic with its file and line, exit 1 without a stack trace, not the source's settings. The file store's
/// case runs for real in ObservabilityTests; the runner wraps every dead-letter store's failure the same way.
/// </summary>
public sealed class DeadLetterStoreFailureLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlqline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_dead_letter_topic_whose_producer_fails_is_named_with_its_line()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: dlqline
            source:
              kafka:
                bootstrapServers: "127.0.0.1:1"
                topics: [legacy.public.orders]
                format: json
            sinks:
              - name: billing-hook
                console: {}
            deadLetter: { topic: legacy-dead-letters }
            """);
        var configuration = PipelineConfiguration.Load(path, _ => null);
        var failure = new DeadLetterStoreException("billing-hook", new KafkaException(new Error(ErrorCode.Local_MsgTimedOut, "Local: Message timed out")));

        Assert.Equal(ExpectedFailure.Failed, ExpectedFailure.ExitCode(failure));
        var line = RunCommand.FailureLine(failure, configuration);
        Assert.StartsWith("the dead-letter store could not keep a dead letter of sink 'billing-hook': Local: Message timed out; ", line, StringComparison.Ordinal);
        Assert.Contains($"deadLetter.topic ({path}:10)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("bootstrapServers", line, StringComparison.Ordinal);
    }
}
