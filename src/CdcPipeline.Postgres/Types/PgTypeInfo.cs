namespace CdcPipeline.Postgres.Types;

/// <summary>What <c>pg_type</c> says about a column type: enough to pick a text converter.</summary>
internal sealed record PgTypeInfo(uint Oid, string Name, char TypType, char Category, uint ElementOid, uint BaseOid, char Delimiter);
