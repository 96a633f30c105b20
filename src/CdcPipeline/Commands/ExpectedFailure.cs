using System.CommandLine;
using System.Net.Sockets;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;
using Npgsql;

namespace CdcPipeline.Commands;

/// <summary>
/// The one place that tells a failure an operator expects and can fix (bad configuration, a database or cluster that
/// cannot be reached or refuses the credentials, state another process holds, a capture that cannot go on) from a bug. An expected failure is one
/// line and an exit code; only a bug is shown with its stack trace.
/// </summary>
internal static class ExpectedFailure
{
    /// <summary>The work failed (a database, a cluster, a file): fix that and run again.</summary>
    public const int Failed = 1;

    /// <summary>The command line or the configuration is wrong: nothing was done.</summary>
    public const int Usage = 2;

    /// <summary>
    /// A command line the command refuses after parsing (a missing combination, an unset variable an option names):
    /// <paramref name="message"/> and, as after a value the parser refuses, where to read more; <see cref="Usage"/>.
    /// </summary>
    public static async Task<int> UsageAsync(ParseResult parse, string message)
    {
        var error = parse.InvocationConfiguration.Error;
        await error.WriteLineAsync(message).ConfigureAwait(false);
        await error.WriteLineAsync(CommandLineApp.SeeHelp(CommandLineApp.CommandPath(parse))).ConfigureAwait(false);
        return Usage;
    }

    /// <summary>The exit code of an expected failure; null for an unexpected one (a bug, to show with its stack trace).</summary>
    public static int? ExitCode(Exception e) => e switch
    {
        ConfigurationException => Usage,
        PostgresException pg => IsOperational(pg.SqlState) ? Failed : null,
        // Not from the server: a connection refused, a host not found, a timeout, a broken connection.
        NpgsqlException or SocketException or TimeoutException => Failed,
        StateDirectoryInUseException => Failed,
        // The capture says what stopped it and what to do (a lost or dropped slot, a missing GRANT, ...).
        CaptureStoppedException => Failed,
        // The failure store's own error decides (a database that cannot be reached, or a bug).
        FailureStoreException { InnerException: { } stored } => ExitCode(stored),
        // A dead-letter file that cannot be written (its directory, the disk) is the operator's to fix, as the topic's producer failing.
        DeadLetterStoreException { InnerException: IOException or UnauthorizedAccessException } => Failed,
        DeadLetterStoreException { InnerException: { } kept } => ExitCode(kept),
        // librdkafka's local errors for a call the code got wrong are bugs; the rest come from the cluster.
        KafkaException k => k.Error.Code is ErrorCode.Local_InvalidArg or ErrorCode.Local_State ? null : Failed,
        _ => null,
    };

    /// <summary>What went wrong, in one line: the server's own text for a PostgreSQL error, the cause of a connection failure.</summary>
    public static string Describe(Exception e)
    {
        if (e is PostgresException pg)
        {
            return $"{pg.MessageText} (SQLSTATE {pg.SqlState})";
        }

        var message = e.Message;
        if (e is NpgsqlException && e.InnerException is { } inner)
        {
            // "Failed to connect to 127.0.0.1:5432" says where; the inner exception says why (connection refused, timeout).
            message += " (" + inner.Message + ")";
        }

        return message.ReplaceLineEndings(" ");
    }

    /// <summary>
    /// A database that cannot be used, in one line: <see cref="Describe"/> without the connection string's secrets, and
    /// where that connection is configured (<paramref name="key"/>, its file and line) for the operator to check.
    /// </summary>
    public static string UnusableDatabase(Exception e, PipelineConfiguration configuration, string key)
    {
        var where = configuration.Locations.Describe(key) ?? configuration.FilePath;
        var connectionString = configuration.Root[key] ?? "";
        var setting = $"{key.Replace(':', '.')} ({where})";
        return Postgres.Readiness.ConnectionTarget.Redact(Describe(e), connectionString)
            + (RefusedLogin(e, connectionString, setting) ?? $"; check that the server is up and that {setting} is right");
    }

    /// <summary>
    /// For a server that answered and refused the login (28P01 invalid_password, 28000 invalid_authorization_specification: no
    /// such role, a role that may not log in, no pg_hba.conf entry), what to check instead of whether it is up: the user (named
    /// from the connection string, never the password) and the password in <paramref name="setting"/>, and pg_hba.conf. Null
    /// for any other failure.
    /// </summary>
    public static string? RefusedLogin(Exception e, string connectionString, string setting)
    {
        if (e is not PostgresException { SqlState: PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification })
        {
            return null;
        }

        string user;
        try
        {
            user = Postgres.Readiness.ConnectionTarget.From(connectionString).User;
        }
        catch (ArgumentException)
        {
            user = "(see the connection string)";
        }

        return $"; the server refused the credentials of user {user}: check the user and password in {setting} and the server's pg_hba.conf";
    }

    /// <summary>
    /// Server errors an operator fixes outside our code: the connection (08), the credentials (28), a database that does
    /// not exist (3D000), the server's limits (53: too many connections, disk full), an administrator's shutdown or a
    /// server starting up (57P), a missing privilege (42501), the server's state (55: wal_level, a slot in use), a
    /// read-only server (25006). Anything else from the server (a syntax error, an undefined column) is our bug.
    /// </summary>
    private static bool IsOperational(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal)
        || sqlState.StartsWith("28", StringComparison.Ordinal)
        || sqlState.StartsWith("53", StringComparison.Ordinal)
        || sqlState.StartsWith("55", StringComparison.Ordinal)
        || sqlState.StartsWith("57P", StringComparison.Ordinal)
        || sqlState is "3D000" or "42501" or "25006";
}
