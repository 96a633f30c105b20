using CdcPipeline.Consumer;
using Npgsql;

namespace DownstreamBilling;

/// <summary>The command line of downstream-billing (Program.cs only wires the console and Ctrl+C to it).</summary>
internal static class BillingApp
{
    private const string Usage = "usage: downstream-billing --connection CONNSTRING --events FILE [--follow]";

    /// <returns>0 when done; 1 when the database or the events file cannot be used; 2 on a wrong command line.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        string? connection = null;
        string? events = null;
        var follow = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--connection" when i + 1 < args.Length:
                    connection = args[++i];
                    break;
                case "--events" when i + 1 < args.Length:
                    events = args[++i];
                    break;
                case "--follow":
                    follow = true;
                    break;
                default:
                    await error.WriteLineAsync($"unknown argument '{args[i]}'; {Usage}").ConfigureAwait(false);
                    return 2;
            }
        }

        if (connection is null || events is null)
        {
            await error.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        NpgsqlConnectionStringBuilder target;
        try
        {
            target = new NpgsqlConnectionStringBuilder(connection);
        }
        catch (ArgumentException e)
        {
            // Npgsql's message names the keyword, never the value (which may be the password).
            await error.WriteLineAsync($"billing: --connection is not a PostgreSQL connection string ({e.Message}); {Usage}").ConfigureAwait(false);
            return 2;
        }

        if (!File.Exists(events))
        {
            await error.WriteLineAsync($"billing: --events '{events}' does not exist: give the file the pipeline's file sink writes (e.g. out/legacy-orders-events.jsonl)").ConfigureAwait(false);
            return 1;
        }

        await using var dataSource = NpgsqlDataSource.Create(target);
        var consumer = new IdempotentConsumer(dataSource, BillingProjection.ConsumerName);
        // The handler named as a service stores it (a field, an option, a DI registration): under implicit usings the type's
        // name must not clash with System's.
        ConsumedEventHandler handler = BillingProjection.HandleAsync;
        var (applied, duplicates) = (0, 0);
        try
        {
            await consumer.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
            await using (var schema = dataSource.CreateCommand(BillingProjection.SchemaSql))
            {
                await schema.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await foreach (var evt in JsonLinesEvents.ReadAsync(events, follow, error, cancellationToken).ConfigureAwait(false))
            {
                var result = await consumer.HandleAsync(evt, handler, cancellationToken).ConfigureAwait(false);
                _ = result == HandleResult.Applied ? applied++ : duplicates++;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (NpgsqlException e)
        {
            // One line a user can act on instead of a stack trace: where it tried (never the password) and what failed. What was
            // applied so far is committed; what was not is not marked, so the next run applies it.
            var reason = e is PostgresException pg ? $"{pg.SqlState}: {pg.MessageText}" : e.Message;
            await error.WriteLineAsync(
                $"billing: PostgreSQL at {target.Host}:{target.Port}, database '{target.Database}', user '{target.Username}' cannot be used: {reason}. " +
                $"Check that the server runs and accepts connections there, that the database exists (CREATE DATABASE {target.Database}) and the " +
                $"credentials in --connection; then run again ({applied} event(s) applied before, the rest are applied then)").ConfigureAwait(false);
            return 1;
        }

        await output.WriteLineAsync($"billing: {applied} event(s) applied, {duplicates} duplicate(s) skipped").ConfigureAwait(false);
        return 0;
    }
}
