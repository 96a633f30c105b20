using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Kafka.Source;

/// <summary>Turns one Kafka record into a change event (JSON converter or Avro converter); throws for a record that can never be decoded.</summary>
public interface IKafkaRecordDecoder
{
    ValueTask<ChangeEvent> DecodeAsync(DebeziumRecord record, CancellationToken cancellationToken);

    /// <summary>
    /// Whether decoding may need the Schema Registry (and so may throw <c>SchemaRegistryUnavailableException</c>, which the
    /// source retries). False lets the source decode without its retry machinery, a cost it would otherwise pay per record.
    /// </summary>
    bool UsesSchemaRegistry => true;
}
