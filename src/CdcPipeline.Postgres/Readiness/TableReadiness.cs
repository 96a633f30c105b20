namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// What <c>db check</c> learned about one captured table. <see cref="ReplicaIdentity"/> is
/// <c>default</c>, <c>full</c>, <c>index</c> or <c>nothing</c>; <see cref="KeyOnUpdateDelete"/> says whether
/// UPDATE/DELETE changes identify their row (a primary key under <c>default</c>, the index under <c>index</c>, or <c>full</c>;
/// for a partitioned table, in each of its partitions too: <see cref="PartitionsWithoutKey"/> are those that do not).
/// <see cref="Unlogged"/>: an UNLOGGED table, whose changes are not in the WAL and which no publication may hold.
/// <see cref="IdentityIndexCandidate"/>: for a table without a key, a unique index PostgreSQL accepts for REPLICA IDENTITY USING INDEX.
/// <see cref="SchemaUsage"/>: whether the checking role has USAGE on the table's schema (without it <see cref="CanSelect"/> is false).
/// </summary>
public sealed record TableReadiness(
    string Name,
    bool Exists,
    string? Owner,
    bool OwnedByCurrentRole,
    bool CanSelect,
    bool HasPrimaryKey,
    string? ReplicaIdentity,
    bool KeyOnUpdateDelete,
    IReadOnlyList<string> ToastableColumns,
    bool? Published,
    bool Unlogged = false,
    IReadOnlyList<string>? PartitionsWithoutKey = null,
    string? IdentityIndexCandidate = null,
    bool SchemaUsage = true);
