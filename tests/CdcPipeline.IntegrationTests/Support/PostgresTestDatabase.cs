using Npgsql;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>A database of its own for a test, with unique slot and publication names; dropped (with its slots) on dispose.</summary>
public sealed class PostgresTestDatabase(string adminConnectionString, string name, string connectionString) : IAsyncDisposable
{
    public string Name { get; } = name;

    public string ConnectionString { get; } = connectionString;

    public string Slot { get; } = name + "_slot";

    public string Publication { get; } = name + "_pub";

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task<List<object?[]>> QueryAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>The slot's confirmed_flush_lsn as a number (0 when the slot is missing).</summary>
    public async Task<ulong> ConfirmedFlushAsync(string? slot = null)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1", connection);
        cmd.Parameters.AddWithValue(slot ?? Slot);
        return await cmd.ExecuteScalarAsync() is long l ? (ulong)l : 0UL;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var admin = new NpgsqlConnection(adminConnectionString);
            await admin.OpenAsync();
            await using (var kill = new NpgsqlCommand(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", admin))
            {
                kill.Parameters.AddWithValue(Name);
                await kill.ExecuteNonQueryAsync();
            }

            for (var attempt = 0; attempt < 50; attempt++)
            {
                try
                {
                    await using var drop = new NpgsqlCommand(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", admin);
                    drop.Parameters.AddWithValue(Name);
                    await drop.ExecuteNonQueryAsync();
                    break;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse)
                {
                    await Task.Delay(100);
                }
            }

            await using var dropDb = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
            await dropDb.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // the server is gone (a test stopped it): nothing left to clean
        }
    }
}
