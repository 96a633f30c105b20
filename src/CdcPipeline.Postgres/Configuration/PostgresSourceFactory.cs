using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Postgres.Configuration;

/// <summary>The embedded capture: <c>source.postgres</c>.</summary>
public sealed class PostgresSourceFactory : ISourceFactory
{
    public const string SourceKind = "postgres";

    public string Kind => SourceKind;

    public void Validate(PipelineComponentContext context) => _ = ToOptions(context);

    public IChangeSource Create(PipelineComponentContext context) =>
        new PgOutputChangeSource(ToOptions(context), context.Services.GetService<ILoggerFactory>());

    public static PostgresSourceOptions ToOptions(PipelineComponentContext context)
    {
        var s = context.Bind<PostgresSourceSettings>();
        foreach (var table in s.Tables.Concat(s.ReselectToastTables))
        {
            if (table.Split('.') is not [{ Length: > 0 }, { Length: > 0 }])
            {
                throw context.Error("tables", $"'{table}' is not schema.table");
            }
        }

        // The source passes on only the changes of the tables it lists, named exactly as PostgreSQL stores them (no list: every
        // table of the publication, which start-up does not know).
        if (s.Tables.Count > 0)
        {
            context.RequireRuleTablesIn("tables", s.Tables, static (listed, table) => string.Equals(listed, table, StringComparison.Ordinal));
        }

        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(s.ConnectionString);
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the password.
            throw context.Error("connectionString", $"not a valid Npgsql connection string: {e.Message}");
        }

        return new PostgresSourceOptions
        {
            ConnectionString = s.ConnectionString,
            Publication = s.Publication,
            Slot = s.Slot,
            Tables = s.Tables,
            RuleFiles = context.RuleFiles,
            Snapshot = s.Snapshot switch
            {
                "never" => SnapshotMode.Never,
                "initial_only" => SnapshotMode.InitialOnly,
                "when_needed" => SnapshotMode.WhenNeeded,
                _ => SnapshotMode.Initial,
            },
            Name = s.Name ?? context.Pipeline.Name,
            CreatePublicationIfMissing = s.CreatePublicationIfMissing,
            CreateSlotIfMissing = s.CreateSlotIfMissing,
            StateDirectory = s.StateDirectory is null ? null : context.ResolvePath(s.StateDirectory),
            // The default is under the working directory, a relative stateDirectory beside the configuration file: a run
            // from another working directory looks for the file in the other place (README "stateDirectory").
            OtherStateDirectory = s.StateDirectory is null
                ? context.ResolvePath(Path.Combine(".run", "state"))
                : Path.IsPathRooted(s.StateDirectory) ? null : Path.GetFullPath(s.StateDirectory),
            StateDirectorySetting = context.Locations.Describe($"{context.Section.Path}:stateDirectory"),
            SnapshotChunkSize = s.SnapshotChunkSize,
            HeartbeatInterval = s.HeartbeatInterval,
            SlotCheckInterval = s.SlotCheckInterval,
            IncludeMessages = s.IncludeMessages,
            Streaming = s.Streaming,
            MaxStreamedTransactionChanges = s.MaxStreamedTransactionChanges,
            SignalTable = s.SignalTable,
            ReselectToastTables = s.ReselectToastTables,
            MoneyFractionDigits = s.MoneyFractionDigits,
            ReconnectMinDelay = s.ReconnectMinDelay,
            ReconnectMaxDelay = s.ReconnectMaxDelay,
            MaxReconnectAttempts = s.MaxReconnectAttempts,
        };
    }
}
