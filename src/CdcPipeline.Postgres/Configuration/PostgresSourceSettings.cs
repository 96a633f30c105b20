using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Postgres.Configuration;

/// <summary>
/// <c>source.postgres</c> as written in the YAML file (bound strictly: an unknown key is an error);
/// <see cref="PostgresSourceFactory"/> turns it into <see cref="PostgresSourceOptions"/>.
/// </summary>
public sealed class PostgresSourceSettings
{
    [Required(ErrorMessage = "the legacy database's Npgsql connection string is required")]
    public string ConnectionString { get; set; } = "";

    [Required(ErrorMessage = "the publication name is required (db prepare creates it)")]
    public string Publication { get; set; } = "";

    [Required(ErrorMessage = "the replication slot name is required")]
    [RegularExpression("^[a-z0-9_]{1,63}$", ErrorMessage = "a slot name is 1-63 lower-case letters, digits or '_' (PostgreSQL's rule)")]
    public string Slot { get; set; } = "";

    public List<string> Tables { get; set; } = [];

    /// <summary><c>initial</c> (default), <c>never</c>, <c>initial_only</c> or <c>when_needed</c>.</summary>
    [RegularExpression("^(initial|never|initial_only|when_needed)$", ErrorMessage = "must be one of: initial, never, initial_only, when_needed")]
    public string Snapshot { get; set; } = "initial";

    public string? Name { get; set; }

    public bool CreatePublicationIfMissing { get; set; } = true;

    public bool CreateSlotIfMissing { get; set; } = true;

    public string? StateDirectory { get; set; }

    [Range(1, 10_000_000)]
    public int SnapshotChunkSize { get; set; } = 10_000;

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>With <c>heartbeatInterval</c> 0: how often the slot's wal_status and lag are read (0: never, only at a (re)connection).</summary>
    public TimeSpan SlotCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    public bool IncludeMessages { get; set; } = true;

    public bool Streaming { get; set; } = true;

    [System.ComponentModel.DataAnnotations.Range(0, int.MaxValue)]
    public int MaxStreamedTransactionChanges { get; set; } = 50_000;

    public string? SignalTable { get; set; }

    public List<string> ReselectToastTables { get; set; } = [];

    /// <summary>Debezium's <c>money.fraction.digits</c>: the decimal places of the database's currency (0 for yen).</summary>
    [Range(0, 10, ErrorMessage = "must be 0-10: the decimal places of the database's currency (2 for dollars and euros, 0 for yen)")]
    public int MoneyFractionDigits { get; set; } = 2;

    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    [Range(0, int.MaxValue)]
    public int MaxReconnectAttempts { get; set; }
}
