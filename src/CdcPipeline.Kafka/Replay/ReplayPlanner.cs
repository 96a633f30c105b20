using System.Globalization;

namespace CdcPipeline.Kafka.Replay;

/// <summary>
/// Computes and applies a consumer-group reset. It refuses while the group has members: their next
/// commit would overwrite the reset (and Kafka rejects AlterConsumerGroupOffsets for an active group
/// anyway). Stop the pipeline, replay, start it again. Deterministic event ids make the re-run safe for
/// downstream de-duplication: the same records produce the same ids.
/// </summary>
/// <param name="time">The clock a <c>timestamp:</c> target is compared with (default: the system's).</param>
public sealed class ReplayPlanner(IConsumerGroupAdmin admin, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The plan for one topic, the group's members asked first (see <see cref="RequireStoppedAsync"/>).</summary>
    public async Task<IReadOnlyList<ReplayPlan>> PlanAsync(string group, string topic, ReplayTarget target, CancellationToken cancellationToken)
    {
        await RequireStoppedAsync(group, cancellationToken).ConfigureAwait(false);
        return await PlanTopicAsync(group, topic, target, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Refuses while the group has members, naming them (one DescribeConsumerGroups request): once per replay, however many topics it covers.</summary>
    public async Task RequireStoppedAsync(string group, CancellationToken cancellationToken)
    {
        var members = await admin.ActiveMembersAsync(group, cancellationToken).ConfigureAwait(false);
        if (members.Count > 0)
        {
            throw new ReplayRefusedException($"consumer group '{group}' has {members.Count} active member(s) ({string.Join(", ", members)}): stop the pipeline first, then replay");
        }
    }

    /// <summary>The plan for one topic of a replay whose group <see cref="RequireStoppedAsync"/> found without members.</summary>
    public async Task<IReadOnlyList<ReplayPlan>> PlanTopicAsync(string group, string topic, ReplayTarget target, CancellationToken cancellationToken)
    {
        var partitions = await admin.PartitionsAsync(topic, cancellationToken).ConfigureAwait(false);
        if (partitions.Count == 0)
        {
            // legacy.public.* is a shell glob, not a topic: a pattern is a regular expression marked by ^, as in a subscription.
            var hint = topic.AsSpan().IndexOfAny('*', '?', '[') >= 0
                ? $"; a topic pattern is a regular expression that starts with ^ (e.g. --topic '^{topic.Replace(".", "\\.", StringComparison.Ordinal).Replace("*", ".*", StringComparison.Ordinal).Replace("?", ".", StringComparison.Ordinal)}$')"
                : "";
            throw new ReplayRefusedException($"topic '{topic}' does not exist or has no partitions{hint}");
        }

        if (target.Kind == ReplayTargetKind.Offset && !partitions.Contains(target.Partition!.Value))
        {
            throw new ReplayRefusedException($"topic '{topic}' has no partition {target.Partition} (it has {string.Join(", ", partitions)})");
        }

        var selected = target.Kind == ReplayTargetKind.Offset ? [target.Partition!.Value] : partitions;
        var committed = await admin.CommittedAsync(group, topic, selected, cancellationToken).ConfigureAwait(false);
        var marks = await admin.WatermarksAsync(topic, selected, cancellationToken).ConfigureAwait(false);
        IReadOnlyDictionary<int, long>? byTime = target.Kind == ReplayTargetKind.Timestamp
            ? await admin.OffsetsForTimeAsync(topic, selected, target.Timestamp!.Value, cancellationToken).ConfigureAwait(false)
            : null;
        if (byTime is not null && target.Timestamp!.Value > _time.GetUtcNow() && selected.All(p => byTime[p] >= marks[p].High))
        {
            // No record is at or after a time still to come (the brokers were asked: a producer's clock ahead of this machine's
            // would have shown up): every partition would move to its end, past the changes the stopped pipeline has not read
            // yet. A skip, not a replay - most likely a wrong year or time zone.
            var asked = target.Timestamp.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
            var now = _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            throw new ReplayRefusedException(
                $"timestamp {asked} is in the future (it is now {now}) and '{topic}' has no record at or after it: every partition would skip to its end, "
                + "past the changes the group has not read yet. Check the date and the time zone; to skip to the end on purpose, use --to latest");
        }

        var plan = new List<ReplayPlan>();
        foreach (var p in selected.Order())
        {
            var (low, high) = marks[p];
            var to = target.Kind switch
            {
                ReplayTargetKind.Earliest => low,
                ReplayTargetKind.Latest => high,
                ReplayTargetKind.Offset => Math.Clamp(target.Offset!.Value, low, high),
                _ => byTime![p],
            };
            plan.Add(new ReplayPlan(p, committed.GetValueOrDefault(p), to, high, Note(target, to, low, high)));
        }

        return plan;
    }

    /// <summary>
    /// Sets every planned partition of every topic in one request, so a replay over several topics is one change: one
    /// result per planned partition, in plan order, with <see cref="GroupOffset.Error"/> set for each Kafka did not set
    /// (a partition its answer left out included: it is not known to be set). Applying the same plans again sets the same
    /// offsets, so a replay that failed in part is finished by running it again.
    /// </summary>
    public async Task<IReadOnlyList<GroupOffset>> ApplyAsync(string group, IReadOnlyList<(string Topic, IReadOnlyList<ReplayPlan> Plan)> plans, CancellationToken cancellationToken)
    {
        var asked = plans.SelectMany(t => t.Plan.Select(p => new GroupOffset(t.Topic, p.Partition, p.To))).ToList();
        var answered = await admin.AlterAsync(group, asked, cancellationToken).ConfigureAwait(false);
        var byPartition = new Dictionary<(string, int), GroupOffset>();
        foreach (var result in answered)
        {
            byPartition.TryAdd((result.Topic, result.Partition), result);
        }

        return asked.Select(a => byPartition.TryGetValue((a.Topic, a.Partition), out var result)
                ? a with { Error = result.Error }
                : a with { Error = "Kafka's answer does not mention this partition" })
            .ToList();
    }

    /// <summary>What an operator would otherwise not see: the partition could not give what was asked for.</summary>
    private static string? Note(ReplayTarget target, long to, long low, long high) => target.Kind switch
    {
        ReplayTargetKind.Offset when target.Offset > high => string.Create(CultureInfo.InvariantCulture, $"offset {target.Offset} is past the end ({high}): set to the end"),
        ReplayTargetKind.Offset when target.Offset < low => string.Create(CultureInfo.InvariantCulture, $"offset {target.Offset} is no longer retained (the earliest is {low}): set to the earliest"),
        ReplayTargetKind.Timestamp when to >= high && high > low => string.Create(CultureInfo.InvariantCulture, $"no record at or after {target.Timestamp!.Value.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'}: set to the end"),
        _ => null,
    };
}
