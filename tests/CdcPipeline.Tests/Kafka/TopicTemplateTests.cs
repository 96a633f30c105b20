using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka.Sink;

namespace CdcPipeline.Tests.Kafka;

/// <summary>A <c>sinks[].kafka.topic</c> that can never name a Kafka topic stops start-up at its line.</summary>
public sealed class TopicTemplateTests : IDisposable
{
    private readonly PipelineYaml _yaml = new();

    [Theory]
    [InlineData("domain events", "' '")]
    [InlineData("domain/{type}", "'/'")]
    [InlineData("..", "not a valid Kafka topic name")]
    public void A_topic_Kafka_would_refuse_names_its_file_line_and_key(string topic, string reason)
    {
        var context = _yaml.Context($$"""
            name: t
            sinks:
              - name: domain
                kafka:
                  bootstrapServers: "127.0.0.1:9"
                  topic: "{{topic}}"
            """, "domain", "sinks:0:kafka");

        var error = Assert.Throws<ConfigurationException>(() => new KafkaSinkFactory().Create(context));

        Assert.True(error.Message.Contains("pipeline.yaml:6: sinks.0.kafka.topic:", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(reason, StringComparison.Ordinal), error.Message);
    }

    public void Dispose() => _yaml.Dispose();
}
