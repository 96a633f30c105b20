using Confluent.SchemaRegistry;

namespace CdcPipeline.Kafka.Source;

/// <summary>Where the Avro decoder (branch <c>decode</c>, <c>Avro/</c>) plugs in; null until it exists.</summary>
internal static class AvroDecoders
{
    public static IKafkaRecordDecoder? Create(ISchemaRegistryClient registry)
    {
        _ = registry;
        return null;
    }
}
