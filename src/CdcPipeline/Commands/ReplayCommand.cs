using System.CommandLine;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Replay;
using Confluent.Kafka;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>replay --config pipeline.yaml | --bootstrap-servers B [--group G] --topic T --to earliest|latest|offset:P:N|timestamp:ISO [--dry-run]</c>:
/// resets a stopped consumer group so the pipeline re-reads from there. Refuses while the group has
/// members. Deterministic event ids make the re-run safe for downstream de-duplication.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var cluster = new KafkaTarget();
        var group = new Option<string?>("--group") { Description = "the pipeline's consumer group (default: source.kafka.groupId of --config)" };
        var topic = new Option<string>("--topic") { Description = "the Debezium topic to replay", Required = true };
        var to = new Option<string>("--to") { Description = "earliest | latest | offset:PARTITION:OFFSET | timestamp:ISO-8601", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "print old → new offsets per partition, change nothing" };
        var command = new Command("replay", "Reset a stopped pipeline's consumer group to earliest, latest, an offset or a time.") { group, topic, to, dryRun };
        cluster.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            ReplayTarget target;
            try
            {
                target = ReplayTarget.Parse(parse.GetValue(to)!);
            }
            catch (FormatException e)
            {
                await Console.Error.WriteLineAsync($"replay: --to {e.Message}").ConfigureAwait(false);
                return 2;
            }

            if (cluster.Resolve(parse, Console.Error) is not { } resolved)
            {
                return KafkaTarget.Unusable;
            }

            var groupId = parse.GetValue(group) ?? resolved.Pipeline?.Root["source:kafka:groupId"];
            if (string.IsNullOrWhiteSpace(groupId))
            {
                await Console.Error.WriteLineAsync("replay: which consumer group? give --group, or --config with source.kafka.groupId").ConfigureAwait(false);
                return KafkaTarget.Unusable;
            }

            using var admin = new KafkaConsumerGroupAdmin(resolved.Cluster);
            return await RunAsync(admin, resolved.Servers, groupId, parse.GetValue(topic)!, target, parse.GetValue(dryRun), Console.Out, Console.Error, cancellationToken, admin.ClientLog).ConfigureAwait(false);
        });
        return command;
    }

    public static async Task<int> RunAsync(IConsumerGroupAdmin admin, string servers, string group, string topic, ReplayTarget target, bool dryRun, TextWriter output, TextWriter errors, CancellationToken cancellationToken, ClientLogTail? clientLog = null)
    {
        var planner = new ReplayPlanner(admin);
        IReadOnlyList<ReplayPlan> plan;
        try
        {
            plan = await planner.PlanAsync(group, topic, target, cancellationToken).ConfigureAwait(false);
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

        foreach (var p in plan)
        {
            var from = p.From?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
            var note = p.Note is null ? "" : $" ({p.Note})";
            await output.WriteLineAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{topic}/{p.Partition}: {from} -> {p.To}{note}")).ConfigureAwait(false);
        }

        if (dryRun)
        {
            await output.WriteLineAsync("dry run: nothing changed").ConfigureAwait(false);
            return 0;
        }

        try
        {
            await planner.ApplyAsync(group, topic, plan, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException e)
        {
            await errors.WriteLineAsync($"replay: could not set the offsets: {KafkaCommandErrors.Describe(e, servers, clientLog)}").ConfigureAwait(false);
            return 1;
        }

        await output.WriteLineAsync($"group '{group}' reset; start the pipeline to re-read").ConfigureAwait(false);
        return 0;
    }
}
