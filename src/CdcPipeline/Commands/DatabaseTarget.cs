using System.CommandLine;
using System.Net.Sockets;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Postgres.Readiness;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace CdcPipeline.Commands;

/// <summary>
/// The options every database command shares (<c>--config</c> or <c>--connection</c>, <c>--tables</c>,
/// <c>--publication</c>, <c>--slot</c>) and opening the connection with an error that names host, port and database
/// — never the password. Explicit options override the configuration file's <c>source.postgres</c> values.
/// </summary>
internal sealed class DatabaseTarget
{
    /// <summary>Exit code when the database cannot be reached (or the options do not say which one).</summary>
    public const int CannotConnect = 2;

    public Option<FileInfo?> Config { get; } = new("--config") { Description = "pipeline configuration (YAML): source.postgres.connectionString, publication, slot, tables" };

    public Option<string?> Connection { get; } = new("--connection") { Description = "Npgsql connection string (overrides the configuration's)" };

    public Option<string?> Tables { get; } = new("--tables") { Description = "tables to capture, comma-separated schema.table (overrides the configuration's)" };

    public Option<string?> Publication { get; } = new("--publication") { Description = "publication name (default: the configuration's, else cdc_pub)" };

    public Option<string?> Slot { get; } = new("--slot") { Description = "replication slot name (default: the configuration's, else cdc_slot)" };

    public void AddTo(Command command, bool withTables = true, bool withSlot = true)
    {
        command.Options.Add(Config);
        command.Options.Add(Connection);
        if (withTables)
        {
            command.Options.Add(Tables);
            command.Options.Add(Publication);
        }

        if (withSlot)
        {
            command.Options.Add(Slot);
        }
    }

    /// <summary>Resolves the options; null (after writing why to <paramref name="error"/>) when they are unusable.</summary>
    public Resolved? Resolve(ParseResult parse, TextWriter error)
    {
        string? connection = null, publication = null, slot = null;
        PipelineConfiguration? pipeline = null;
        var tables = new List<string>();
        var createPublication = true;
        if (parse.GetValue(Config) is { } file)
        {
            if (ConfigFile.TryLoad(file, error) is not { } configuration)
            {
                return null;
            }

            pipeline = configuration;

            var postgres = configuration.Root.GetSection("source:postgres");
            if (!postgres.Exists() && parse.GetValue(Connection) is null)
            {
                error.WriteLine($"{file.FullName}: no source.postgres section (the db and slot commands work on the embedded source's database); give --connection instead");
                return null;
            }

            connection = postgres["connectionString"];
            publication = postgres["publication"];
            slot = postgres["slot"];
            tables.AddRange(postgres.GetSection("tables").GetChildren().Select(c => c.Value).OfType<string>());
            createPublication = !string.Equals(postgres["createPublicationIfMissing"], "false", StringComparison.OrdinalIgnoreCase);
        }

        connection = parse.GetValue(Connection) ?? connection;
        if (string.IsNullOrWhiteSpace(connection))
        {
            error.WriteLine("which database? give --connection \"Host=…;Port=…;Database=…;Username=…\" or --config FILE with source.postgres.connectionString");
            return null;
        }

        string? invalid;
        try
        {
            // Opening needs a host too: Npgsql would refuse it then with an ArgumentException of its own.
            invalid = string.IsNullOrWhiteSpace(new NpgsqlConnectionStringBuilder(connection).Host) ? "it names no Host" : null;
        }
        catch (ArgumentException e)
        {
            invalid = ConnectionTarget.Redact(e.Message, connection);
        }

        if (invalid is not null)
        {
            // From the file: its line and key, as run says it; from --connection: the option.
            error.WriteLine(parse.GetValue(Connection) is null && pipeline is not null
                ? new ConfigurationException("source:postgres:connectionString", $"not a valid Npgsql connection string: {invalid}", pipeline.Locations).Message
                : $"--connection: not a valid Npgsql connection string: {invalid}");
            return null;
        }

        if (parse.GetValue(Tables) is { } list)
        {
            tables = [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }

        // What to check when it cannot connect: the key and its line, as run names them, or the option's string.
        var setting = parse.GetValue(Connection) is null && pipeline is not null
            ? $"source.postgres.connectionString ({pipeline.Locations.Describe("source:postgres:connectionString") ?? pipeline.FilePath})"
            : "the connection string";
        return new Resolved(connection, parse.GetValue(Publication) ?? publication ?? "cdc_pub", parse.GetValue(Slot) ?? slot ?? "cdc_slot", tables, createPublication, setting);
    }

    /// <summary>
    /// Opens the resolved connection; null (after writing host, port, database, the error — not the password — and what to
    /// check, naming where the connection string came from) when it fails.
    /// </summary>
    public static Task<NpgsqlConnection?> OpenAsync(Resolved resolved, TextWriter error, CancellationToken cancellationToken) =>
        OpenAsync(resolved.ConnectionString, error, cancellationToken, resolved.Setting);

    private static async Task<NpgsqlConnection?> OpenAsync(string connectionString, TextWriter error, CancellationToken cancellationToken, string setting)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "cdcpipeline-ops" };
        if (!connectionString.Contains("timeout", StringComparison.OrdinalIgnoreCase))
        {
            builder.Timeout = 10;
        }

        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or IOException)
        {
            await connection.DisposeAsync();
            var target = ConnectionTarget.From(connectionString);
            var message = e is PostgresException pg ? pg.MessageText : e.Message;
            if (e.InnerException is { } inner && e is not PostgresException)
            {
                message += " (" + inner.Message + ")";
            }

            await error.WriteLineAsync($"cannot connect to {target.Host}:{target.Port}, database {target.Database}, as {target.User}: {ConnectionTarget.Redact(message, connectionString)}"
                + (ExpectedFailure.RefusedLogin(e, connectionString, setting) ?? $"; check that the server is up and that {setting} is right"));
            return null;
        }
    }

    /// <param name="Setting">Where the connection string came from, for "check that … is right".</param>
    internal sealed record Resolved(string ConnectionString, string Publication, string Slot, IReadOnlyList<string> Tables, bool CreatePublicationIfMissing, string Setting);
}
