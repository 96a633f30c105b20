using Npgsql;

namespace CdcPipeline.Sinks.Postgres;

/// <summary>
/// Runs a <c>CREATE TABLE IF NOT EXISTS</c> once per instance, on first use (so a sink or store can be
/// built before the database is reachable), tolerating a concurrent creator.
/// </summary>
internal sealed class TableCreation : IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _sql;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private volatile bool _done;

    public TableCreation(NpgsqlDataSource dataSource, string sql, bool enabled)
    {
        _dataSource = dataSource;
        _sql = sql;
        _done = !enabled;
    }

    public async ValueTask EnsureAsync(CancellationToken cancellationToken)
    {
        if (_done)
        {
            return;
        }

        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_done)
            {
                return;
            }

            await using var command = _dataSource.CreateCommand(_sql);
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                // Two creators at once: IF NOT EXISTS is not atomic against a concurrent CREATE
                // (pg_type's unique index fires); the table exists now.
            }

            _done = true;
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();
}
