using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;

namespace CdcPipeline.Tests.Commands;

/// <summary>
/// The line <c>run</c> stops with when the Kafka path's dead-letter topic cannot take a letter (its producer failing): it
/// names deadLetter.topic with its file and line, exit 1 without a stack trace, not the source's settings. The file store's
/// case runs for real in ObservabilityTests, the topic's (refused by the mock cluster) and the Kafka source's own decode
/// letters in KafkaSourceDeadLetterStoreTests; the runner and the source wrap every dead-letter store's failure the same way.
/// </summary>
public sealed class DeadLetterStoreFailureLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-dlqline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_dead_letter_topic_whose_producer_fails_is_named_with_its_line()
    {
        var (path, configuration) = Load("deadLetter: { topic: legacy-dead-letters }");
        var failure = new DeadLetterStoreException("billing-hook", new KafkaException(new Error(ErrorCode.Local_MsgTimedOut, "Local: Message timed out")));

        Assert.Equal(ExpectedFailure.Failed, ExpectedFailure.ExitCode(failure));
        var line = RunCommand.FailureLine(failure, configuration);
        Assert.StartsWith("the dead-letter store could not keep a dead letter of sink 'billing-hook': Local: Message timed out (", line, StringComparison.Ordinal);
        Assert.Contains($"deadLetter.topic ({path}:10)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("bootstrapServers", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "00:02:00")]
    [InlineData("\n  deliveryTimeout: \"00:00:05\"", "00:00:05")]
    public void A_dead_letter_that_timed_out_names_the_time_it_was_given_and_its_setting(string setting, string given)
    {
        var (_, configuration) = Load("deadLetter:\n  topic: legacy-dead-letters" + setting);
        var failure = new DeadLetterStoreException("billing-hook", new KafkaException(new Error(ErrorCode.Local_MsgTimedOut, "Local: Message timed out")));

        var line = RunCommand.FailureLine(failure, configuration);
        Assert.StartsWith(
            $"the dead-letter store could not keep a dead letter of sink 'billing-hook': Local: Message timed out (not acknowledged within deadLetter.deliveryTimeout, {given}); ",
            line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_decode_letter_of_a_kafka_source_names_the_file_the_source_writes_not_the_runners()
    {
        // The Kafka source keeps its decode letters beside deadLetter.path, in ….decode.jsonl: that is the file to make writable.
        var (path, configuration) = Load("deadLetter: { path: out/dead-letters.jsonl }");
        var failure = new DeadLetterStoreException("decode", new IOException("Could not find a part of the path."));

        Assert.Equal(ExpectedFailure.Failed, ExpectedFailure.ExitCode(failure));
        var line = RunCommand.FailureLine(failure, configuration);
        Assert.StartsWith("the dead-letter store could not keep a dead letter of a record the source could not decode: Could not find a part of the path; ", line, StringComparison.Ordinal);
        Assert.Contains($"deadLetter.path ({path}:10)", line, StringComparison.Ordinal);
        Assert.Contains($"its file {Path.Combine(_dir, "out", "dead-letters.decode.jsonl")} must be writable", line, StringComparison.Ordinal);
        Assert.EndsWith("the record was not acknowledged, so it is read again when run starts again", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_decode_letter_names_the_record_its_topic_partition_and_offset()
    {
        // The log record before the stop (event 4006) names the record; a supervisor that keeps only the last line must see it too.
        var (_, configuration) = Load("deadLetter: { topic: legacy-dead-letters }");
        var failure = new DeadLetterStoreException(
            "decode", new KafkaException(new Error(ErrorCode.TopicAuthorizationFailed, "Broker: Topic authorization failed")), SourcePosition.ForKafka("legacy.public.orders", 3, 42));

        var line = RunCommand.FailureLine(failure, configuration);
        Assert.StartsWith(
            "the dead-letter store could not keep a dead letter of the record legacy.public.orders/3@42, which the source could not decode: Broker: Topic authorization failed; ",
            line, StringComparison.Ordinal);
        Assert.EndsWith("the record was not acknowledged, so it is read again when run starts again", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("billing-hook", "sink 'billing-hook' (position shop_slot@24023128:2)")]
    [InlineData("translate", "a change that failed to translate (position shop_slot@24023128:2)")]
    public void A_runner_letter_names_its_change_s_position_as_dlq_list_shows_it(string stage, string whose)
    {
        // The decode letter's line names its record; the runner's own letters (a sink's, a translate letter) named no change,
        // so an operator keeping only the last line could not tell which one was neither kept nor acknowledged.
        var (_, configuration) = Load("deadLetter: { path: out/dead-letters.jsonl }");
        var position = SourcePosition.ForLsn("shop_slot", 24023128, 2);
        var failure = new DeadLetterStoreException(stage, new IOException("No space left on device"), position);

        var line = RunCommand.FailureLine(failure, configuration);
        Assert.StartsWith($"the dead-letter store could not keep a dead letter of {whose}: No space left on device; ", line, StringComparison.Ordinal);
        Assert.Contains(position.ToString(), line, StringComparison.Ordinal);
        Assert.EndsWith("the change was not acknowledged, so it is read again when run starts again", line, StringComparison.Ordinal);
    }

    /// <summary>A Kafka-source pipeline with one sink, <c>billing-hook</c>, and <paramref name="deadLetter"/> from line 10 on, loaded.</summary>
    private (string Path, PipelineConfiguration Configuration) Load(string deadLetter)
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

            """ + deadLetter);
        return (path, PipelineConfiguration.Load(path, _ => null));
    }
}
