using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Kafka.Source;

/// <summary>Records written by Kafka Connect's JsonConverter, with or without schemas.</summary>
public sealed class JsonRecordDecoder : IKafkaRecordDecoder
{
    private readonly DebeziumJsonDecoder _decoder;

    public JsonRecordDecoder(DebeziumDecoderOptions? options = null, ConnectSchemaRuleCheck? ruleCheck = null)
    {
        _decoder = new DebeziumJsonDecoder((options ?? DebeziumDecoderOptions.Default) with { RetainRaw = true })
        {
            RuleCheck = ruleCheck,
        };
    }

    public bool UsesSchemaRegistry => false;

    public ValueTask<ChangeEvent> DecodeAsync(DebeziumRecord record, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_decoder.Decode(record));
}
