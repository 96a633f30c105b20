using System.Text;
using System.Text.RegularExpressions;
using CdcPipeline.Core.Configuration;
using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>Where a connection goes, for messages: host, port, database and user — never the password.</summary>
public sealed partial record ConnectionTarget(string Host, int Port, string Database, string User)
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
    /// The value of a <c>Password=</c>/<c>Pwd=</c> pair and a URL's user info are always hidden. Elsewhere the password is
    /// hidden wherever it appears, except inside the user name, database or host, which the messages print anyway
    /// (<see cref="ToString"/>): with user and password both <c>cdc</c>, <c>role "cdc" does not exist</c> stays as the
    /// server wrote it, where <c>role "***"</c> hid nothing and told the reader the password is the user name.
    /// </summary>
    public static string Redact(string message, string connectionString)
    {
        var password = PasswordOf(connectionString);
        if (string.IsNullOrEmpty(password))
        {
            return message;
        }

        message = UrlCredentials.HideIn(PasswordPair().Replace(message, "${key}***"));
        var shown = ShownNames(connectionString).Where(name => name.Contains(password, StringComparison.Ordinal)).OrderByDescending(name => name.Length).ToList();
        if (shown.Count == 0)
        {
            return message.Replace(password, "***", StringComparison.Ordinal);
        }

        var redacted = new StringBuilder(message.Length);
        for (var i = 0; i < message.Length;)
        {
            if (shown.FirstOrDefault(name => message.AsSpan(i).StartsWith(name, StringComparison.Ordinal)) is { } name)
            {
                redacted.Append(name);
                i += name.Length;
            }
            else if (message.AsSpan(i).StartsWith(password, StringComparison.Ordinal))
            {
                redacted.Append("***");
                i += password.Length;
            }
            else
            {
                redacted.Append(message[i++]);
            }
        }

        return redacted.ToString();
    }

    /// <summary>The user name, database and host as <see cref="ToString"/> prints them; none for a connection string Npgsql refuses.</summary>
    private static IEnumerable<string> ShownNames(string connectionString)
    {
        ConnectionTarget target;
        try
        {
            target = From(connectionString);
        }
        catch (ArgumentException)
        {
            return [];
        }

        return [target.User, target.Database, target.Host];
    }

    [GeneratedRegex(@"(?<key>\b(?:password|pwd)\s*=\s*)(?:'[^']*'|""[^""]*""|[^;\s]*)", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordPair();

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
