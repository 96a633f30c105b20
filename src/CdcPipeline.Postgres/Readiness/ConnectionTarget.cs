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

    /// <summary>
    /// Npgsql's messages never contain the password, but a server error might echo a connection string: strip it anyway.
    /// Also for a connection string Npgsql refuses (the message says why), so this never throws.
    /// </summary>
    public static string Redact(string message, string connectionString)
    {
        var password = PasswordOf(connectionString);
        return string.IsNullOrEmpty(password) ? message : message.Replace(password, "***", StringComparison.Ordinal);
    }

    private static string? PasswordOf(string connectionString)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString).Password;
        }
        catch (ArgumentException)
        {
            // Not parseable as a whole: take the value of a Password=/Pwd= pair as written.
            return connectionString.Split(';')
                .Select(pair => pair.Split('=', 2))
                .Where(kv => kv.Length == 2 && kv[0].Trim() is var key && (key.Equals("password", StringComparison.OrdinalIgnoreCase) || key.Equals("pwd", StringComparison.OrdinalIgnoreCase)))
                .Select(kv => kv[1].Trim().Trim('\'', '"'))
                .LastOrDefault(value => value.Length > 0);
        }
    }

    public override string ToString() => $"{Host}:{Port}/{Database} as {User}";
}
