namespace CdcPipeline.Core.Changes;

/// <summary>A logical decoding message written with <c>pg_logical_emit_message(transactional, prefix, content)</c>.</summary>
public sealed record LogicalMessage(string Prefix, byte[] Content, bool Transactional);
