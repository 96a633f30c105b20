namespace CdcPipeline.Postgres.Readiness;

/// <summary>What <c>db prepare</c> sets up: a replication role, its grants, our schema with heartbeat and signal tables, the publication.</summary>
public sealed record PrepareOptions
{
    public const string DefaultSchema = "cdc";
    public const string HeartbeatTableName = "cdc_heartbeat";
    public const string SignalTableName = "cdc_signal";

    public string Role { get; init; } = "cdc";

    /// <summary>Name of the environment variable holding the role's password (never the password itself).</summary>
    public string? PasswordEnvironmentVariable { get; init; }

    public string Publication { get; init; } = "cdc_pub";

    /// <summary>The legacy tables to capture, <c>schema.table</c>.</summary>
    public IReadOnlyList<string> Tables { get; init; } = [];

    /// <summary>Tables that get <c>REPLICA IDENTITY FULL</c> (the only change <c>db prepare</c> makes to an application table).</summary>
    public IReadOnlyList<string> ReplicaIdentityFull { get; init; } = [];

    /// <summary>When the publication exists: make its table list exactly ours (<c>ALTER PUBLICATION … SET TABLE</c>).</summary>
    public bool SyncPublication { get; init; }

    /// <summary>Our own schema for the heartbeat and signal tables.</summary>
    public string Schema { get; init; } = DefaultSchema;

    public string HeartbeatTable => Schema + "." + HeartbeatTableName;

    public string SignalTable => Schema + "." + SignalTableName;
}
