using System.Globalization;
using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.ExactlyOnce;
using CdcPipeline.Kafka.Sink;
using CdcPipeline.Kafka.Source;
using Confluent.Kafka;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class ExactlyOnceTests(KafkaFixture kafka)
{
    private sealed class CrashException() : Exception("simulated crash between produce and commit");

    [Fact]
    public async Task After_a_crash_between_produce_and_commit_a_read_committed_reader_sees_each_domain_event_once()
    {
        var input = kafka.Unique("eos-in");
        var output = kafka.Unique("eos-out");
        var group = kafka.Unique("eos-group");
        const int count = 40;
        for (var i = 0; i < count; i++)
        {
            await kafka.ProduceAsync(input, "k" + (i % 5).ToString(CultureInfo.InvariantCulture), i.ToString(CultureInfo.InvariantCulture));
        }

        var consumer = new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 6000, HeartbeatIntervalMs = 500 };
        var sinkOptions = new KafkaSinkOptions { BootstrapServers = kafka.BootstrapServers, Topic = output };
        var translator = new TestTranslator();

        // First life: everything is produced inside a transaction, then the process dies before the commit.
        var coordinator = new KafkaTransactionCoordinator();
        coordinator.DeclareExactlyOnce(kafka.BootstrapServers);
        var source = new KafkaChangeSource(consumer, [input], new TestRecordDecoder(), new RecordingDeadLetters(), exactlyOnceCoordinator: coordinator);
        var sink = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(sinkOptions, "eos", "domain"), new TopicTemplate(output, "eos"), coordinator: coordinator, transactionalId: "eos-" + group)
        {
            BeforeCommit = () => throw new CrashException(),
        };
        var events = new List<DomainEvent>();
        await foreach (var change in source.ReadAsync(TestContext.Current.CancellationToken))
        {
            translator.Translate(change, events);
            if (events.Count == count)
            {
                break;
            }
        }

        await Assert.ThrowsAsync<CrashException>(() => sink.DeliverAsync(events, TestContext.Current.CancellationToken).AsTask());
        Assert.True(sink.IsTransactional);
        sink.Abandon();
        await source.CrashAsync();

        // The aborted attempt did reach the log: a read_uncommitted reader sees it.
        Assert.Equal(count, kafka.ReadAll(output, count, IsolationLevel.ReadUncommitted).Count);

        // Second life: the same transactional.id fences the dead producer; the runner redoes the work.
        var coordinator2 = new KafkaTransactionCoordinator();
        coordinator2.DeclareExactlyOnce(kafka.BootstrapServers);
        await using var source2 = new KafkaChangeSource(consumer, [input], new TestRecordDecoder(), new RecordingDeadLetters(), exactlyOnceCoordinator: coordinator2);
        var sink2 = new KafkaSink("domain", KafkaSinkFactory.BuildProducerConfig(sinkOptions, "eos", "domain"), new TopicTemplate(output, "eos"), coordinator: coordinator2, transactionalId: "eos-" + group);
        await using (sink2)
        {
            var runner = new PipelineRunner(source2, translator, [new SinkBinding(sink2, SinkPolicy.Default)], new RecordingDeadLetters(), new PipelineRunnerOptions { MaxBatchSize = 7 });
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            var run = runner.RunAsync(cts.Token);
            await KafkaChangeSourceTests.WaitForAsync(() => runner.EventsDelivered >= count, TimeSpan.FromSeconds(60));
            await cts.CancelAsync();
            await run;
        }

        // Every event id is in the log twice — once from the aborted first life, once committed.
        var everything = kafka.ReadAll(output, 2 * count, IsolationLevel.ReadUncommitted, settle: TimeSpan.FromSeconds(1));
        Assert.Equal(2 * count, everything.Count);
        Assert.All(everything.GroupBy(r => Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes("ce_id"))), g => Assert.Equal(2, g.Count()));

        var committed = kafka.ReadAll(output, count, IsolationLevel.ReadCommitted, settle: TimeSpan.FromSeconds(2));
        if (kafka.IsMock && committed.Count == 2 * count)
        {
            Assert.Skip("librdkafka's mock cluster does not filter aborted transactions for read_committed readers (its Fetch responses carry no aborted-transaction list). "
                + "Verified here: the crashed transaction's offsets were not committed (the restarted pipeline re-read every record), and it re-produced every event exactly once more, in transactions. "
                + "Set CDC_TEST_KAFKA to a real broker to check the read_committed view.");
        }

        var ids = committed.Select(r => Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes("ce_id"))).ToList();
        Assert.Equal(count, ids.Count);
        Assert.Equal(events.Select(e => e.Id).Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
    }
}
