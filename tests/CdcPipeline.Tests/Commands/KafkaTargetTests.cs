using System.CommandLine;
using CdcPipeline.Commands;

namespace CdcPipeline.Tests.Commands;

/// <summary>What <c>replay</c> and <c>dlq</c> say about a Kafka cluster they cannot use.</summary>
public sealed class KafkaTargetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-kafka-target-").FullName;

    [Fact]
    public void Bootstrap_servers_with_credentials_are_refused_without_repeating_them()
    {
        // librdkafka would look "alice:S3cret-pw@broker" up as a host name, and the command's error would quote
        // librdkafka's "Failed to resolve 'alice:S3cret-pw@broker:9092'" and the servers it could not reach.
        var file = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(file, """
            name: t
            source:
              kafka:
                bootstrapServers: "SASL_SSL://alice:S3cret-pw@broker:9092"
                topics: [legacy.public.orders]
            sinks:
              - name: out
                file: { path: out.jsonl }
            """);

        var (fromOption, optionError) = Resolve("--bootstrap-servers", "alice:S3cret-pw@broker:9092");
        var (fromConfig, configError) = Resolve("--config", file);

        Assert.Null(fromOption);
        Assert.StartsWith("--bootstrap-servers: broker 1 of 1 holds credentials", optionError, StringComparison.Ordinal);
        Assert.Null(fromConfig);
        Assert.StartsWith($"{file}:4: source.kafka.bootstrapServers: broker 1 of 1 holds credentials", configError, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret", optionError + configError, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (KafkaTarget.Resolved? Resolved, string Error) Resolve(params string[] args)
    {
        var target = new KafkaTarget();
        var command = new RootCommand();
        target.AddTo(command);
        using var error = new StringWriter();
        var resolved = target.Resolve(command.Parse(args), error);
        return (resolved, error.ToString());
    }
}
