namespace CdcPipeline.Postgres.Types;

/// <summary>What <c>pg_type</c> says about a column type: enough to pick a text converter. <c>TypeModifier</c> is a domain's <c>typtypmod</c> (-1 when none).</summary>
internal sealed record PgTypeInfo(uint Oid, string Name, char TypType, char Category, uint ElementOid, uint BaseOid, char Delimiter, int TypeModifier);
