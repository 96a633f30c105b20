using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Kafka.Replay;
using CdcPipeline.Kafka.Source;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class ReplayCommandTests(KafkaFixture kafka)
{
    /// <summary>An in-memory cluster view: a topic with 3 partitions, offsets 100..199 each, one record per minute from 08:00.</summary>
    private sealed class FakeAdmin : IConsumerGroupAdmin
    {
        public List<string> Members { get; } = [];
        public Dictionary<int, long?> Committed { get; } = new() { [0] = 150, [1] = null, [2] = 199 };
        public Dictionary<int, long>? Altered { get; private set; }
        public Dictionary<string, Dictionary<int, long>> AlteredByTopic { get; } = [];
        public static readonly DateTimeOffset Start = new(2024, 3, 1, 8, 0, 0, TimeSpan.Zero);

        /// <summary>DescribeConsumerGroups requests: each is a round trip to the group's coordinator.</summary>
        public int MemberRequests { get; private set; }

        public Task<IReadOnlyList<string>> ActiveMembersAsync(string group, CancellationToken cancellationToken)
        {
            MemberRequests++;
            return Task.FromResult<IReadOnlyList<string>>(Members);
        }

        public Task<IReadOnlyList<int>> PartitionsAsync(string topic, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<int>>(topic is "t" or "legacy.public.tb_ord_mst" ? [0, 1, 2] : topic == "legacy.public.tb_cust_mst" ? [0] : []);
        public Task<IReadOnlyList<string>> TopicsAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>(["__consumer_offsets", "legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst", "t"]);
        public Task<IReadOnlyDictionary<int, long?>> CommittedAsync(string group, string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<int, long?>>(partitions.ToDictionary(p => p, p => Committed[p]));
        public Task<IReadOnlyDictionary<int, (long Low, long High)>> WatermarksAsync(string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<int, (long, long)>>(partitions.ToDictionary(p => p, _ => (100L, 200L)));
        public Task<IReadOnlyDictionary<int, long>> OffsetsForTimeAsync(string topic, IReadOnlyList<int> partitions, DateTimeOffset time, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<int, long>>(partitions.ToDictionary(p => p, _ => Math.Clamp(100 + (long)Math.Ceiling((time - Start).TotalMinutes), 100, 200)));
        /// <summary>A topic whose partitions Kafka refuses to set (as for a principal without READ on it).</summary>
        public string? FailTopic { get; init; }
        public int AlterRequests { get; private set; }

        /// <summary>The whole request fails (a broker down, a time-out): Kafka's answer never came.</summary>
        public KafkaException? FailRequest { get; init; }

        public Task<IReadOnlyList<GroupOffset>> AlterAsync(string group, IReadOnlyList<GroupOffset> offsets, CancellationToken cancellationToken)
        {
            AlterRequests++;
            if (FailRequest is not null)
            {
                throw FailRequest;
            }

            var results = new List<GroupOffset>();
            foreach (var o in offsets)
            {
                if (o.Topic == FailTopic)
                {
                    results.Add(o with { Error = "Topic authorization failed (TopicAuthorizationFailed)" });
                    continue;
                }

                Altered = AlteredByTopic.TryGetValue(o.Topic, out var topic) ? topic : AlteredByTopic[o.Topic] = [];
                Altered[o.Partition] = o.Offset;
                results.Add(o);
            }

            return Task.FromResult<IReadOnlyList<GroupOffset>>(results);
        }
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static async Task<(int Code, string Out, string Err)> Run(FakeAdmin admin, string to, bool dryRun, params string[] topics)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await ReplayCommand.RunAsync(admin, "fake:9092", "g", topics.Length == 0 ? ["t"] : topics, ReplayTarget.Parse(to), dryRun, output, errors, TestContext.Current.CancellationToken);
        return (code, output.ToString(), errors.ToString());
    }

    [Theory]
    [InlineData("earliest", "t/0: 150 -> 100, lag 50 -> 100|t/1: none -> 100, lag 100|t/2: 199 -> 100, lag 1 -> 100|lag after the reset: 300 record(s) to read")]
    [InlineData("latest", "t/0: 150 -> 200, lag 50 -> 0|t/1: none -> 200, lag 0|t/2: 199 -> 200, lag 1 -> 0|lag after the reset: 0 record(s) to read")]
    [InlineData("offset:1:120", "t/1: none -> 120, lag 80|lag after the reset: 80 record(s) to read")]
    [InlineData("offset:2:5000", "t/2: 199 -> 200, lag 1 -> 0 (offset 5000 is past the end (200): set to the end)|lag after the reset: 0 record(s) to read")]
    [InlineData("offset:1:5", "t/1: none -> 100, lag 100 (offset 5 is no longer retained (the earliest is 100): set to the earliest)|lag after the reset: 100 record(s) to read")]
    [InlineData("offset:0:200", "t/0: 150 -> 200, lag 50 -> 0|lag after the reset: 0 record(s) to read")]
    [InlineData("timestamp:2024-03-01T08:30:00Z", "t/0: 150 -> 130, lag 50 -> 70|t/1: none -> 130, lag 70|t/2: 199 -> 130, lag 1 -> 70|lag after the reset: 210 record(s) to read")]
    [InlineData("timestamp:2024-03-01T10:30:00+02:00", "t/0: 150 -> 130, lag 50 -> 70|t/1: none -> 130, lag 70|t/2: 199 -> 130, lag 1 -> 70|lag after the reset: 210 record(s) to read")]
    [InlineData("timestamp:2024-03-01T12:00:00Z", "t/0: 150 -> 200, lag 50 -> 0 (no record at or after 2024-03-01T12:00:00Z: set to the end)|t/1: none -> 200, lag 0 (no record at or after 2024-03-01T12:00:00Z: set to the end)|t/2: 199 -> 200, lag 1 -> 0 (no record at or after 2024-03-01T12:00:00Z: set to the end)|lag after the reset: 0 record(s) to read")]
    public async Task Dry_run_prints_old_and_new_offsets_per_partition_and_changes_nothing(string to, string expected)
    {
        var admin = new FakeAdmin();
        var (code, output, _) = await Run(admin, to, dryRun: true);
        Assert.Equal(0, code);
        Assert.Equal(expected.Split('|').Append("dry run: nothing changed"), output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Null(admin.Altered);
    }

    [Fact]
    public async Task Without_dry_run_the_group_offsets_are_altered()
    {
        var admin = new FakeAdmin();
        var (code, _, _) = await Run(admin, "offset:0:110", dryRun: false);
        Assert.Equal(0, code);
        Assert.Equal(new Dictionary<int, long> { [0] = 110 }, admin.Altered);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_group_without_any_committed_offset_is_reset_and_said_to_be_new_or_mistyped(bool dryRun)
    {
        // kafka-consumer-groups sets a group that does not exist (a new pipeline's, before its first start): so does replay,
        // but a mistyped --group would otherwise end 'reset …; start the pipeline to re-read' and the pipeline re-read nothing.
        var admin = new FakeAdmin();
        admin.Committed[0] = null;
        admin.Committed[2] = null;
        var (code, output, errors) = await Run(admin, "earliest", dryRun);
        Assert.Equal(0, code);
        Assert.Contains("t/0: none -> 100, lag 100", output, StringComparison.Ordinal);
        Assert.Equal(
            "replay: group 'g' has no committed offset on any partition of t: a new group, or a mistyped --group; "
            + "a pipeline reads these offsets only if its consumer joins 'g' (source.kafka.groupId)",
            errors.Trim());
        Assert.Equal(dryRun ? null : new Dictionary<int, long> { [0] = 100, [1] = 100, [2] = 100 }, admin.Altered);
    }

    [Fact]
    public async Task A_group_with_a_committed_offset_is_not_said_to_be_new()
    {
        var admin = new FakeAdmin();
        var (code, _, errors) = await Run(admin, "earliest", dryRun: true);
        Assert.Equal(0, code);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_group_with_active_members_is_refused()
    {
        var admin = new FakeAdmin();
        admin.Members.Add("legacy-orders-source@/10.0.0.7");
        var (code, output, errors) = await Run(admin, "earliest", dryRun: false);
        Assert.Equal(3, code);
        Assert.Empty(output);
        Assert.Contains("1 active member(s) (legacy-orders-source@/10.0.0.7): stop the pipeline first", errors, StringComparison.Ordinal);
        Assert.Null(admin.Altered);
    }

    [Fact]
    public async Task A_replay_of_several_topics_asks_for_the_groups_members_once()
    {
        var admin = new FakeAdmin();
        var (code, _, errors) = await Run(admin, "earliest", dryRun: true, "^legacy\\.public\\..*", "t");
        Assert.True(code == 0, errors);
        Assert.Equal(1, admin.MemberRequests);
    }

    [Fact]
    public async Task A_group_with_active_members_is_refused_once_for_several_topics_naming_the_members()
    {
        var admin = new FakeAdmin();
        admin.Members.AddRange(["legacy-orders-source@/10.0.0.7", "legacy-orders-source@/10.0.0.8"]);
        var (code, output, errors) = await Run(admin, "earliest", dryRun: false, "legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst");
        Assert.Equal(3, code);
        Assert.Empty(output);
        Assert.Equal(
            "replay: refused: consumer group 'g' has 2 active member(s) (legacy-orders-source@/10.0.0.7, legacy-orders-source@/10.0.0.8): stop the pipeline first, then replay",
            errors.Trim());
        Assert.Equal(1, admin.MemberRequests);
        Assert.Equal(0, admin.AlterRequests);
    }

    [Fact]
    public async Task An_unknown_partition_is_refused()
    {
        var (code, _, errors) = await Run(new FakeAdmin(), "offset:7:1", dryRun: true);
        Assert.Equal(3, code);
        Assert.Contains("has no partition 7", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("legacy.public.*", @"--topic '^legacy\.public\..*$'")]
    [InlineData("legacy.public.tb_?rd_mst", @"--topic '^legacy\.public\.tb_.rd_mst$'")]
    public async Task A_glob_given_as_a_topic_is_refused_with_how_to_write_a_pattern(string topic, string example)
    {
        var (code, _, errors) = await Run(new FakeAdmin(), "earliest", dryRun: true, topic);
        Assert.Equal(3, code);
        Assert.Contains($"topic '{topic}' does not exist", errors, StringComparison.Ordinal);
        Assert.Contains("a topic pattern is a regular expression that starts with ^", errors, StringComparison.Ordinal);
        Assert.Contains(example, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pattern_replays_every_matching_topic_together()
    {
        var admin = new FakeAdmin();
        var (code, output, errors) = await Run(admin, "earliest", dryRun: false, "^legacy\\.public\\..*");
        Assert.True(code == 0, errors);
        Assert.Equal(
            ["legacy.public.tb_cust_mst/0: 150 -> 100, lag 50 -> 100", "legacy.public.tb_ord_mst/0: 150 -> 100, lag 50 -> 100", "legacy.public.tb_ord_mst/1: none -> 100, lag 100", "legacy.public.tb_ord_mst/2: 199 -> 100, lag 1 -> 100",
             "lag after the reset: 400 record(s) to read", "group 'g' reset on 2 topic(s); start the pipeline to re-read"],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Equal(["legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst"], admin.AlteredByTopic.Keys.Order());
    }

    [Fact]
    public async Task Several_topics_are_reset_in_one_request_and_a_partial_failure_names_each_partition_set_and_not_set()
    {
        // Kafka applies a group's OffsetCommit per partition: a principal without READ on one topic gets its partitions
        // refused while the others are set. The operator must learn exactly which, and how to finish.
        var admin = new FakeAdmin { FailTopic = "legacy.public.tb_ord_mst" };
        var (code, output, errors) = await Run(admin, "earliest", dryRun: false, "legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst");

        Assert.Equal(1, code);
        Assert.Equal(1, admin.AlterRequests);
        Assert.DoesNotContain("reset on", output, StringComparison.Ordinal);
        var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("replay: group 'g' was reset on 1 of 4 partition(s) only", lines[0], StringComparison.Ordinal);
        Assert.Contains("set: legacy.public.tb_cust_mst/0 -> 100", lines);
        foreach (var p in new[] { 0, 1, 2 })
        {
            Assert.Single(lines, l => l.StartsWith($"NOT set: legacy.public.tb_ord_mst/{p} -> 100: ", StringComparison.Ordinal) && l.Contains("Topic authorization failed", StringComparison.Ordinal));
        }

        Assert.Contains(lines, l => l.Contains("run the same replay again", StringComparison.Ordinal));
        Assert.Equal(["legacy.public.tb_cust_mst"], admin.AlteredByTopic.Keys);
    }

    [Fact]
    public async Task A_replay_that_failed_in_part_is_finished_by_running_it_again()
    {
        var admin = new FakeAdmin { FailTopic = "legacy.public.tb_ord_mst" };
        var (code, _, _) = await Run(admin, "earliest", dryRun: false, "legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst");
        Assert.Equal(1, code);

        // The cause fixed (READ granted on the topic), the same command again: every partition, those set already included.
        var fixedAdmin = new FakeAdmin();
        var (again, output, errors) = await Run(fixedAdmin, "earliest", dryRun: false, "legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst");
        Assert.True(again == 0, errors);
        Assert.Contains("group 'g' reset on 2 topic(s)", output, StringComparison.Ordinal);
        Assert.Equal(admin.AlteredByTopic["legacy.public.tb_cust_mst"], fixedAdmin.AlteredByTopic["legacy.public.tb_cust_mst"]);
        Assert.Equal(new Dictionary<int, long> { [0] = 100, [1] = 100, [2] = 100 }, fixedAdmin.AlteredByTopic["legacy.public.tb_ord_mst"]);
    }

    [Fact]
    public async Task A_request_that_failed_as_a_whole_claims_no_partition_set()
    {
        var admin = new FakeAdmin { FailRequest = new KafkaException(new Error(ErrorCode.Local_TimedOut, "Local: Timed out")) };
        var (code, output, errors) = await Run(admin, "earliest", dryRun: false, "legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst");

        Assert.Equal(1, code);
        Assert.Equal(1, admin.AlterRequests);
        Assert.DoesNotContain("reset on", output, StringComparison.Ordinal);
        Assert.StartsWith("replay: could not set the offsets of group 'g' (4 partition(s) of 2 topic(s), one request; none is known to be set): could not reach Kafka at fake:9092", errors, StringComparison.Ordinal);
        Assert.Contains("run the same replay again", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_the_cluster_one_request_sets_the_partitions_of_several_topics_and_names_each_it_refused()
    {
        var (first, second) = (kafka.Unique("replay-a"), kafka.Unique("replay-b"));
        for (var i = 0; i < 3; i++)
        {
            await kafka.ProduceAsync(first, "k", "v", partition: 0);
            await kafka.ProduceAsync(second, "k", "v", partition: 0);
        }

        using var admin = new KafkaConsumerGroupAdmin(new ClientConfig { BootstrapServers = kafka.BootstrapServers });
        var group = kafka.Unique("g");
        var results = await admin.AlterAsync(group, [new GroupOffset(first, 0, 2), new GroupOffset(second, 0, 1), new GroupOffset(second, 99, 1)], TestContext.Current.CancellationToken);

        // Kafka applies an OffsetCommit per partition: the partitions that exist are set, the one that does not is named.
        Assert.Equal(3, results.Count);
        Assert.Null(Assert.Single(results, r => r.Topic == first).Error);
        Assert.Null(Assert.Single(results, r => r.Topic == second && r.Partition == 0).Error);
        Assert.Contains("UnknownTopicOrPart", Assert.Single(results, r => r.Partition == 99).Error, StringComparison.Ordinal);
        Assert.Equal(2, (await admin.CommittedAsync(group, first, [0], TestContext.Current.CancellationToken))[0]);
        Assert.Equal(1, (await admin.CommittedAsync(group, second, [0], TestContext.Current.CancellationToken))[0]);
    }

    [Fact]
    public async Task Of_several_topics_one_not_created_yet_is_skipped_and_none_at_all_is_refused()
    {
        var admin = new FakeAdmin();
        var (code, output, _) = await Run(admin, "latest", dryRun: false, "t", "legacy.public.tb_ord_dtl");
        Assert.Equal(0, code);
        Assert.Contains("legacy.public.tb_ord_dtl: does not exist (yet); nothing to reset", output, StringComparison.Ordinal);
        Assert.Equal(["t"], admin.AlteredByTopic.Keys);

        (code, _, var errors) = await Run(new FakeAdmin(), "latest", dryRun: false, "x", "y");
        Assert.Equal(3, code);
        Assert.Contains("none of the topics exists: x, y", errors, StringComparison.Ordinal);

        (code, _, errors) = await Run(new FakeAdmin(), "earliest", dryRun: true, "^nothing\\..*");
        Assert.Equal(3, code);
        Assert.Contains("no topic matches the pattern '^nothing\\..*'", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_topic_pattern_that_is_no_regular_expression_is_an_error_naming_it_not_a_crash()
    {
        var admin = new FakeAdmin();
        var (code, output, errors) = await Run(admin, "earliest", dryRun: false, "^legacy\\.(public\\..*");

        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.StartsWith("replay: topic pattern '^legacy\\.(public\\..*' is not a valid regular expression: ", errors, StringComparison.Ordinal);
        Assert.Empty(admin.AlteredByTopic);
    }

    [Fact]
    public void Without_topic_options_a_replay_covers_everything_the_configured_pipeline_subscribes_to()
    {
        var sample = PipelineConfiguration.Load(Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "pipeline.kafka.yaml"));
        Assert.Equal(
            ["legacy.public.tb_cust_mst", "legacy.public.tb_ord_mst", "legacy.public.tb_ord_dtl", "legacy.public.tb_aud_log", "__debezium-heartbeat.legacy", "legacy.transaction"],
            ReplayCommand.Subscription(sample));
        Assert.Empty(ReplayCommand.Subscription(null));
    }

    [Fact]
    public void With_a_config_the_replay_resets_the_group_the_source_actually_joins()
    {
        // librdkafka settings under source.kafka.consumer win over the source's own: a group.id there is the group the
        // running pipeline joins and commits to. Resetting source.kafka.groupId instead would report success, check the
        // wrong group for active members, and the restarted pipeline would carry on from its old offsets.
        var file = Path.Combine(Path.GetTempPath(), $"replay-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, """
            name: legacy-orders
            source:
              kafka:
                bootstrapServers: "localhost:9092"
                groupId: cdc-translator
                topics: [legacy.public.tb_ord_mst]
                consumer: { group.id: cdc-translator-blue }
            sinks:
              - name: out
                file: { path: out/events.jsonl }
            """);
        var withoutConsumerGroup = Path.Combine(Path.GetTempPath(), $"replay-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(withoutConsumerGroup, File.ReadAllText(file).Replace("    consumer: { group.id: cdc-translator-blue }\n", "", StringComparison.Ordinal));
        try
        {
            var pipeline = PipelineConfiguration.Load(file);
            var source = ConfigBinding.Bind<KafkaSourceOptions>(pipeline.Root.GetSection("source:kafka"), pipeline.Locations);
            Assert.Equal("cdc-translator-blue", KafkaSourceFactory.BuildConsumerConfig(source, pipeline.Options.Name).GroupId);
            Assert.Equal("cdc-translator-blue", ReplayCommand.GroupOf(pipeline));
            Assert.Equal("cdc-translator", ReplayCommand.GroupOf(PipelineConfiguration.Load(withoutConsumerGroup)));
            Assert.Null(ReplayCommand.GroupOf(null));
        }
        finally
        {
            File.Delete(file);
            File.Delete(withoutConsumerGroup);
        }
    }

    [Fact]
    public async Task An_offset_target_needs_exactly_one_topic()
    {
        var admin = new FakeAdmin();
        var (code, _, errors) = await Run(admin, "offset:0:120", dryRun: false, "t", "legacy.public.tb_ord_mst");
        Assert.Equal(3, code);
        Assert.Contains("offset:0:120 names a partition of one topic, and this replay has 2", errors, StringComparison.Ordinal);
        Assert.Empty(admin.AlteredByTopic);
    }

    [Theory]
    [InlineData("offset:1")]
    [InlineData("offset:a:1")]
    [InlineData("timestamp:yesterday")]
    [InlineData("beginning")]
    public void Bad_targets_say_how_to_write_them(string to)
    {
        var error = Assert.Throws<FormatException>(() => ReplayTarget.Parse(to));
        Assert.Contains(to.Split(':').Last(), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("timestamp:2024-03-01T08:00:00", "timestamp:2024-03-01T08:00:00Z")]
    [InlineData("timestamp:2024-03-01T08:00:00.250", "timestamp:2024-03-01T08:00:00Z")]
    [InlineData("timestamp:2024-03-01", "timestamp:2024-03-01T00:00:00Z")]
    public void A_timestamp_without_a_time_zone_is_refused_rather_than_guessed(string to, string suggested)
    {
        // Kafka's kafka-consumer-groups --to-datetime reads a time without zone as the machine's local time; taking it as UTC
        // instead moved the group by the operator's UTC offset: hours of changes skipped or delivered again.
        var error = Assert.Throws<FormatException>(() => ReplayTarget.Parse(to));
        Assert.Contains("has no time zone", error.Message, StringComparison.Ordinal);
        Assert.Contains(suggested, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("timestamp:03/01/2024 08:00:00Z")]
    [InlineData("timestamp:01/03/2024 08:00:00+01:00")]
    [InlineData("timestamp:1 March 2024 08:00Z")]
    public void A_timestamp_that_is_not_ISO_8601_is_refused_rather_than_read_month_first(string to)
    {
        // DateTimeOffset.TryParse with the invariant culture reads 01/03/2024 as January 3rd: an operator who meant March 1st
        // would replay two months of changes (or, the other way round, skip them) without a word.
        var error = Assert.Throws<FormatException>(() => ReplayTarget.Parse(to));
        Assert.Contains($"'{to["timestamp:".Length..]}' is not an ISO-8601 time", error.Message, StringComparison.Ordinal);
        Assert.Contains("2024-03-01T08:00:00Z", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timestamp_in_the_future_is_refused_instead_of_skipping_every_partition_to_its_end()
    {
        // No record is at or after a time still to come: OffsetsForTimes finds none, and the group would move to the end of
        // every partition, past the changes the stopped pipeline had not read (a wrong year, or local time read as UTC).
        var admin = new FakeAdmin();
        var (code, output, errors) = await Run(admin, "timestamp:2999-01-01T00:00:00Z", dryRun: false);

        Assert.Equal(3, code);
        Assert.Empty(output);
        Assert.Contains("timestamp 2999-01-01T00:00:00Z is in the future (it is now ", errors, StringComparison.Ordinal);
        Assert.Contains("'t' has no record at or after it", errors, StringComparison.Ordinal);
        Assert.Contains("--to latest", errors, StringComparison.Ordinal);
        Assert.Null(admin.Altered);
    }

    [Fact]
    public async Task A_timestamp_a_little_ahead_of_this_machines_clock_is_planned_when_the_brokers_have_records_after_it()
    {
        // The record timestamps are the producers' clocks (Kafka Connect's): one running ahead of this machine's wrote records
        // "in the future". Found by the brokers, they are a replay point like any other.
        var now = new FixedClock(FakeAdmin.Start.AddMinutes(10));
        var plan = await new ReplayPlanner(new FakeAdmin(), now).PlanAsync("g", "t", ReplayTarget.Parse("timestamp:2024-03-01T08:30:00Z"), TestContext.Current.CancellationToken);
        Assert.All(plan, p => Assert.Equal(130, p.To));
    }

    [Fact]
    public async Task An_unreachable_cluster_is_an_error_that_names_it_and_what_to_check()
    {
        var servers = $"127.0.0.1:{FreePorts.Next()}";
        using var admin = new KafkaConsumerGroupAdmin(new ClientConfig { BootstrapServers = servers }, TimeSpan.FromSeconds(2));
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await ReplayCommand.RunAsync(admin, servers, "g", ["t"], ReplayTarget.Parse("earliest"), dryRun: true, output, errors, TestContext.Current.CancellationToken);
        Assert.Equal(1, code);
        Assert.StartsWith($"replay: could not reach Kafka at {servers} (", errors.ToString(), StringComparison.Ordinal);
        Assert.Contains("Check --bootstrap-servers", errors.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task A_topic_that_does_not_exist_has_no_partitions_and_is_not_created_by_asking()
    {
        var missing = kafka.Unique("no-such-topic");
        using var admin = new KafkaConsumerGroupAdmin(new ClientConfig { BootstrapServers = kafka.BootstrapServers });
        Assert.Empty(await admin.PartitionsAsync(missing, TestContext.Current.CancellationToken));

        // Metadata for one topic by name creates it on a broker with auto.create.topics.enable (the mock always does).
        using var metadata = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        Assert.DoesNotContain(metadata.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == missing);
    }

    [Fact]
    public async Task A_replay_by_timestamp_moves_a_stopped_group_to_the_first_record_at_or_after_it()
    {
        var topic = kafka.Unique("replay");
        for (var i = 0; i < 10; i++)
        {
            await kafka.ProduceAsync(topic, "k", i.ToString(System.Globalization.CultureInfo.InvariantCulture), partition: 0);
        }

        // Record timestamps are the producer's clock in milliseconds: keep the boundary off both sides' milliseconds.
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var middle = DateTimeOffset.UtcNow;
        await Task.Delay(50, TestContext.Current.CancellationToken);
        for (var i = 10; i < 20; i++)
        {
            await kafka.ProduceAsync(topic, "k", i.ToString(System.Globalization.CultureInfo.InvariantCulture), partition: 0);
        }

        using var admin = new KafkaConsumerGroupAdmin(new ClientConfig { BootstrapServers = kafka.BootstrapServers });
        var group = kafka.Unique("g");
        var planner = new ReplayPlanner(admin);
        var gaps = new List<string>();
        long target;
        try
        {
            var plan = await planner.PlanAsync(group, topic, new ReplayTarget(ReplayTargetKind.Timestamp, Timestamp: middle), TestContext.Current.CancellationToken);
            target = Assert.Single(plan, p => p.Partition == 0).To;
            Assert.All(await planner.ApplyAsync(group, [(topic, plan)], TestContext.Current.CancellationToken), r => Assert.Null(r.Error));
        }
        catch (DescribeConsumerGroupsException e) when (kafka.IsMock && e.Results.ConsumerGroupDescriptions.Any(d => d.Error.Code == ErrorCode.Local_UnsupportedFeature))
        {
            // The planner's "no active members" check cannot run here; do its remaining steps one by one.
            gaps.Add("it does not offer DescribeGroups (its handler table in src/rdkafka_mock_handlers.c, advertised through ApiVersions, has no entry for it, so librdkafka "
                + "reports 'Required feature not supported by broker') and the planner cannot check the group for active members");
            var offsets = await admin.OffsetsForTimeAsync(topic, [0], middle, TestContext.Current.CancellationToken);
            target = offsets[0];
            Assert.All(await admin.AlterAsync(group, [new GroupOffset(topic, 0, target)], TestContext.Current.CancellationToken), r => Assert.Null(r.Error));
        }

        // What was planned is what the group got (AlterConsumerGroupOffsets, read back with ListConsumerGroupOffsets).
        var committed = await admin.CommittedAsync(group, topic, [0], TestContext.Current.CancellationToken);
        Assert.Equal(target, committed[0]);

        if (kafka.IsMock && target == 20)
        {
            gaps.Add("it does not look offsets up by timestamp: rd_kafka_mock_handle_ListOffsets (src/rdkafka_mock_handlers.c) answers offset -1 for any "
                + "timestamp ('FIXME: by timestamp'), so OffsetsForTimes finds nothing and the target falls back to the end (20, not 10)");
        }

        if (gaps.Count > 0)
        {
            Assert.Skip("librdkafka's mock cluster: " + string.Join("; ", gaps) + ". "
                + "Verified on the mock: setting the stopped group's offsets (OffsetCommit) and reading them back (OffsetFetch). "
                + "Set CDC_TEST_KAFKA to a real broker to run the whole replay by timestamp.");
        }

        Assert.Equal(10, target);
    }
}
