using Confluent.Kafka;

namespace CdcPipeline.Kafka.Source;

/// <summary>A record fetched by the poll thread under the ownership <see cref="Epoch"/> of its partition.</summary>
internal readonly record struct FetchedRecord(ConsumeResult<byte[]?, byte[]?> Result, long Epoch);
