using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Avro;
using Avro.Generic;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.SchemaRegistry;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Tests.Support;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class KafkaChangeSourceTests(KafkaFixture kafka)
{
    private ConsumerConfig Consumer(string group) => new()
    {
        BootstrapServers = kafka.BootstrapServers,
        GroupId = group,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        SessionTimeoutMs = 6000,
        HeartbeatIntervalMs = 500,
        AutoCommitIntervalMs = 200,
    };

    [Fact]
    public async Task Json_records_with_schemas_decode_through_Kafka_exactly_as_the_recorded_golden_output()
    {
        var prefix = kafka.Unique("legacy");
        var records = KafkaRecords.Sample(prefix);
        foreach (var r in records)
        {
            await kafka.ProduceAsync(r.Topic!, r.Key?.ToArray(), r.Value?.ToArray(), partition: 0);
        }

        var topics = records.Select(r => r.Topic!).Distinct().ToList();
        var deadLetters = new RecordingDeadLetterQueue();
        await using var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), topics, new JsonRecordDecoder(), deadLetters);
        var changes = await ReadAsync(source, records.Count, ack: true);

        Assert.Empty(deadLetters.Letters);
        var expected = KafkaRecords.ExpectedDecode();
        foreach (var topic in topics)
        {
            var want = records.Select((r, i) => (r, i)).Where(x => x.r.Topic == topic).Select(x => expected[x.i]).ToList();
            var got = changes.Where(c => c.Position.Stream == topic + "/0").OrderBy(c => c.Position.Major).Select(CanonicalJson.Serialize).ToList();
            Assert.Equal(want, got);
        }

        Assert.Contains(changes, c => c.Kind == ChangeKind.Heartbeat);
        Assert.Contains(changes, c => c.Kind == ChangeKind.Transaction);
        Assert.All(changes.Where(c => c.Kind == ChangeKind.Change), c => Assert.NotNull(c.Raw));
    }

    [Fact]
    public async Task A_table_list_in_capitals_reads_the_topic_debezium_writes_for_the_lower_case_table()
    {
        // Debezium captures public.tb_ord_mst for 'PUBLIC.TB_ORD_MST' (it matches the list case-insensitively) and writes
        // {prefix}.public.tb_ord_mst; the derived subscription must reach it through librdkafka's own pattern matching.
        var prefix = kafka.Unique("legacy");
        var records = KafkaRecords.Sample(prefix).Where(r => r.Topic == prefix + ".public.tb_ord_mst").ToList();
        Assert.NotEmpty(records);
        foreach (var r in records)
        {
            await kafka.ProduceAsync(r.Topic!, r.Key?.ToArray(), r.Value?.ToArray(), partition: 0);
        }

        var debezium = new DebeziumConnectorOptions { TopicPrefix = prefix, Tables = ["PUBLIC.TB_ORD_MST"], HeartbeatIntervalMs = 0, ProvideTransactionMetadata = false };
        var deadLetters = new RecordingDeadLetterQueue();
        await using var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), debezium.Topics(), new JsonRecordDecoder(), deadLetters);
        var changes = await ReadAsync(source, records.Count, ack: true);

        Assert.Empty(deadLetters.Letters);
        Assert.Equal(records.Count, changes.Count);
        Assert.All(changes, c => Assert.Equal(prefix + ".public.tb_ord_mst/0", c.Position.Stream));
    }

    [Fact]
    public async Task Json_records_without_schemas_decode_with_the_same_envelope()
    {
        var prefix = kafka.Unique("legacy");
        var records = KafkaRecords.Sample(prefix).Where(r => r.Topic!.Contains(".public.", StringComparison.Ordinal)).ToList();
        foreach (var r in records)
        {
            await kafka.ProduceAsync(r.Topic!, KafkaRecords.WithoutSchema(r.Key), KafkaRecords.WithoutSchema(r.Value), partition: 0);
        }

        var deadLetters = new RecordingDeadLetterQueue();
        await using var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), records.Select(r => r.Topic!).Distinct().ToList(), new JsonRecordDecoder(), deadLetters);
        var changes = await ReadAsync(source, records.Count, ack: true);

        Assert.Empty(deadLetters.Letters);
        var expected = KafkaRecords.ExpectedDecode();
        var all = KafkaRecords.Sample(prefix);
        foreach (var c in changes)
        {
            var index = all.FindIndex(r => r.Topic + "/0" == c.Position.Stream && r.Offset == c.Position.Major);
            var want = System.Text.Json.JsonDocument.Parse(expected[index]).RootElement;
            var got = System.Text.Json.JsonDocument.Parse(CanonicalJson.Serialize(c)).RootElement;
            Assert.Equal(want.GetProperty("kind").GetString(), got.GetProperty("kind").GetString());
            if (want.TryGetProperty("op", out var op))
            {
                Assert.Equal(op.GetString(), got.GetProperty("op").GetString());
                Assert.Equal(want.GetProperty("table").GetString(), got.GetProperty("table").GetString());
            }
        }
    }

    [Fact]
    public async Task A_record_that_cannot_be_decoded_goes_to_the_dead_letter_topic_with_its_bytes_and_the_source_goes_on()
    {
        var prefix = kafka.Unique("legacy");
        var good = KafkaRecords.Sample(prefix).Where(r => r.Topic!.EndsWith(".tb_ord_mst", StringComparison.Ordinal)).Take(2).ToList();
        var topic = good[0].Topic!;
        var poison = "{\"before\": nope"u8.ToArray();
        await kafka.ProduceAsync(topic, good[0].Key?.ToArray(), good[0].Value?.ToArray(), partition: 0);
        await kafka.ProduceAsync(topic, Encoding.UTF8.GetBytes("poison-key"), poison, partition: 0);
        await kafka.ProduceAsync(topic, good[1].Key?.ToArray(), good[1].Value?.ToArray(), partition: 0);

        var dlqTopic = kafka.Unique("dlq");
        var dlq = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlqTopic);
        await using (dlq)
        {
            await using var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), [topic], new JsonRecordDecoder(), dlq);
            var changes = await ReadAsync(source, 3, ack: true);
            Assert.Equal([ChangeKind.Change, ChangeKind.Heartbeat, ChangeKind.Change], changes.Select(c => c.Kind));
            Assert.Equal([0L, 1L, 2L], changes.Select(c => c.Position.Major));
        }

        var letters = kafka.ReadAll(dlqTopic, 1);
        var letter = Assert.Single(letters);
        Assert.Equal(poison, letter.Message.Value);
        Assert.Equal("poison-key", Encoding.UTF8.GetString(letter.Message.Key!));
        string Header(string name) => Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(name));
        Assert.Equal("decode", Header(DeadLetterHeaders.Stage));
        Assert.Equal(topic, Header(DeadLetterHeaders.OriginalTopic));
        Assert.Equal("0", Header(DeadLetterHeaders.OriginalPartition));
        Assert.Equal("1", Header(DeadLetterHeaders.OriginalOffset));
        Assert.Equal($"{topic}/0@1:0", Header(DeadLetterHeaders.Position));
        Assert.Contains("malformed JSON", Header(DeadLetterHeaders.Error), StringComparison.Ordinal);
        Assert.Equal(typeof(Core.Debezium.DebeziumDecodeException).FullName, Header(DeadLetterHeaders.ErrorType));
    }

    [Fact]
    public async Task An_avro_record_waits_for_an_unreachable_schema_registry_instead_of_being_dead_lettered()
    {
        var topic = kafka.Unique("legacy") + ".public.t";
        var registry = new InMemorySchemaRegistryClient();
        var envelope = (RecordSchema)Avro.Schema.Parse("""
            {"type":"record","name":"Envelope","namespace":"srv.public.t","fields":[
              {"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"}],"connect.name":"srv.public.t.Value"}],"default":null},
              {"name":"after","type":["null","Value"],"default":null},
              {"name":"op","type":"string"}],
             "connect.name":"srv.public.t.Envelope"}
            """);
        var row = new GenericRecord((RecordSchema)((UnionSchema)envelope["after"].Schema).Schemas[1]);
        row.Add("id", 7);
        var value = new GenericRecord(envelope);
        value.Add("before", null);
        value.Add("after", row);
        value.Add("op", "c");
        var bytes = await new AvroSerializer<GenericRecord>(registry).SerializeAsync(value, new SerializationContext(MessageComponentType.Value, topic));
        await kafka.ProduceAsync(topic, (byte[]?)null, bytes, partition: 0);

        // The registry is down for the first look-ups (a restart, a network blip): nothing about the record is wrong.
        var lookups = 0;
        var flaky = FaultySchemaRegistry.Wrap(registry, (method, args) =>
            method.Name == nameof(ISchemaRegistryClient.GetSchemaAsync) && args is [int, _] && Interlocked.Increment(ref lookups) <= 2
                ? new HttpRequestException("[http://schema-registry:8081/] HttpRequestException: Connection refused (schema-registry:8081)")
                : null);
        var deadLetters = new RecordingDeadLetterQueue();
        await using var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), [topic], new AvroRecordDecoder(flaky), deadLetters);
        var change = Assert.Single(await ReadAsync(source, 1, ack: true));

        Assert.Empty(deadLetters.Letters);
        Assert.Equal(ChangeKind.Change, change.Kind);
        Assert.Equal(7L, change.After!["id"]);
        Assert.Equal(3, Volatile.Read(ref lookups));
    }

    [Fact]
    public async Task Records_not_acknowledged_before_a_stop_are_redelivered_and_nothing_acknowledged_is()
    {
        var topic = await NumberedTopicAsync("redeliver", 20);

        var group = kafka.Unique("g");
        await using (var first = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue()))
        {
            var read = await ReadAsync(first, 20, ack: false);
            Assert.Equal(20, read.Count);
            foreach (var change in read.Take(10))
            {
                await first.AcknowledgeAsync(change.Position, TestContext.Current.CancellationToken);
            }
        }

        await using var second = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        var again = await ReadAsync(second, 10, ack: true);
        Assert.Equal(Enumerable.Range(10, 10).Select(i => (long)i), again.Select(c => c.Position.Major));
    }

    [Fact]
    public async Task A_committed_offset_no_longer_in_the_log_is_reset_with_a_warning_naming_the_partition()
    {
        // The group committed offset 50, but the partition holds only 0..9 now (the topic was re-created, or retention
        // deleted what the offset pointed into): librdkafka resets it by autoOffsetReset. Reading again from the start
        // (or skipping to the end with latest) must not happen without a word in the source's log.
        var topic = await NumberedTopicAsync("out-of-range", 10);
        var group = kafka.Unique("g");
        using (var committer = new ConsumerBuilder<byte[], byte[]>(Consumer(group)).SetLogHandler((_, _) => { }).Build())
        {
            committer.Commit([new TopicPartitionOffset(topic, 0, 50)]);
        }

        var logger = new RecordingLogger();
        await using var source = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: logger);
        var changes = await ReadAsync(source, 10, ack: true);

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), changes.Select(c => c.Position.Major));
        var warning = Assert.Single(logger.Lines, l => l.Level >= LogLevel.Warning && l.Message.Contains("offset reset", StringComparison.Ordinal));
        Assert.Contains($"{topic} [0]", warning.Message, StringComparison.Ordinal);
        Assert.Contains("offset 50", warning.Message, StringComparison.Ordinal);
        Assert.Contains("autoOffsetReset", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_auto_offset_reset_error_a_committed_offset_out_of_range_stops_the_source_naming_the_partition()
    {
        // autoOffsetReset: error asks for a stop rather than a skip or a re-read. librdkafka then stops fetching the
        // partition and reports it once: taken for a passing client error, the partition would stall for ever unseen.
        var topic = await NumberedTopicAsync("out-of-range-error", 10);
        var group = kafka.Unique("g");
        using (var committer = new ConsumerBuilder<byte[], byte[]>(Consumer(group)).SetLogHandler((_, _) => { }).Build())
        {
            // The other (empty) partitions have a valid committed offset: without one they too would stop the source.
            committer.Commit([new TopicPartitionOffset(topic, 0, 50), .. Enumerable.Range(1, 3).Select(p => new TopicPartitionOffset(topic, p, 0))]);
        }

        var consumer = Consumer(group);
        consumer.AutoOffsetReset = AutoOffsetReset.Error;
        await using var source = new KafkaChangeSource(consumer, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        var error = await Assert.ThrowsAsync<KafkaException>(async () =>
        {
            await foreach (var change in source.ReadAsync(cts.Token))
            {
                Assert.Fail($"nothing is readable, yet {change.Position} was handed out");
            }
        });

        TestContext.Current.TestOutputHelper?.WriteLine(error.Message);
        Assert.Equal(ErrorCode.Local_AutoOffsetReset, error.Error.Code);
        Assert.Contains($"{topic}/0", error.Message, StringComparison.Ordinal);
        Assert.Contains("autoOffsetReset", error.Message, StringComparison.Ordinal);
        Assert.Contains("replay", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_auto_offset_reset_latest_a_partition_without_a_committed_offset_is_logged_as_starting_at_the_end()
    {
        // A new group with autoOffsetReset latest starts after the ten records already there and never reads them;
        // librdkafka says so only in its debug log, so an operator would not learn why the history is missing.
        var topic = await NumberedTopicAsync("latest", 10);
        var group = kafka.Unique("g");
        var consumer = Consumer(group);
        consumer.AutoOffsetReset = AutoOffsetReset.Latest;
        var logger = new RecordingLogger();
        await using var source = new KafkaChangeSource(consumer, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: logger);
        bool StartsAtEnd((LogLevel Level, EventId Id, string Message) l) =>
            l.Level >= LogLevel.Warning && l.Message.Contains("no committed offset", StringComparison.Ordinal) && l.Message.Contains($"{topic}/0", StringComparison.Ordinal);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var change in source.ReadAsync(cts.Token))
                {
                    Assert.Fail($"the group starts at the end, yet {change.Position} was read");
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
            }
        }, TestContext.Current.CancellationToken);
        while (!cts.IsCancellationRequested && !logger.Lines.Any(StartsAtEnd))
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        await cts.CancelAsync();
        await reading;
        var line = Assert.Single(logger.Lines, StartsAtEnd);
        Assert.Contains(group, line.Message, StringComparison.Ordinal);
        Assert.Contains("latest", line.Message, StringComparison.Ordinal);
    }

    /// <summary>Keeps every log line, for tests about what the source says.</summary>
    private sealed class RecordingLogger : ILogger
    {
        public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            Lines.Enqueue((logLevel, eventId, message));
            TestContext.Current.TestOutputHelper?.WriteLine($"{logLevel} {eventId.Id}: {message}");
        }
    }

    [Fact]
    public async Task A_final_commit_that_fails_on_close_is_an_error_not_a_log_line()
    {
        // A cluster of its own, to take down: the final commit on close then cannot reach the group coordinator.
        var config = new ProducerConfig { BootstrapServers = "localhost:1" };
        config.Set("test.mock.num.brokers", "1");
        var clusterOwner = new ProducerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        var topic = kafka.Unique("final-commit");
        try
        {
            using (var admin = new DependentAdminClientBuilder(clusterOwner.Handle).Build())
            {
                var broker = admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Single();
                config.BootstrapServers = $"{broker.Host}:{broker.Port}";
            }

            for (var i = 0; i < 3; i++)
            {
                await clusterOwner.ProduceAsync(new TopicPartition(topic, 0), new Message<byte[]?, byte[]?> { Key = "k"u8.ToArray(), Value = Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)) }, TestContext.Current.CancellationToken);
            }

            var consumer = Consumer(kafka.Unique("g"));
            consumer.BootstrapServers = config.BootstrapServers;
            var source = new KafkaChangeSource(consumer, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
            Assert.Equal(3, (await ReadAsync(source, 3, ack: true)).Count);

            clusterOwner.Dispose();
            var error = await Assert.ThrowsAnyAsync<Exception>(async () => await source.DisposeAsync());
            Assert.Contains("final commit", error.Message, StringComparison.Ordinal);
            Assert.Contains($"{topic}/0@3", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            clusterOwner.Dispose();
        }
    }

    [Fact]
    public async Task After_a_crash_before_commit_everything_unacknowledged_is_redelivered_without_loss()
    {
        var topic = await NumberedTopicAsync("crash", 20);

        var group = kafka.Unique("g");
        var first = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        var read = await ReadAsync(first, 20, ack: false);
        foreach (var change in read.Take(10))
        {
            await first.AcknowledgeAsync(change.Position, TestContext.Current.CancellationToken);
        }

        // Dies without committing or leaving the group: the second instance gets the partition after the session times out.
        await first.CrashAsync();

        await using var second = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        var again = await ReadUntilAsync(second, changes => changes.Any(c => c.Position.Major == 19), TimeSpan.FromSeconds(60));
        var offsets = again.Select(c => c.Position.Major).ToList();
        Assert.True(offsets[0] <= 10, $"redelivery starts at {offsets[0]}, after the unacknowledged offset 10: records were lost");
        Assert.Equal(Enumerable.Range((int)offsets[0], 20 - (int)offsets[0]).Select(i => (long)i), offsets);
    }

    [Fact]
    public async Task Two_consumers_in_a_group_rebalance_without_loss_or_reordering()
    {
        var topic = kafka.Unique("rebalance");
        var produced = new List<(int Partition, long Offset)>();
        for (var i = 0; i < 400; i++)
        {
            var r = await kafka.ProduceAsync(topic, "key" + (i % 40).ToString(CultureInfo.InvariantCulture), i.ToString(CultureInfo.InvariantCulture));
            produced.Add((r.Partition.Value, r.Offset.Value));
        }

        Assert.Equal(4, produced.Select(p => p.Partition).Distinct().Count());
        var group = kafka.Unique("g");
        var seen = new ConcurrentDictionary<string, ConcurrentQueue<(int Partition, long Offset)>>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var a = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: new TestLogger("a"));
        var b = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: new TestLogger("b"));
        var runA = Drive("a", a, seen, cts.Token);
        await WaitForAsync(() => seen.GetValueOrDefault("a")?.Count >= 100, TimeSpan.FromSeconds(30));
        var runB = Drive("b", b, seen, cts.Token);
        for (var i = 400; i < 600; i++)
        {
            var r = await kafka.ProduceAsync(topic, "key" + (i % 40).ToString(CultureInfo.InvariantCulture), i.ToString(CultureInfo.InvariantCulture));
            produced.Add((r.Partition.Value, r.Offset.Value));
        }

        var all = () => seen.Values.SelectMany(q => q).ToList();
        await WaitForAsync(() => all().Distinct().Count() >= produced.Count && seen.GetValueOrDefault("b")?.IsEmpty == false, TimeSpan.FromSeconds(60));
        await cts.CancelAsync();
        await Task.WhenAll(runA, runB);
        await a.DisposeAsync();
        await b.DisposeAsync();


        // No loss: every produced record was handed out.
        Assert.Equal(produced.OrderBy(p => p).ToList(), all().Distinct().OrderBy(p => p).ToList());

        // No reordering: per consumer and partition, records arrive in runs of consecutive offsets; only
        // a rebalance (a new assignment) may start a new run, e.g. redelivering what was not yet committed.
        var sources = new Dictionary<string, KafkaChangeSource> { ["a"] = a, ["b"] = b };
        foreach (var (name, queue) in seen)
        {
            foreach (var partition in queue.GroupBy(p => p.Partition))
            {
                var runs = Runs(partition.Select(p => p.Offset).ToList()).ToList();
                TestContext.Current.TestOutputHelper?.WriteLine($"consumer {name} partition {partition.Key}: {string.Join(", ", runs)}");
                Assert.True(runs.Count <= sources[name].Assignments, $"consumer {name} partition {partition.Key} jumped outside a rebalance: {string.Join(", ", runs)}");
            }
        }

        // Both members owned partitions after the rebalance.
        Assert.NotEmpty(seen["b"]);
        TestContext.Current.TestOutputHelper?.WriteLine($"{all().Count - all().Distinct().Count()} redelivered record(s) (the mock cluster rejects commits during a rebalance with REBALANCE_IN_PROGRESS; a real broker accepts the revoke-time commit)");
    }

    /// <summary>A consumer configuration with <c>partition.assignment.strategy</c> passed through, as under <c>source.kafka.consumer</c>.</summary>
    private ConsumerConfig CooperativeConsumer(string group)
    {
        var config = Consumer(group);
        config.Set("partition.assignment.strategy", "cooperative-sticky");
        return config;
    }

    [Fact]
    public async Task Under_cooperative_sticky_a_joining_and_leaving_member_moves_only_its_partitions_without_loss()
    {
        // Confluent.Kafka hands the handlers only the partitions that change owner under the cooperative protocol (and calls
        // IncrementalAssign/IncrementalUnassign itself): the member that was there keeps reading what it keeps, without a
        // revoke, while the rest moves to the newcomer and back when it leaves.
        var topic = kafka.Unique("cooperative");
        var produced = new List<(int Partition, long Offset)>();
        async Task ProduceAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var r = await kafka.ProduceAsync(topic, "k", produced.Count.ToString(CultureInfo.InvariantCulture), partition: produced.Count % 4);
                produced.Add((r.Partition.Value, r.Offset.Value));
            }
        }

        await ProduceAsync(400);
        var group = kafka.Unique("g");
        var seen = new ConcurrentDictionary<string, ConcurrentQueue<(int Partition, long Offset)>>();
        var logA = new RecordingLogger();
        var logB = new RecordingLogger();
        using var stopA = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var stopB = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var a = new KafkaChangeSource(CooperativeConsumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: logA);
        var b = new KafkaChangeSource(CooperativeConsumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: logB);
        // a's pipeline takes 20 ms a record: it is still behind when b has joined, so b has records of its own to read.
        var runA = Drive("a", a, seen, stopA.Token, TimeSpan.FromMilliseconds(20));
        await WaitForAsync(() => seen.GetValueOrDefault("a")?.Count >= 50, TimeSpan.FromSeconds(30));
        Assert.Equal(4, a.Consumer!.Assignment.Count);

        // b joins while records keep coming.
        var runB = Drive("b", b, seen, stopB.Token);
        await ProduceAsync(200);
        await WaitForAsync(() => b.Consumer?.Assignment.Count == 2 && a.Consumer.Assignment.Count == 2, TimeSpan.FromSeconds(60));
        var kept = a.Consumer.Assignment.Select(tp => tp.Partition.Value).Order().ToList();
        var moved = b.Consumer!.Assignment.Select(tp => tp.Partition.Value).Order().ToList();
        var all = () => seen.Values.SelectMany(q => q).ToList();
        await WaitForAsync(() => all().Distinct().Count() >= produced.Count, TimeSpan.FromSeconds(60));
        Assert.All(moved, p => Assert.Contains(seen["b"], r => r.Partition == p));
        var linesOfABeforeBLeft = logA.Lines.ToList();

        // b leaves: its partitions come back to a, which reads on from what b committed.
        await stopB.CancelAsync();
        await runB;
        await b.DisposeAsync();
        await WaitForAsync(() => a.Consumer.Assignment.Count == 4, TimeSpan.FromSeconds(60));
        await ProduceAsync(100);
        await WaitForAsync(() => all().Distinct().Count() >= produced.Count, TimeSpan.FromSeconds(60));
        await stopA.CancelAsync();
        await runA;
        await a.DisposeAsync();

        TestContext.Current.TestOutputHelper?.WriteLine($"kept by a: {string.Join(",", kept)}; moved to b: {string.Join(",", moved)}");
        foreach (var (name, queue) in seen)
        {
            foreach (var partition in queue.GroupBy(p => p.Partition).OrderBy(p => p.Key))
            {
                TestContext.Current.TestOutputHelper?.WriteLine($"consumer {name} partition {partition.Key}: {string.Join(", ", Runs(partition.Select(p => p.Offset).ToList()))}");
            }
        }

        // Nothing lost, and the group's offsets end at each partition's end.
        Assert.Equal(produced.OrderBy(p => p).ToList(), all().Distinct().OrderBy(p => p).ToList());
        var ends = produced.GroupBy(p => p.Partition).ToDictionary(p => p.Key, p => p.Max(r => r.Offset) + 1);
        Assert.Equal(ends, ExactlyOnceTests.CommittedOffsets(Consumer(group), topic));

        // Every record was acknowledged as soon as it was handed out, and a revocation waits for that and commits it:
        // nothing is handed out twice — not by b after taking a partition over, nor by a after getting it back.
        var repeated = all().GroupBy(r => r).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(repeated.Count == 0, "handed out twice: " + string.Join(", ", repeated));

        // a read each partition it kept in one run from the first offset to the last: never revoked, never read again.
        foreach (var p in kept)
        {
            Assert.Equal([$"0-{ends[p] - 1}"], Runs(seen["a"].Where(r => r.Partition == p).Select(r => r.Offset).ToList()));
        }

        // The log names each increment, and only increments: a was assigned all four, gave up exactly the two b took
        // (committed, no time-out) and was assigned exactly those back; b was assigned them and gave them up when it left.
        List<string> Increments(IEnumerable<(LogLevel Level, EventId Id, string Message)> lines, int id, string what) =>
            lines.Where(l => l.Id.Id == id)
                .Select(l => string.Join(",", l.Message.Split(what)[1].Split(';')[0].Split(", ").Select(tp => tp.Trim()).Order()))
                .ToList();
        string Names(IEnumerable<int> partitions) => string.Join(",", partitions.Select(p => $"{topic}/{p}").Order());
        Assert.Equal([Names([0, 1, 2, 3]), Names(moved)], Increments(logA.Lines, 4001, "partitions assigned "));
        Assert.Equal([Names(moved)], Increments(linesOfABeforeBLeft, 4002, "partitions revoked "));
        Assert.Equal([Names(moved)], Increments(logB.Lines, 4001, "partitions assigned "));
        Assert.Equal([Names(moved)], Increments(logB.Lines, 4002, "partitions revoked "));
        Assert.Empty(logA.Lines.Where(l => l.Id.Id is 4003 or 4004).Concat(logB.Lines.Where(l => l.Id.Id is 4003 or 4004)));
    }

    [Fact]
    public async Task Acknowledgements_of_a_lost_partition_are_not_committed_and_do_not_throw()
    {
        // The poll thread waits for room longer than max.poll.interval.ms (a stuck pipeline with a long pauseAfter):
        // librdkafka takes the member out of the group and its partition is lost. What the pipeline acknowledges after that
        // must not be stored or committed — the partition's next owner reads from the group's offset, and a commit of ours
        // would move it — and the acknowledgement must not fail.
        var topic = await NumberedTopicAsync("lost", 10);
        var group = kafka.Unique("g");
        var config = Consumer(group);
        config.SessionTimeoutMs = 3000;
        config.HeartbeatIntervalMs = 500;
        config.MaxPollIntervalMs = 3000;
        var log = new RecordingLogger();
        var source = new KafkaChangeSource(config, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), bufferCapacity: 2, logger: log, pauseAfter: TimeSpan.FromSeconds(10));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(90));
        var reader = source.ReadAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var handedOut = new List<ChangeEvent>();
        for (var i = 0; i < 2; i++)
        {
            Assert.True(await reader.MoveNextAsync());
            handedOut.Add(reader.Current);
        }

        await WaitForAsync(() => log.Lines.Any(l => l.Id.Id == 4004), TimeSpan.FromSeconds(30));
        foreach (var change in handedOut)
        {
            await source.AcknowledgeAsync(change.Position, cts.Token);
        }

        // Longer than the auto-commit interval (200 ms): a stored offset would have been committed by now.
        await Task.Delay(TimeSpan.FromSeconds(1), cts.Token);
        Assert.Equal(Offset.Unset.Value, CommittedOffset(group, topic, 0));
        Assert.Equal(2, log.Lines.Count(l => l.Id.Id == 4010));
        await cts.CancelAsync();
        await reader.DisposeAsync();
        await source.DisposeAsync();
        Assert.Equal(Offset.Unset.Value, CommittedOffset(group, topic, 0));
    }

    [Fact]
    public async Task A_stop_with_records_not_acknowledged_says_so_without_claiming_a_revoke_timeout()
    {
        // Stopping lets go of the partitions at once (the pipeline has drained what it could): the revoke did not wait for
        // the revoke timeout, so warning 4003 ("not acknowledged within …; the new owner will redeliver") would be wrong.
        var topic = await NumberedTopicAsync("stop-unacked", 10);
        var group = kafka.Unique("g");
        var log = new RecordingLogger();
        var source = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: log,
            revokeTimeout: TimeSpan.FromSeconds(30));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var reader = source.ReadAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var handedOut = new List<ChangeEvent>();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await reader.MoveNextAsync());
            handedOut.Add(reader.Current);
        }

        await source.AcknowledgeAsync(handedOut[0].Position, cts.Token);
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await cts.CancelAsync();
        await reader.DisposeAsync();
        await source.DisposeAsync();

        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(25), $"the stop waited {stopping.Elapsed} for acknowledgements");
        var acknowledged = handedOut[0].Position;
        Assert.Equal(acknowledged.Major + 1, CommittedOffset(group, topic, int.Parse(acknowledged.Stream[(topic.Length + 1)..], CultureInfo.InvariantCulture)));
        Assert.DoesNotContain(log.Lines, l => l.Id.Id == 4003);
        var said = Assert.Single(log.Lines, l => l.Id.Id == 4500);
        // the partitions whose records are still unacknowledged, and only those
        var unacknowledged = handedOut.Skip(1).Where(c => c.Position.Stream != acknowledged.Stream || c.Position.Major > acknowledged.Major)
            .Select(c => c.Position.Stream).ToHashSet(StringComparer.Ordinal);
        Assert.All(unacknowledged, stream => Assert.Contains(stream, said.Message, StringComparison.Ordinal));
        for (var p = 0; p < 4; p++)
        {
            var stream = $"{topic}/{p}";
            Assert.Equal(unacknowledged.Contains(stream), said.Message.Contains(stream + " ", StringComparison.Ordinal) || said.Message.Contains(stream + ",", StringComparison.Ordinal) || said.Message.Contains(stream + ";", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task With_auto_commit_turned_off_each_acknowledgement_is_committed_while_the_source_runs()
    {
        // enable.auto.commit=false under consumer: passes through to librdkafka. The source would then commit only on a
        // rebalance or a clean stop, and a crash would deliver everything since the start again.
        var topic = await NumberedTopicAsync("no-auto-commit", 10);

        var group = kafka.Unique("g");
        var consumer = Consumer(group);
        consumer.Set("enable.auto.commit", "false");
        var source = new KafkaChangeSource(consumer, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        try
        {
            await ReadAsync(source, 10, ack: true);

            Assert.Equal(10, CommittedOffset(group, topic, 0));
        }
        finally
        {
            await source.CrashAsync();
        }
    }

    [Fact]
    public async Task On_shutdown_the_acknowledged_offsets_are_committed_before_the_sinks_are_closed()
    {
        // After a stop the host waits DrainTimeout + 5 s, then the process exits. A sink that is slow to close (a flush
        // to a broker that is down) must not hold back the commit of what every sink already acknowledged.
        var topic = await NumberedTopicAsync("shutdown-order", 10);

        var group = kafka.Unique("g");
        var consumer = Consumer(group);
        consumer.AutoCommitIntervalMs = 3_600_000;
        var source = new KafkaChangeSource(consumer, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        var sink = new ClosingSink(() => CommittedOffset(group, topic, 0));
        var runner = new PipelineRunner(source, new TestTranslator(), [new SinkBinding(sink, SinkPolicy.Default)], new RecordingDeadLetterQueue());
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            var run = runner.RunAsync(cts.Token);
            await WaitForAsync(() => sink.Delivered == 10, TimeSpan.FromSeconds(30));
            await cts.CancelAsync();
            await run;
        }

        await new PipelineInstance(runner, source, [new SinkBinding(sink, SinkPolicy.Default)], new RecordingDeadLetterQueue()).DisposeAsync();

        Assert.Equal(10, sink.CommittedWhenClosed);
    }

    /// <summary>A sink that notes, when it is closed, what the group has committed by then.</summary>
    private sealed class ClosingSink(Func<long> committed) : ISink
    {
        private int _delivered;

        public string Name => "closing";

        public int Delivered => Volatile.Read(ref _delivered);

        public long? CommittedWhenClosed { get; private set; }

        public ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _delivered, batch.Count);
            return default;
        }

        public ValueTask DisposeAsync()
        {
            CommittedWhenClosed = committed();
            return default;
        }
    }

    [Fact]
    public async Task A_late_acknowledgement_from_before_a_partition_came_back_does_not_move_the_group_back()
    {
        // Consumer a reads every partition but its pipeline is stuck: nothing is acknowledged when b joins, so a's
        // revocation times out. b reads its share to the end and commits it, then leaves, and a gets those partitions
        // back. Only now does a's pipeline acknowledge a record it was handed before: storing that offset would move
        // the group back before what b committed, and everything in between would be delivered again.
        var topic = kafka.Unique("late-ack");
        for (var i = 0; i < 40; i++)
        {
            await kafka.ProduceAsync(topic, "k", i.ToString(CultureInfo.InvariantCulture), partition: i % 4);
        }

        var group = kafka.Unique("g");
        await using var a = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), revokeTimeout: TimeSpan.FromMilliseconds(300), logger: new TestLogger("a"));
        var handedToA = await ReadAsync(a, 40, ack: false);

        var seen = new ConcurrentDictionary<string, ConcurrentQueue<(int Partition, long Offset)>>();
        var b = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), logger: new TestLogger("b"));
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            var runB = Drive("b", b, seen, cts.Token);
            await WaitForAsync(
                () => seen.GetValueOrDefault("b") is { IsEmpty: false } q && q.GroupBy(r => r.Partition).All(p => p.Max(r => r.Offset) == 9) && q.Count >= 20,
                TimeSpan.FromSeconds(60));
            await cts.CancelAsync();
            await runB;
        }

        var takenByB = seen["b"].Select(r => r.Partition).Distinct().Order().ToList();
        var assignmentsBefore = a.Assignments;
        await b.DisposeAsync();
        await WaitForAsync(() => a.Assignments > assignmentsBefore, TimeSpan.FromSeconds(60));
        Assert.All(takenByB, p => Assert.Equal(10, CommittedOffset(group, topic, p)));

        foreach (var change in handedToA.Where(c => takenByB.Any(p => c.Position.Stream == $"{topic}/{p}") && c.Position.Major == 5))
        {
            await a.AcknowledgeAsync(change.Position, TestContext.Current.CancellationToken);
        }

        await a.DisposeAsync();
        Assert.All(takenByB, p => Assert.Equal(10, CommittedOffset(group, topic, p)));
    }

    private long CommittedOffset(string group, string topic, int partition)
    {
        using var reader = new ConsumerBuilder<byte[], byte[]>(Consumer(group)).SetLogHandler((_, _) => { }).Build();
        return reader.Committed([new TopicPartition(topic, partition)], TimeSpan.FromSeconds(10)).Single().Offset.Value;
    }

    /// <summary>Reads <paramref name="records"/> through a 16-record buffer, acknowledging each, stalling every 50.</summary>
    private async Task<(KafkaChangeSource Source, List<ChangeEvent> Changes)> ReadWithStallsAsync(string name, int records, TimeSpan stall, TimeSpan pauseAfter)
    {
        var topic = kafka.Unique(name);
        for (var i = 0; i < records; i++)
        {
            await kafka.ProduceAsync(topic, "k" + (i % 7).ToString(CultureInfo.InvariantCulture), i.ToString(CultureInfo.InvariantCulture));
        }

        var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), bufferCapacity: 16, pauseAfter: pauseAfter);
        var changes = new List<ChangeEvent>();
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(60));
            await foreach (var change in source.ReadAsync(cts.Token))
            {
                changes.Add(change);
                await source.AcknowledgeAsync(change.Position, cts.Token);
                if (changes.Count % 50 == 0)
                {
                    await Task.Delay(stall, cts.Token);
                }

                if (changes.Count == records)
                {
                    break;
                }
            }
        }
        catch
        {
            await source.DisposeAsync();
            throw;
        }

        return (source, changes);
    }

    [Fact]
    public async Task A_full_buffer_pauses_the_partitions_and_resumes_them_without_loss()
    {
        // A slow pipeline: every 50 records it stalls, the poll thread fills the buffer meanwhile and must pause.
        var (source, changes) = await ReadWithStallsAsync("pause", records: 300, stall: TimeSpan.FromMilliseconds(300), pauseAfter: TimeSpan.FromMilliseconds(20));
        await using var _ = source;

        Assert.True(source.Pauses > 0, "the buffer never ran full");
        Assert.Equal(300, changes.Select(c => c.Position).Distinct().Count());
        foreach (var stream in changes.GroupBy(c => c.Position.Stream))
        {
            Assert.Equal(stream.Select(c => c.Position.Major).Order(), stream.Select(c => c.Position.Major));
        }
    }

    [Fact]
    public async Task A_partition_paused_when_a_rebalance_takes_it_away_is_read_again_when_it_comes_back()
    {
        // Two records per partition; a two-record buffer that pauses at once.
        var topic = kafka.Unique("pause-rebalance");
        for (var i = 0; i < 8; i++)
        {
            await kafka.ProduceAsync(topic, "k", "old-" + i.ToString(CultureInfo.InvariantCulture), partition: i % 4);
        }

        var group = kafka.Unique("g");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromMinutes(4));
        var source = new KafkaChangeSource(Consumer(group), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), bufferCapacity: 2, logger: new TestLogger("source"), pauseAfter: TimeSpan.Zero);
        await using var _ = source;
        var reader = source.ReadAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await using var __ = reader;

        // The pipeline takes one record and then stalls: the buffer fills and every assigned partition is paused.
        Assert.True(await reader.MoveNextAsync());
        await source.AcknowledgeAsync(reader.Current.Position, cts.Token);
        await WaitForAsync(() => source.Pauses > 0, TimeSpan.FromSeconds(30));
        Assert.Equal(4, source.Consumer!.Assignment.Count);

        // A second member joins the group: the rebalance takes two of the paused partitions away.
        var otherConfig = Consumer(group);
        otherConfig.EnableAutoCommit = false;
        using var other = new ConsumerBuilder<byte[]?, byte[]?>(otherConfig).SetLogHandler((_, _) => { }).Build();
        other.Subscribe(topic);
        using var otherStop = new CancellationTokenSource();
        var otherPoll = Task.Run(() =>
        {
            while (!otherStop.IsCancellationRequested)
            {
                other.Consume(TimeSpan.FromMilliseconds(100));
            }
        }, CancellationToken.None);
        await WaitForAsync(() => other.Assignment.Count > 0 && source.Consumer.Assignment.Count is > 0 and < 4, TimeSpan.FromSeconds(60));
        var kept = source.Consumer.Assignment.Select(tp => tp.Partition.Value).ToList();

        // The pipeline catches up: the buffer drains, the source resumes what it paused and reads (and commits) the
        // rest of the partitions it kept.
        var seen = new ConcurrentQueue<string>();
        var drive = Task.Run(async () =>
        {
            try
            {
                while (await reader.MoveNextAsync())
                {
                    seen.Enqueue(reader.Current.After!["v"]!.ToString()!);
                    await source.AcknowledgeAsync(reader.Current.Position, cts.Token);
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
            }
        }, CancellationToken.None);
        await WaitForAsync(() => source.Resumes > 0, TimeSpan.FromSeconds(30));
        await WaitForAsync(() => kept.All(p => ExactlyOnceTests.CommittedOffsets(otherConfig, topic).GetValueOrDefault(p) == 2), TimeSpan.FromSeconds(30));

        // The second member leaves: its partitions come back to the source.
        await otherStop.CancelAsync();
        await otherPoll;
        other.Close();
        await WaitForAsync(() => source.Consumer.Assignment.Count == 4, TimeSpan.FromSeconds(60));

        // One new record per partition must reach the source. (Only one each: more records on the kept partitions
        // could fill the buffer again, and a new pause and resume of all four would hide a partition left paused.)
        var fresh = new List<string>();
        for (var p = 0; p < 4; p++)
        {
            var value = "new-" + p.ToString(CultureInfo.InvariantCulture);
            await kafka.ProduceAsync(topic, "k", value, partition: p);
            fresh.Add(value);
        }

        try
        {
            await WaitForAsync(() => fresh.All(seen.Contains), TimeSpan.FromSeconds(60));
        }
        finally
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"kept {string.Join(",", kept)}; seen: {string.Join(", ", seen)}");
            await cts.CancelAsync();
            await drive;
        }
    }

    [Fact]
    public async Task A_pipeline_only_a_batch_behind_does_not_pause_the_partitions()
    {
        // Full buffer for a moment (as while a sink batch is in flight), far shorter than the grace period.
        var (source, changes) = await ReadWithStallsAsync("nopause", records: 200, stall: TimeSpan.FromMilliseconds(200), pauseAfter: TimeSpan.FromSeconds(10));
        await using var _ = source;

        Assert.Equal(0, source.Pauses);
        Assert.Equal(200, changes.Select(c => c.Position).Distinct().Count());
    }

    [Fact]
    public async Task Disposing_while_the_poll_thread_waits_for_room_stops_at_once()
    {
        var topic = kafka.Unique("waitstop");
        for (var i = 0; i < 50; i++)
        {
            await kafka.ProduceAsync(topic, "k", i.ToString(CultureInfo.InvariantCulture));
        }

        var source = new KafkaChangeSource(Consumer(kafka.Unique("g")), [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue(), bufferCapacity: 4, pauseAfter: TimeSpan.FromMinutes(5));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        await using (var reader = source.ReadAsync(cts.Token).GetAsyncEnumerator(cts.Token))
        {
            // One record taken, then the pipeline stalls: the buffer fills and the poll thread blocks waiting for room.
            // Whether the buffer then holds 4 or 3 depends on whether the record was taken before or after it
            // filled: the poll thread waits for the low-water mark (2), not for the first free slot.
            Assert.True(await reader.MoveNextAsync());
            await WaitForAsync(() => source.WaitingForRoom, TimeSpan.FromSeconds(30));
            Assert.InRange(source.Buffered, 3, 4);
        }

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await source.DisposeAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"disposal took {watch.Elapsed} while the poll thread waited for room");
        Assert.Equal(0, source.Pauses);
    }

    [Fact]
    public async Task Lag_counts_the_records_beyond_what_the_pipeline_acknowledged()
    {
        var topic = await NumberedTopicAsync("lag", 10);

        var consumer = Consumer(kafka.Unique("g"));
        consumer.StatisticsIntervalMs = 200;
        await using var source = new KafkaChangeSource(consumer, [topic], new TestRecordDecoder(), new RecordingDeadLetterQueue());
        Assert.Null(source.Lag);

        // All ten read, none acknowledged yet: ten behind.
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        var changes = new List<ChangeEvent>();
        await using var reader = source.ReadAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        while (changes.Count < 10 && await reader.MoveNextAsync())
        {
            changes.Add(reader.Current);
        }

        await WaitForAsync(() => source.Lag?.Value == 10, TimeSpan.FromSeconds(30));
        Assert.Equal("records", source.Lag!.Value.Unit);

        // Offsets 0..3 acknowledged: six behind.
        await source.AcknowledgeAsync(changes[3].Position, cts.Token);
        await WaitForAsync(() => source.Lag?.Value == 6, TimeSpan.FromSeconds(30));

        await source.AcknowledgeAsync(changes[9].Position, cts.Token);
        await WaitForAsync(() => source.Lag?.Value == 0, TimeSpan.FromSeconds(30));
    }

    private static IEnumerable<string> Runs(List<long> offsets)
    {
        var start = 0;
        for (var i = 1; i <= offsets.Count; i++)
        {
            if (i == offsets.Count || offsets[i] != offsets[i - 1] + 1)
            {
                yield return $"{offsets[start]}-{offsets[i - 1]}";
                start = i;
            }
        }
    }

    /// <summary>Reads and acknowledges every change (after <paramref name="perRecord"/>, a slow pipeline), noting partition and offset.</summary>
    private static Task Drive(string name, KafkaChangeSource source, ConcurrentDictionary<string, ConcurrentQueue<(int, long)>> seen, CancellationToken cancellationToken, TimeSpan perRecord = default) =>
        Task.Run(async () =>
        {
            var queue = seen.GetOrAdd(name, _ => new ConcurrentQueue<(int, long)>());
            try
            {
                await foreach (var change in source.ReadAsync(cancellationToken))
                {
                    var slash = change.Position.Stream.LastIndexOf('/');
                    if (perRecord > TimeSpan.Zero)
                    {
                        await Task.Delay(perRecord, cancellationToken);
                    }

                    // Noted just before the acknowledgement, which does not stop for the cancellation: a record seen is acknowledged.
                    queue.Enqueue((int.Parse(change.Position.Stream[(slash + 1)..], CultureInfo.InvariantCulture), change.Position.Major));
                    await source.AcknowledgeAsync(change.Position, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
        }, CancellationToken.None);

    internal static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within " + timeout);
            await Task.Delay(50);
        }
    }

    /// <summary>A new topic with <paramref name="count"/> records on partition 0, valued 0, 1, … under key "k".</summary>
    private async Task<string> NumberedTopicAsync(string name, int count)
    {
        var topic = kafka.Unique(name);
        for (var i = 0; i < count; i++)
        {
            await kafka.ProduceAsync(topic, "k", i.ToString(CultureInfo.InvariantCulture), partition: 0);
        }

        return topic;
    }

    private static async Task<List<ChangeEvent>> ReadAsync(KafkaChangeSource source, int count, bool ack) =>
        await ReadUntilAsync(source, c => c.Count >= count, TimeSpan.FromSeconds(30), ack);

    private static async Task<List<ChangeEvent>> ReadUntilAsync(KafkaChangeSource source, Func<List<ChangeEvent>, bool> done, TimeSpan timeout, bool ack = true)
    {
        var changes = new List<ChangeEvent>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await foreach (var change in source.ReadAsync(cts.Token))
            {
                changes.Add(change);
                if (ack)
                {
                    await source.AcknowledgeAsync(change.Position, cts.Token);
                }

                if (done(changes))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"only {changes.Count} change(s) within {timeout}");
        }

        return changes;
    }
}
