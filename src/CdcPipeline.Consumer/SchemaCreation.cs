using Npgsql;

namespace CdcPipeline.Consumer;

/// <summary>
/// <c>CREATE … IF NOT EXISTS</c> is not safe against a concurrent creator: while another session's CREATE is
/// uncommitted, the name check does not see it, the catalog insert waits on its index entry, and when it commits
/// this one fails with a unique violation on pg_type/pg_class. Running the statements again then finds the table.
/// </summary>
internal static class SchemaCreation
{
    private const int Attempts = 3;

    public static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (attempt < Attempts && IsConcurrentCreation(e))
            {
            }
        }
    }

    private static bool IsConcurrentCreation(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject;
}
