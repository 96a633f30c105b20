using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace CdcPipeline.Postgres;

/// <summary>
/// Meter <c>CdcPipeline.Postgres</c>: slot lag in bytes (<c>pg_current_wal_lsn() - confirmed_flush_lsn</c>), captured tables
/// missing from the publication, per slot, and snapshot progress per slot and table.
/// </summary>
public static class PostgresMetrics
{
    public const string MeterName = "CdcPipeline.Postgres";

    private static readonly Meter Meter = new(MeterName);
    private static readonly ConcurrentDictionary<string, long> SlotLag = new(StringComparer.Ordinal);

    private static readonly ObservableGauge<long> LagGauge = Meter.CreateObservableGauge(
        "cdc.postgres.slot.lag",
        () => SlotLag.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("slot", kv.Key))),
        unit: "By",
        description: "WAL bytes between pg_current_wal_lsn() and the slot's confirmed_flush_lsn");

    private static readonly ConcurrentDictionary<string, long> UnpublishedTables = new(StringComparer.Ordinal);

    // Degraded, not down: the capture goes on for the other tables, but these tables' changes do not arrive (alert on > 0).
    private static readonly ObservableGauge<long> UnpublishedGauge = Meter.CreateObservableGauge(
        "cdc.postgres.publication.unpublished_tables",
        () => UnpublishedTables.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("slot", kv.Key))),
        unit: "{table}",
        description: "Captured tables that exist but are not in the publication (checked at start and at every heartbeat): their changes are not captured");

    private static readonly ConcurrentDictionary<(string Slot, string Table), (long Rows, long Estimated)> SnapshotRows = new();

    // What the log's snapshot lines (events 1010-1012, 1051) say, for a dashboard: rows so far against the estimate.
    private static readonly ObservableGauge<long> SnapshotRowsGauge = Meter.CreateObservableGauge(
        "cdc.postgres.snapshot.rows",
        () => SnapshotRows.Select(kv => new Measurement<long>(kv.Value.Rows, SnapshotTags(kv.Key))),
        unit: "{row}",
        description: "Rows of the table's running or last snapshot (initial or incremental) read so far: per chunk read (initial) or acknowledged (incremental)");

    private static readonly ObservableGauge<long> SnapshotEstimateGauge = Meter.CreateObservableGauge(
        "cdc.postgres.snapshot.rows_estimated",
        () => SnapshotRows.Where(kv => kv.Value.Estimated >= 0).Select(kv => new Measurement<long>(Math.Max(kv.Value.Rows, kv.Value.Estimated), SnapshotTags(kv.Key))),
        unit: "{row}",
        description: "PostgreSQL's estimate of the table's rows when its snapshot started (none for a table never analysed)");

    private static KeyValuePair<string, object?>[] SnapshotTags((string Slot, string Table) key) =>
        [new("slot", key.Slot), new("table", key.Table)];

    internal static void ReportSnapshotRows(string slot, string table, long rows, long estimated) => SnapshotRows[(slot, table)] = (rows, estimated);

    /// <summary>The rows a table's running or last snapshot read so far and PostgreSQL's estimate (-1: none); null before one started.</summary>
    public static (long Rows, long Estimated)? LastSnapshotRows(string slot, string table) =>
        SnapshotRows.TryGetValue((slot, table), out var v) ? v : null;

    internal static void ReportLag(string slot, long bytes) => SlotLag[slot] = bytes;

    /// <summary>The last measured lag of a slot (null before the first heartbeat measured it).</summary>
    public static long? LastLag(string slot) => SlotLag.TryGetValue(slot, out var v) ? v : null;

    internal static void ReportUnpublishedTables(string slot, int count) => UnpublishedTables[slot] = count;

    /// <summary>How many captured tables the last check found missing from the publication (null before the first check).</summary>
    public static long? LastUnpublishedTables(string slot) => UnpublishedTables.TryGetValue(slot, out var v) ? v : null;

    internal static string InstrumentName => LagGauge.Name;
}
