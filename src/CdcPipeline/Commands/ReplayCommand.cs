using System.CommandLine;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Replay;
using Confluent.Kafka;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>replay --bootstrap-servers B --group G --topic T --to earliest|latest|offset:P:N|timestamp:ISO [--dry-run]</c>:
/// resets a stopped consumer group so the pipeline re-reads from there. Refuses while the group has
/// members. Deterministic event ids make the re-run safe for downstream de-duplication.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var servers = new Option<string>("--bootstrap-servers") { Description = "Kafka bootstrap servers (host:port,…)", Required = true };
        var group = new Option<string>("--group") { Description = "the pipeline's consumer group (source.kafka.groupId)", Required = true };
        var topic = new Option<string>("--topic") { Description = "the Debezium topic to replay", Required = true };
        var to = new Option<string>("--to") { Description = "earliest | latest | offset:PARTITION:OFFSET | timestamp:ISO-8601", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "print old → new offsets per partition, change nothing" };
        var command = new Command("replay", "Reset a stopped pipeline's consumer group to earliest, latest, an offset or a time.") { servers, group, topic, to, dryRun };
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

            using var admin = new KafkaConsumerGroupAdmin(new ClientConfig { BootstrapServers = parse.GetValue(servers) });
            return await RunAsync(admin, parse.GetValue(servers)!, parse.GetValue(group)!, parse.GetValue(topic)!, target, parse.GetValue(dryRun), Console.Out, Console.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static async Task<int> RunAsync(IConsumerGroupAdmin admin, string servers, string group, string topic, ReplayTarget target, bool dryRun, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
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
            await errors.WriteLineAsync($"replay: {KafkaCommandErrors.Describe(e, servers)}").ConfigureAwait(false);
            return 1;
        }

        foreach (var p in plan)
        {
            var from = p.From?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
            await output.WriteLineAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{topic}/{p.Partition}: {from} -> {p.To}")).ConfigureAwait(false);
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
            await errors.WriteLineAsync($"replay: could not set the offsets: {KafkaCommandErrors.Describe(e, servers)}").ConfigureAwait(false);
            return 1;
        }

        await output.WriteLineAsync($"group '{group}' reset; start the pipeline to re-read").ConfigureAwait(false);
        return 0;
    }
}
