using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace CdcPipeline.Postgres;

/// <summary>Meter <c>CdcPipeline.Postgres</c>: slot lag in bytes (<c>pg_current_wal_lsn() - confirmed_flush_lsn</c>), per slot.</summary>
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

    internal static void ReportLag(string slot, long bytes) => SlotLag[slot] = bytes;

    /// <summary>The last measured lag of a slot (null before the first heartbeat measured it).</summary>
    public static long? LastLag(string slot) => SlotLag.TryGetValue(slot, out var v) ? v : null;

    public static long? LastUnpublishedTables(string slot) => null;

    internal static string InstrumentName => LagGauge.Name;
}
