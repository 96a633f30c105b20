using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Kafka.Avro;
using Confluent.SchemaRegistry;

namespace CdcPipeline.Kafka.Source;

/// <summary>Records written by Confluent's AvroConverter (Schema Registry wire format).</summary>
public sealed class AvroRecordDecoder : IKafkaRecordDecoder
{
    private readonly DebeziumAvroDecoder _decoder;

    public AvroRecordDecoder(ISchemaRegistryClient registry, DebeziumDecoderOptions? options = null, ConnectSchemaRuleCheck? ruleCheck = null)
    {
        _decoder = new DebeziumAvroDecoder(registry, (options ?? DebeziumDecoderOptions.Default) with { RetainRaw = true })
        {
            RuleCheck = ruleCheck,
        };
    }

    public ValueTask<ChangeEvent> DecodeAsync(DebeziumRecord record, CancellationToken cancellationToken) =>
        _decoder.DecodeAsync(record, cancellationToken);
}
