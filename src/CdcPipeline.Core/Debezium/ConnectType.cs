namespace CdcPipeline.Core.Debezium;

/// <summary>Kafka Connect's schema types: the base type every logical (semantic) type is carried in.</summary>
public enum ConnectType
{
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}
