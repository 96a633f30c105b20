using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>Reads replication slots with who holds them; used by <c>db check</c> and <c>slot list|lag|drop</c>.</summary>
public static class SlotInventory
{
    // On a standby pg_current_wal_lsn() raises an error; the replay position is the equivalent there.
    private const string Sql = """
        WITH cur AS (
          SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                      ELSE pg_catalog.pg_current_wal_lsn() END AS lsn)
        SELECT s.slot_name::text, s.plugin::text, s.slot_type, s.database::text, s.temporary, s.active, s.active_pid,
               host(r.client_addr), r.application_name,
               s.restart_lsn::text, s.confirmed_flush_lsn::text,
               (cur.lsn - s.confirmed_flush_lsn)::bigint, (cur.lsn - s.restart_lsn)::bigint, s.wal_status
        FROM pg_catalog.pg_replication_slots s
        CROSS JOIN cur
        LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
        """;

    public static async Task<IReadOnlyList<ReplicationSlotStatus>> ListAsync(NpgsqlConnection connection, string? slot, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(Sql + (slot is null ? " ORDER BY 1" : " WHERE s.slot_name = $1"), connection);
        if (slot is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = slot });
        }

        var slots = new List<ReplicationSlotStatus>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            slots.Add(new ReplicationSlotStatus(
                reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetBoolean(4),
                reader.GetBoolean(5),
                reader.IsDBNull(6) ? null : reader.GetInt32(6),
                reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8),
                reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.IsDBNull(10) ? null : reader.GetString(10),
                reader.IsDBNull(11) ? null : reader.GetInt64(11),
                reader.IsDBNull(12) ? null : reader.GetInt64(12),
                reader.IsDBNull(13) ? null : reader.GetString(13)));
        }

        return slots;
    }
}
