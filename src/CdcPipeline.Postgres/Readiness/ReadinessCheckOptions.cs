namespace CdcPipeline.Postgres.Readiness;

/// <summary>What <c>db check</c> checks the database for: the source configuration's publication, slot and tables.</summary>
public sealed record ReadinessCheckOptions
{
    public string Publication { get; init; } = "cdc_pub";

    public string Slot { get; init; } = "cdc_slot";

    /// <summary><c>schema.table</c>; empty: the publication's tables (if it exists).</summary>
    public IReadOnlyList<string> Tables { get; init; } = [];

    /// <summary>Whether the pipeline may create a missing publication itself (<c>createPublicationIfMissing</c>).</summary>
    public bool CreatePublicationIfMissing { get; init; } = true;

    /// <summary>
    /// The <c>application_name</c> of the pipeline's replication connection (<see cref="PgOutputChangeSource.ReplicationApplicationName"/>):
    /// an active slot held under it is the pipeline streaming, not another consumer. Null: the default for <see cref="Slot"/>.
    /// </summary>
    public string? ApplicationName { get; init; }

    /// <summary>Set when Debezium in Kafka Connect reads the slot instead of the pipeline (<c>source.kafka.debezium</c>).</summary>
    public KafkaConnectReadiness? KafkaConnect { get; init; }

    /// <summary>
    /// The role the pipeline (or the connector) logs in as by its configuration, when the check connects otherwise
    /// (<c>--connection</c>): the check reads the privileges of the role it connects as, and says so when this one differs.
    /// Null: the check connects as the configuration says, or no configuration names a role.
    /// </summary>
    public string? ConfiguredRole { get; init; }

    /// <summary>Where <see cref="ConfiguredRole"/> is set (<c>source.postgres.connectionString (pipeline.yaml:4)</c>).</summary>
    public string? ConfiguredRoleSetting { get; init; }
}

/// <summary>
/// The database is read by Debezium in Kafka Connect (<c>source.kafka.debezium</c>), not by the embedded source: Connect
/// creates the slot when the connector starts, the publication is created as <see cref="PublicationAutocreateMode"/>
/// says, and the connector writes its heartbeats and reads signals in tables of its own.
/// </summary>
/// <param name="PublicationAutocreateMode">Debezium's <c>publication.autocreate.mode</c>: <c>disabled</c> means the publication must exist.</param>
/// <param name="HeartbeatTable"><c>schema.table</c> the heartbeat action query writes (INSERT … ON CONFLICT DO UPDATE); null: none.</param>
/// <param name="SignalTable"><c>schema.table</c> of <c>signal.data.collection</c>; null: none.</param>
public sealed record KafkaConnectReadiness(string PublicationAutocreateMode, string? HeartbeatTable, string? SignalTable)
{
    /// <summary>Whether the connector leaves the publication to the DBA (it then fails at start without it).</summary>
    public bool PublicationMustExist => string.Equals(PublicationAutocreateMode, "disabled", StringComparison.Ordinal);

    /// <summary>
    /// Whether the connector sets an existing publication's tables itself: in <c>filtered</c> mode Debezium's
    /// PostgresReplicationConnection.initPublication runs <c>ALTER PUBLICATION … SET TABLE</c> with the captured tables at every
    /// start (createOrUpdatePublicationModeFiltered), which needs ownership of the publication and of every table in the list.
    /// </summary>
    public bool SetsPublicationTables => string.Equals(PublicationAutocreateMode, "filtered", StringComparison.Ordinal);
}
