using System.CommandLine;
using System.Net.Sockets;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka.Source;
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
    /// <param name="kafkaConnect">
    /// Whether the command also works on the database Debezium in Kafka Connect reads (<c>source.kafka.debezium</c>: db check,
    /// slot list, slot lag); otherwise a file without <c>source.postgres</c> is refused.
    /// </param>
    public Resolved? Resolve(ParseResult parse, TextWriter error, bool kafkaConnect = false)
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
            var debezium = configuration.Root.GetSection("source:kafka:debezium");
            if (!postgres.Exists() && kafkaConnect && debezium.Exists())
            {
                return ResolveDebezium(parse, error, configuration, debezium);
            }

            if (!postgres.Exists() && parse.GetValue(Connection) is null)
            {
                error.WriteLine(debezium.Exists()
                    ? $"{file.FullName}: no source.postgres section, and this command works on the embedded source's database only (for the Debezium path's database: db check, slot list and slot lag; connector-config/postgres-setup.sql sets it up); give --connection instead"
                    : $"{file.FullName}: no source.postgres section (the db and slot commands work on the embedded source's database); give --connection instead");
                return null;
            }

            connection = postgres["connectionString"];
            publication = postgres["publication"];
            slot = postgres["slot"];
            tables.AddRange(postgres.GetSection("tables").GetChildren().Select(c => c.Value).OfType<string>());
            createPublication = !string.Equals(postgres["createPublicationIfMissing"], "false", StringComparison.OrdinalIgnoreCase);
        }

        var role = pipeline is null ? null : ConfiguredRole(connection, "source.postgres.connectionString", pipeline.Locations.Describe("source:postgres:connectionString") ?? pipeline.FilePath);
        var resolved = Complete(parse, error, pipeline, connection, publication, slot, tables, createPublication, fileSetting: null, connector: null, role);
        return resolved is not null && pipeline is not null && pipeline.Root.GetSection("source:postgres").Exists() ? resolved with { State = StateDirectoryOf(pipeline) } : resolved;
    }

    /// <summary>
    /// The state directory of <paramref name="pipeline"/>'s embedded source as run resolves it (PostgresSourceFactory): its
    /// <c>source.postgres.stateDirectory</c> against the configuration file's folder, or, not set, <c>.run/state</c> under the working
    /// directory; with the words that say where that comes from (the key and its line, or that it is the default).
    /// </summary>
    internal static (string Directory, string Setting) StateDirectoryOf(PipelineConfiguration pipeline) =>
        pipeline.Root.GetSection("source:postgres")["stateDirectory"] is { Length: > 0 } configured
            ? (Path.GetFullPath(Path.Combine(pipeline.BaseDirectory, configured)),
                $"source.postgres.stateDirectory ({pipeline.Locations.Describe("source:postgres:stateDirectory") ?? pipeline.FilePath})")
            : (Path.GetFullPath(Path.Combine(".run", "state")), "source.postgres.stateDirectory is not set: .run/state under the working directory");

    /// <summary>The role a configuration's connection string logs in as, with where it is set; null when it names none (or is not valid: said elsewhere).</summary>
    private static (string Role, string Setting)? ConfiguredRole(string? connectionString, string key, string where)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString ?? "").Username is { Length: > 0 } user ? (user, $"{key} ({where})") : null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// <c>source.kafka.debezium</c>: the connection Kafka Connect opens (<c>database</c>: hostname, port, user, dbname and the
    /// password, a <c>${env:NAME}</c> reference resolved from this process's environment as Connect's EnvVarConfigProvider
    /// resolves it from the worker's, or a literal) unless <c>--connection</c> gives one; its slot, publication and tables.
    /// </summary>
    private Resolved? ResolveDebezium(ParseResult parse, TextWriter error, PipelineConfiguration pipeline, IConfigurationSection section)
    {
        DebeziumConnectorOptions debezium;
        try
        {
            debezium = ConfigBinding.Bind<DebeziumConnectorOptions>(section, pipeline.Locations);
        }
        catch (ConfigurationException e)
        {
            error.WriteLine(e.Message);
            return null;
        }

        string? connection = null;
        if (parse.GetValue(Connection) is null)
        {
            var database = debezium.Database;
            var where = pipeline.Locations.Describe("source:kafka:debezium:database:password") ?? pipeline.FilePath;
            var password = database.Password;
            if (password.StartsWith("${", StringComparison.Ordinal) && password.EndsWith('}'))
            {
                var reference = password[2..^1];
                if (!reference.StartsWith("env:", StringComparison.Ordinal))
                {
                    error.WriteLine($"source.kafka.debezium.database.password ({where}): '{password}' is resolved by Kafka Connect's worker, not here (only ${{env:NAME}} is); give --connection \"Host=…;Port=…;Database=…;Username=…;Password=…\" instead");
                    return null;
                }

                var variable = reference["env:".Length..];
                password = Environment.GetEnvironmentVariable(variable) ?? "";
                if (password.Length == 0)
                {
                    error.WriteLine($"source.kafka.debezium.database.password ({where}): {variable} is not set in this environment; set it to the password Kafka Connect's worker has in it (or give --connection)");
                    return null;
                }
            }

            var builder = new NpgsqlConnectionStringBuilder { Host = database.Hostname, Port = database.Port, Database = database.Dbname, Username = database.User };
            if (password.Length > 0)
            {
                builder.Password = password;
            }

            connection = builder.ConnectionString;
        }

        var connector = new KafkaConnectReadiness(debezium.PublicationAutocreateMode, NullIfEmpty(debezium.HeartbeatTable), NullIfEmpty(debezium.SignalTable));
        // the database as Kafka Connect reaches it: from here it may have another name (a compose service's, for one)
        var setting = $"source.kafka.debezium.database ({pipeline.Locations.Describe("source:kafka:debezium:database:hostname") ?? pipeline.FilePath}; "
            + "if this machine reaches the database by another name than Kafka Connect does, give --connection)";
        (string, string)? role = string.IsNullOrEmpty(debezium.Database.User) ? null
            : (debezium.Database.User, $"source.kafka.debezium.database.user ({pipeline.Locations.Describe("source:kafka:debezium:database:user") ?? pipeline.FilePath})");
        return Complete(parse, error, pipeline, connection, debezium.Publication, debezium.Slot, [.. debezium.QualifiedTables()], !connector.PublicationMustExist, setting, connector, role);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>The options' overrides over the file's values, and the connection string checked before connecting.</summary>
    private Resolved? Complete(ParseResult parse, TextWriter error, PipelineConfiguration? pipeline, string? connection, string? publication, string? slot, List<string> tables,
        bool createPublication, string? fileSetting, KafkaConnectReadiness? connector, (string Role, string Setting)? configuredRole)
    {
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
                ? new ConfigurationException(connector is null ? "source:postgres:connectionString" : "source:kafka:debezium:database", $"not a valid Npgsql connection string: {invalid}", pipeline.Locations).Message
                : $"--connection: not a valid Npgsql connection string: {invalid}");
            return null;
        }

        if (parse.GetValue(Tables) is { } list)
        {
            tables = [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }

        // What to check when it cannot connect: the key and its line, as run names them, or the option's string.
        var setting = parse.GetValue(Connection) is null && pipeline is not null
            ? fileSetting ?? $"source.postgres.connectionString ({pipeline.Locations.Describe("source:postgres:connectionString") ?? pipeline.FilePath})"
            : "the connection string";
        // --connection overrides the file's login too: the role the pipeline (or connector) logs in as is then another one, maybe
        return new Resolved(connection, parse.GetValue(Publication) ?? publication ?? "cdc_pub", parse.GetValue(Slot) ?? slot ?? "cdc_slot", tables, createPublication, setting, connector,
            parse.GetValue(Connection) is null ? null : configuredRole?.Role, configuredRole?.Setting);
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
    /// <param name="KafkaConnect">Set when the file's <c>source.kafka.debezium</c> describes the database (Debezium reads it, not the pipeline).</param>
    /// <param name="ConfiguredRole">With <c>--connection</c> and <c>--config</c>: the role the file's pipeline (or connector) logs in as.</param>
    /// <param name="ConfiguredRoleSetting">Where the file sets <paramref name="ConfiguredRole"/>.</param>
    /// <param name="State">With <c>--config</c> of an embedded source: its state directory (<see cref="StateDirectoryOf"/>).</param>
    internal sealed record Resolved(string ConnectionString, string Publication, string Slot, IReadOnlyList<string> Tables, bool CreatePublicationIfMissing, string Setting,
        KafkaConnectReadiness? KafkaConnect = null, string? ConfiguredRole = null, string? ConfiguredRoleSetting = null, (string Directory, string Setting)? State = null);
}
