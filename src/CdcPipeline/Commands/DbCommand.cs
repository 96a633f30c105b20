using System.CommandLine;
using System.Globalization;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Readiness;
using Npgsql;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>db check</c> (is this legacy database ready for capture, and what to run if not) and <c>db prepare</c>
/// (the idempotent setup SQL; <c>--apply</c> runs it in one transaction).
/// Exit codes: 0 ready / done, 1 not ready / failed, 2 cannot connect.
/// </summary>
internal static class DbCommand
{
    public static Command Create() => new("db", "Legacy-database readiness (check) and setup SQL (prepare).")
    {
        CreateCheck(),
        CreatePrepare(),
    };

    private static Command CreateCheck()
    {
        var target = new DatabaseTarget();
        var json = new Option<bool>("--json") { Description = "machine-readable JSON instead of the table" };
        var command = new Command("check", "Report whether logical capture can run: wal_level, slots, WAL senders, privileges, tables, publication, existing slots; for source.postgres, or source.kafka.debezium (Debezium in Kafka Connect). Exit 0 ready, 1 not ready, 2 cannot connect.");
        target.AddTo(command);
        command.Options.Add(json);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (target.Resolve(parse, error, kafkaConnect: true) is not { } resolved)
            {
                return DatabaseTarget.CannotConnect;
            }

            await using var connection = await DatabaseTarget.OpenAsync(resolved, error, cancellationToken);
            if (connection is null)
            {
                return DatabaseTarget.CannotConnect;
            }

            var report = await ReadinessChecker.CheckAsync(
                connection,
                new ReadinessCheckOptions
                {
                    Publication = resolved.Publication,
                    Slot = resolved.Slot,
                    Tables = resolved.Tables,
                    CreatePublicationIfMissing = resolved.CreatePublicationIfMissing,
                    ApplicationName = PgOutputChangeSource.ReplicationApplicationName(resolved.ConnectionString, resolved.Slot),
                    KafkaConnect = resolved.KafkaConnect,
                    ConfiguredRole = resolved.ConfiguredRole,
                    ConfiguredRoleSetting = resolved.ConfiguredRoleSetting,
                },
                cancellationToken);
            await output.WriteAsync(parse.GetValue(json) ? ReadinessOutput.Json(report) : ReadinessOutput.Text(report));
            if (resolved.KafkaConnect is { } connector && !parse.GetValue(json))
            {
                await output.WriteLineAsync($"checked for Debezium in Kafka Connect (source.kafka.debezium): slot {resolved.Slot}, publication {resolved.Publication} (publicationAutocreateMode: {connector.PublicationAutocreateMode})");
            }
            return report.Ready ? 0 : 1;
        });
        return command;
    }

    private static Command CreatePrepare()
    {
        var target = new DatabaseTarget();
        var role = new Option<string>("--role") { Description = "the replication role to create (LOGIN REPLICATION, read-only on the tables)", DefaultValueFactory = _ => "cdc" };
        var passwordEnv = new Option<string?>("--password-env") { Description = "environment variable holding the role's password (set it when printing too): the script and --apply set the password from its SCRAM-SHA-256 verifier, never in plain text" };
        var identityFull = new Option<string?>("--replica-identity-full") { Description = "comma-separated tables to set REPLICA IDENTITY FULL on (needed for tables without a primary key; gives full before images)" };
        var sync = new Option<bool>("--sync-publication") { Description = "when the publication exists, set its tables to exactly the captured ones" };
        var apply = new Option<bool>("--apply") { Description = "run the missing steps in one transaction instead of printing the SQL" };
        var schema = new Option<string>("--schema") { Description = "our own schema for the heartbeat and signal tables", DefaultValueFactory = _ => PrepareOptions.DefaultSchema };
        var command = new Command("prepare", "Print the idempotent setup SQL (role, grants, heartbeat/signal tables, publication, REPLICA IDENTITY FULL where asked); --apply runs it.");
        target.AddTo(command, withSlot: false);
        command.Options.Add(role);
        command.Options.Add(passwordEnv);
        command.Options.Add(identityFull);
        command.Options.Add(sync);
        command.Options.Add(schema);
        command.Options.Add(apply);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (target.Resolve(parse, error) is not { } resolved)
            {
                return DatabaseTarget.CannotConnect;
            }

            // Usage errors (exit 2, nothing done), said before connecting.
            if (resolved.Tables.Count == 0)
            {
                return await ExpectedFailure.UsageAsync(parse, "db prepare: which tables? give --tables public.t1,public.t2 (or source.postgres.tables in --config)").ConfigureAwait(false);
            }

            var password = parse.GetValue(passwordEnv) is { } env ? Environment.GetEnvironmentVariable(env) : null;
            password = string.IsNullOrEmpty(password) ? null : password;
            if (parse.GetValue(passwordEnv) is { } unset && password is null)
            {
                return await ExpectedFailure.UsageAsync(parse, "db prepare: " + DatabasePreparation.PasswordVariableNotSet(unset, parse.GetValue(role) ?? "cdc")).ConfigureAwait(false);
            }

            var options = new PrepareOptions
            {
                Role = parse.GetValue(role) ?? "cdc",
                PasswordEnvironmentVariable = parse.GetValue(passwordEnv),
                Publication = resolved.Publication,
                Tables = resolved.Tables,
                ReplicaIdentityFull = (parse.GetValue(identityFull) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                SyncPublication = parse.GetValue(sync),
                Schema = parse.GetValue(schema) ?? PrepareOptions.DefaultSchema,
            };

            await using var connection = await DatabaseTarget.OpenAsync(resolved, error, cancellationToken);
            if (connection is null)
            {
                return DatabaseTarget.CannotConnect;
            }

            try
            {
                if (!parse.GetValue(apply))
                {
                    var plan = await DatabasePreparation.PlanAsync(connection, options, password, cancellationToken);
                    await output.WriteAsync(DatabasePreparation.Render(plan));
                    foreach (var note in plan.Notes)
                    {
                        await error.WriteLineAsync("note: " + note);
                    }

                    return 0;
                }

                var (applied, result) = await DatabasePreparation.ApplyAsync(connection, options, password, cancellationToken);
                var where = $"{applied.Target.Host}:{applied.Target.Port}, database {applied.Database}";
                await output.WriteLineAsync(result.Changed.Count == 0
                    ? $"db prepare --apply on {where}: nothing to change, all {result.Unchanged.Count} steps already in place"
                    : string.Create(CultureInfo.InvariantCulture, $"db prepare --apply on {where}: {result.Changed.Count} change(s) committed in one transaction"));
                await output.WriteAsync(TextTable.Render(["", "STEP"],
                    result.Changed.Select(s => (IReadOnlyList<string>)["changed", s]).Concat(result.Unchanged.Select(s => (IReadOnlyList<string>)["in place", s]))));
                foreach (var note in applied.Notes)
                {
                    await output.WriteLineAsync("note: " + note);
                }

                return 0;
            }
            catch (InvalidOperationException e)
            {
                await error.WriteLineAsync("db prepare: " + e.Message);
                return 1;
            }
            catch (PrepareFailedException e)
            {
                await error.WriteLineAsync("db prepare --apply: " + e.Message);
                return 1;
            }
            catch (PostgresException e)
            {
                await error.WriteLineAsync("db prepare: " + e.MessageText);
                return 1;
            }
        });
        return command;
    }
}
