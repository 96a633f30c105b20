using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Kafka.Source;
using CdcPipeline.Tests.Debezium;

namespace CdcPipeline.Tests.Kafka;

/// <summary>Connector properties under <c>debezium.extra</c> that change the records reach the Kafka source's decoding and topics.</summary>
public sealed class DebeziumConnectorDecodingTests : IDisposable
{
    private readonly PipelineYaml _yaml = new();

    public void Dispose() => _yaml.Dispose();

    private KafkaChangeSource Source(string extra, string format = "json") =>
        (KafkaChangeSource)new KafkaSourceFactory().Create(_yaml.Context($$"""
            name: t
            source:
              kafka:
                bootstrapServers: "127.0.0.1:9"
                format: {{format}}
                schemaRegistryUrl: "http://127.0.0.1:9"
                debezium:
                  topicPrefix: legacy
                  tables: [public.t]
                  extra:
            {{extra}}
            sinks:
              - name: out
                file: { path: out.jsonl }
            """, "kafka", "source:kafka"));

    [Fact]
    public async Task A_custom_unavailable_placeholder_in_the_connector_settings_is_decoded_as_unavailable()
    {
        // connector render sends extra to the connector as written: Debezium then writes "__toast__" for an unchanged TOASTed
        // column. Decoded with Debezium's default placeholder, "__toast__" would reach every sink as the column's value.
        await using var source = Source("""
                    unavailable.value.placeholder: "__toast__"
            """);
        var value = DebeziumJson.Value("""{"type":"string","optional":true}""", "\"__toast__\"", op: "u");

        var change = await source.Decoder.DecodeAsync(
            new DebeziumRecord { Topic = "legacy.public.t", Partition = 0, Offset = 7, Value = Encoding.UTF8.GetBytes(value) },
            TestContext.Current.CancellationToken);

        Assert.Same(Unavailable.Value, change.After!["v"]);
    }

    [Fact]
    public async Task Custom_heartbeat_and_transaction_topic_names_are_the_ones_subscribed_to()
    {
        await using var source = Source("""
                    topic.heartbeat.prefix: "hb"
                    topic.transaction: "txn"
            """);

        Assert.Equal(["legacy.public.t", "hb.legacy", "legacy.txn"], source.Subscription);
    }

    [Fact]
    public void A_binary_handling_mode_debezium_does_not_know_stops_start_up_naming_it()
    {
        var error = Assert.Throws<ConfigurationException>(() => Source("""
                    binary.handling.mode: "base32"
            """));

        Assert.Contains("binary.handling.mode 'base32'", error.Message, StringComparison.Ordinal);
    }
}
