using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Sink;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>A <c>sinks[].kafka.topic</c> that can never name a Kafka topic stops start-up at its line.</summary>
public sealed class TopicTemplateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-topic-template-").FullName;

    [Theory]
    [InlineData("domain events", "' '")]
    [InlineData("domain/{type}", "'/'")]
    [InlineData("..", "not a valid Kafka topic name")]
    public void A_topic_Kafka_would_refuse_names_its_file_line_and_key(string topic, string reason)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, $$"""
            name: t
            sinks:
              - name: domain
                kafka:
                  bootstrapServers: "127.0.0.1:9"
                  topic: "{{topic}}"
            """);
        var configuration = PipelineConfiguration.Load(path, _ => null);
        using var services = new ServiceCollection().AddCdcCore().AddCdcKafka().BuildServiceProvider();
        var context = new PipelineComponentContext("domain", configuration.Root.GetSection("sinks:0:kafka"), configuration.Options, configuration.Locations, configuration.BaseDirectory, services);

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSinkFactory().Create(context));

        Assert.True(error.Message.Contains("pipeline.yaml:6: sinks.0.kafka.topic:", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(reason, StringComparison.Ordinal), error.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
