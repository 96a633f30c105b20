using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Replay;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Setup;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>replay --config pipeline.yaml | --bootstrap-servers B [--group G] [--topic T …] --to earliest|latest|offset:P:N|timestamp:ISO [--dry-run]</c>:
/// resets a stopped consumer group so the pipeline re-reads from there. Refuses while the group has
/// members. Deterministic event ids make the re-run safe for downstream de-duplication.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var cluster = new KafkaTarget();
        var group = new Option<string?>("--group") { Description = "the pipeline's consumer group (default: the group the source of --config joins: source.kafka.consumer group.id, else source.kafka.groupId, else the pipeline name)" };
        var topic = new Option<string[]>("--topic") { Description = "a Debezium topic to replay; repeat it for several (default: every topic the pipeline of --config subscribes to)" };
        var to = new Option<string>("--to") { Description = "earliest | latest | offset:PARTITION:OFFSET | timestamp:ISO-8601 with its zone (2024-03-01T08:00:00Z, 2024-03-01T10:00:00+02:00)", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "print old → new offsets per partition, change nothing" };
        var command = new Command("replay", "Reset a stopped pipeline's consumer group to earliest, latest, an offset or a time.") { group, topic, to, dryRun };
        cluster.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, errors) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            ReplayTarget target;
            try
            {
                target = ReplayTarget.Parse(parse.GetValue(to)!);
            }
            catch (FormatException e)
            {
                return await ExpectedFailure.UsageAsync(parse, $"replay: --to {e.Message}").ConfigureAwait(false);
            }

            if (cluster.Resolve(parse, errors, EmbeddedPath) is not { } resolved)
            {
                return KafkaTarget.Unusable;
            }

            string? groupId;
            IReadOnlyList<string> topics;
            try
            {
                groupId = parse.GetValue(group) ?? GroupOf(resolved.Pipeline);
                topics = parse.GetValue(topic) is { Length: > 0 } given ? given : Subscription(resolved.Pipeline);
            }
            catch (ConfigurationException e)
            {
                // source.kafka as the pipeline would refuse it at start-up: the file, the line, the key and why.
                await errors.WriteLineAsync($"replay: {e.Message}").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }

            if (string.IsNullOrWhiteSpace(groupId))
            {
                await errors.WriteLineAsync("replay: which consumer group? give --group, or --config of a pipeline with a kafka source").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }

            if (topics.Count == 0)
            {
                await errors.WriteLineAsync("replay: which topic? give --topic (repeat it for several), or --config with source.kafka topics, topicPattern or debezium tables").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }

            using var admin = new KafkaConsumerGroupAdmin(resolved.Cluster);
            return await RunAsync(admin, resolved.Servers, groupId, topics, target, parse.GetValue(dryRun), output, errors, cancellationToken, admin.ClientLog).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// An embedded pipeline (<c>source.postgres</c>) has no consumer group to reset, and "give --bootstrap-servers" would
    /// send the operator looking for a broker it never had. Say what reads changes again on that path, with this
    /// pipeline's names: an incremental snapshot of a table (the signal), or a new slot with <c>snapshot: when_needed</c>.
    /// A logical slot cannot go back before what it confirmed, so past changes themselves cannot be read again. Null (the
    /// general message) for a pipeline without <c>source.postgres</c>.
    /// </summary>
    internal static string? EmbeddedPath(PipelineConfiguration pipeline)
    {
        var postgres = pipeline.Root.GetSection("source:postgres");
        if (!postgres.Exists())
        {
            return null;
        }

        var slot = postgres["slot"] is { Length: > 0 } configured ? configured : "SLOT";
        var tables = postgres.GetSection("tables").GetChildren().Select(c => c.Value).OfType<string>().ToList();
        var table = tables.Count > 0 ? tables[0] : "public.orders";
        var where = pipeline.Locations.Describe("source:postgres") ?? pipeline.FilePath;
        var stateDirectory = postgres["stateDirectory"] is { Length: > 0 }
            ? DatabaseTarget.StateDirectoryOf(pipeline).Directory
            : "source.postgres.stateDirectory, by default .run/state/ under the working directory";
        var signalTable = postgres["signalTable"] is { Length: > 0 } configuredSignal ? ReplicationSetup.NormalizeTableName(configuredSignal) : null;
        var resnapshot = PgOutputChangeSource.ResnapshotInstruction(signalTable, table, DateTime.UtcNow);
        return $"replay: {pipeline.FilePath} reads PostgreSQL directly (source.postgres, {where}): replay resets a Kafka source's consumer " +
            "group, and this pipeline has none. The embedded path cannot read past changes again (a logical slot cannot go back before what it confirmed); " +
            $"it can read the tables' current rows again: one table while it runs, {resnapshot.TrimEnd(';')}. Every table: stop the pipeline, " +
            $"'cdcpipeline slot drop {slot} --config {pipeline.FilePath}', and start it with snapshot: when_needed, which creates the " +
            $"slot again and reads every table again (the state file {slot}.snapshot.json in {stateDirectory} tells it the slot it read is gone). " +
            "Such reads are op r changes (rules that react to c, u or d make no events of them); rows deleted meanwhile stay unseen " +
            "(README, Replaying on the embedded path)";
    }

    /// <summary>
    /// The consumer group the configured Kafka source joins (<c>group.id</c> under <c>source.kafka.consumer</c>, else
    /// <c>source.kafka.groupId</c>, else the pipeline's name); null without a Kafka source.
    /// </summary>
    internal static string? GroupOf(PipelineConfiguration? pipeline)
    {
        if (pipeline?.Root.GetSection("source:kafka") is not { } section || !section.Exists())
        {
            return null;
        }

        return ConfigBinding.Bind<KafkaSourceOptions>(section, pipeline.Locations).JoinedGroupId(pipeline.Options.Name);
    }

    /// <summary>The topics (or anchored patterns) the configured Kafka source subscribes to; none without one.</summary>
    internal static IReadOnlyList<string> Subscription(PipelineConfiguration? pipeline)
    {
        if (pipeline?.Root.GetSection("source:kafka") is not { } section || !section.Exists())
        {
            return [];
        }

        return ConfigBinding.Bind<KafkaSourceOptions>(section, pipeline.Locations).Subscription();
    }

    /// <param name="topics">Topic names, or patterns starting with <c>^</c> (as in a subscription). Several are planned
    /// together and reset only when every one could be planned; a listed topic that does not exist yet (Debezium creates a
    /// table's topic with its first change) is skipped when there are others.</param>
    public static async Task<int> RunAsync(IConsumerGroupAdmin admin, string servers, string group, IReadOnlyList<string> topics, ReplayTarget target, bool dryRun, TextWriter output, TextWriter errors, CancellationToken cancellationToken, ClientLogTail? clientLog = null)
    {
        // A pattern that is no regular expression is a typo in --topic (or topicPattern): say so before asking the cluster.
        foreach (var pattern in topics.Where(IsPattern))
        {
            try
            {
                _ = TopicRegex(pattern);
            }
            catch (ArgumentException e)
            {
                await errors.WriteLineAsync($"replay: topic pattern '{pattern}' is not a valid regular expression: {e.Message}").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }
        }

        var planner = new ReplayPlanner(admin);
        var plans = new List<(string Topic, IReadOnlyList<ReplayPlan> Plan)>();
        try
        {
            // One look at the cluster's topics serves both the patterns and the check for topics not created yet.
            var existing = topics.Count > 1 || topics.Any(IsPattern) ? (await admin.TopicsAsync(cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal) : null;
            var names = Expand(topics, existing);
            if (target.Kind == ReplayTargetKind.Offset && names.Count != 1)
            {
                throw new ReplayRefusedException($"offset:{target.Partition}:{target.Offset} names a partition of one topic, and this replay has {names.Count} ({string.Join(", ", names)}): give exactly one --topic");
            }

            foreach (var name in names)
            {
                if (existing is not null && !existing.Contains(name))
                {
                    await output.WriteLineAsync($"{name}: does not exist (yet); nothing to reset").ConfigureAwait(false);
                    continue;
                }

                if (plans.Count == 0)
                {
                    // The group is the same for every topic: its members are asked once, before the first plan.
                    await planner.RequireStoppedAsync(group, cancellationToken).ConfigureAwait(false);
                }

                plans.Add((name, await planner.PlanTopicAsync(group, name, target, cancellationToken).ConfigureAwait(false)));
            }

            if (plans.Count == 0)
            {
                throw new ReplayRefusedException($"none of the topics exists: {string.Join(", ", names)}");
            }
        }
        catch (ReplayRefusedException e)
        {
            await errors.WriteLineAsync($"replay: refused: {e.Message}").ConfigureAwait(false);
            return 3;
        }
        catch (KafkaException e)
        {
            await errors.WriteLineAsync($"replay: {KafkaCommandErrors.Describe(e, servers, clientLog)}").ConfigureAwait(false);
            return 1;
        }

        // The lag says what the reset means: how many records the restarted pipeline reads again, or skips.
        foreach (var (topic, plan) in plans)
        {
            foreach (var p in plan)
            {
                var from = p.From?.ToString(CultureInfo.InvariantCulture) ?? "none";
                var lagBefore = p.LagBefore is { } before ? before.ToString(CultureInfo.InvariantCulture) + " -> " : "";
                var note = p.Note is null ? "" : $" ({p.Note})";
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{topic}/{p.Partition}: {from} -> {p.To}, lag {lagBefore}{p.LagAfter}{note}")).ConfigureAwait(false);
            }
        }

        var lag = plans.Sum(t => t.Plan.Sum(p => p.LagAfter));
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"lag after the reset: {lag} record(s) to read")).ConfigureAwait(false);

        // Kafka sets offsets for a group that does not exist (a new pipeline's, before its first start), as kafka-consumer-groups
        // does; a mistyped --group would then look like a replay done. Said for a reset of every partition only: an offset:
        // target asks about one partition, which a live group may never have committed.
        if (target.Kind != ReplayTargetKind.Offset && plans.All(t => t.Plan.All(p => p.From is null)))
        {
            await errors.WriteLineAsync(
                $"replay: group '{group}' has no committed offset on any partition of {string.Join(", ", plans.Select(t => t.Topic))}: a new group, or a mistyped --group; "
                + $"a pipeline reads these offsets only if its consumer joins '{group}' (source.kafka.groupId)").ConfigureAwait(false);
        }

        if (dryRun)
        {
            await output.WriteLineAsync("dry run: nothing changed").ConfigureAwait(false);
            return 0;
        }

        // One request for every partition of every topic: Kafka sets each partition or says why not, so the group is never
        // left half-replayed without the operator being told exactly which half.
        var partitions = plans.Sum(t => t.Plan.Count);
        IReadOnlyList<GroupOffset> results;
        try
        {
            results = await planner.ApplyAsync(group, plans, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException e)
        {
            await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"replay: could not set the offsets of group '{group}' ({partitions} partition(s) of {plans.Count} topic(s), one request; none is known to be set): {KafkaCommandErrors.Describe(e, servers, clientLog)}")).ConfigureAwait(false);
            await errors.WriteLineAsync(Rerun).ConfigureAwait(false);
            return 1;
        }

        var failed = results.Count(r => r.Error is not null);
        if (failed > 0)
        {
            await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"replay: group '{group}' was reset on {results.Count - failed} of {results.Count} partition(s) only; Kafka did not set the others:")).ConfigureAwait(false);
            foreach (var r in results)
            {
                await errors.WriteLineAsync(r.Error is null
                    ? string.Create(CultureInfo.InvariantCulture, $"  set: {r.Topic}/{r.Partition} -> {r.Offset}")
                    : string.Create(CultureInfo.InvariantCulture, $"  NOT set: {r.Topic}/{r.Partition} -> {r.Offset}: {r.Error}")).ConfigureAwait(false);
            }

            await errors.WriteLineAsync(Rerun).ConfigureAwait(false);
            return 1;
        }

        await output.WriteLineAsync($"group '{group}' reset on {plans.Count} topic(s); start the pipeline to re-read").ConfigureAwait(false);
        return 0;
    }

    /// <summary>How to finish a replay Kafka took in part or not at all: planning again gives the same offsets (the same
    /// positions for earliest, latest and a time, read again from the partitions) and setting them again is harmless.</summary>
    private const string Rerun = "replay: do not start the pipeline yet; once the cause is fixed, run the same replay again to finish: "
        + "it plans every partition again and sets them all, those already set included, to the same target";

    private static bool IsPattern(string topic) => topic.StartsWith('^');

    private static Regex TopicRegex(string pattern) => new(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    /// <summary>Topic names as given, patterns (<c>^…</c>) replaced by the <paramref name="existing"/> topics they match; a pattern that matches none is refused.</summary>
    private static List<string> Expand(IReadOnlyList<string> topics, IReadOnlySet<string>? existing)
    {
        var names = new List<string>();
        foreach (var topic in topics)
        {
            if (!IsPattern(topic))
            {
                names.Add(topic);
                continue;
            }

            var pattern = TopicRegex(topic);
            var matched = existing!.Order(StringComparer.Ordinal)
                .Where(t => !t.StartsWith("__consumer_offsets", StringComparison.Ordinal) && !t.StartsWith("__transaction_state", StringComparison.Ordinal) && pattern.IsMatch(t))
                .ToList();
            if (matched.Count == 0)
            {
                throw new ReplayRefusedException($"no topic matches the pattern '{topic}'");
            }

            names.AddRange(matched);
        }

        return names.Distinct(StringComparer.Ordinal).ToList();
    }
}
