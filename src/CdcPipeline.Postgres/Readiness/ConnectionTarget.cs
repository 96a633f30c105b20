using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>Where a connection goes, for messages: host, port, database and user — never the password.</summary>
public sealed record ConnectionTarget(string Host, int Port, string Database, string User)
{
    public static ConnectionTarget From(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return new ConnectionTarget(
            builder.Host ?? "localhost",
            builder.Port,
            builder.Database ?? builder.Username ?? "(default)",
            builder.Username ?? Environment.UserName);
    }

    /// <summary>Npgsql's messages never contain the password, but a server error might echo a connection string: strip it anyway.</summary>
    public static string Redact(string message, string connectionString)
    {
        var password = new NpgsqlConnectionStringBuilder(connectionString).Password;
        return string.IsNullOrEmpty(password) ? message : message.Replace(password, "***", StringComparison.Ordinal);
    }

    public override string ToString() => $"{Host}:{Port}/{Database} as {User}";
}
