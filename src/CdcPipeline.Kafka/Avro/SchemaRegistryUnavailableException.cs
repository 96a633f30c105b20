namespace CdcPipeline.Kafka.Avro;

/// <summary>
/// The Schema Registry did not answer a schema look-up (unreachable, a timeout, a 5xx, refused credentials):
/// nothing is known to be wrong with the record, so it is retried, never dead-lettered. A registry that
/// answers "no such schema id" (40403) is a <see cref="Core.Debezium.DebeziumDecodeException"/> instead.
/// </summary>
public sealed class SchemaRegistryUnavailableException : Exception
{
    public SchemaRegistryUnavailableException(int schemaId, string part, Exception inner)
        : base($"the Schema Registry did not answer the look-up of schema id {schemaId} for the {part}: {inner.Message}", inner)
    {
        SchemaId = schemaId;
    }

    public int SchemaId { get; }
}
