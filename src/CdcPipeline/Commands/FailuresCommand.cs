using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Json;
using CdcPipeline.Hosting;
using CdcPipeline.Postgres.Readiness;
using CdcPipeline.Sinks;
using CdcPipeline.Sinks.Failures;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>failures list|resend --config FILE</c>: inspect and re-deliver what sinks with
/// <c>onFailure: log</c> recorded in the failure table (top-level <c>failures:</c> in the configuration).
/// </summary>
internal static class FailuresCommand
{
    public static Command Create()
    {
        var command = new Command("failures", "Inspect and resend deliveries recorded by sinks with onFailure: log.");
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateResend());
        return command;
    }

    private static Option<FileInfo> ConfigOption() => new("--config", "-c")
    {
        Description = "the pipeline configuration (its failures: section names the table; its sinks: are used to resend)",
        Required = true,
    };

    private static Command CreateList()
    {
        var config = ConfigOption();
        var status = new Option<string?>("--status") { Description = "failed | resent (default: all)" };
        status.AcceptOnlyFromAmong([.. FailureStatus.All]);
        var sink = new Option<string?>("--sink") { Description = "only this sink's failures" };
        var json = new Option<bool>("--json") { Description = "one JSON object per line, payload included" };
        var limit = new Option<int>("--limit") { Description = "at most this many rows", DefaultValueFactory = _ => 1000 };
        limit.Validators.Add(result =>
        {
            // PostgreSQL refuses a negative LIMIT with a stack trace; 0 would list nothing and look like no failures.
            if (ParsedValue.TryGet(result, limit, out var value) && value < 1)
            {
                result.AddError("--limit must be 1 or more");
            }
        });
        var command = new Command("list", "List recorded failures, oldest first.") { config, status, sink, json, limit };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, errors) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            var (configuration, services, store) = OpenStore(parse.GetRequiredValue(config), "list", errors, out var error);
            if (store is null)
            {
                await errors.WriteLineAsync(error).ConfigureAwait(false);
                return 2;
            }

            await using (services!.ConfigureAwait(false))
            {
                IReadOnlyList<FailureRecord> rows;
                try
                {
                    rows = await store.ListAsync(parse.GetValue(status), parse.GetValue(sink), null, parse.GetValue(limit), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsUnusableDatabase(e))
                {
                    await errors.WriteLineAsync(Unusable("list", configuration!, store, e)).ConfigureAwait(false);
                    return 1;
                }

                await WriteAsync(output, errors, rows, parse.GetValue(json)).ConfigureAwait(false);
                return 0;
            }
        });
        return command;
    }

    private static Command CreateResend()
    {
        var config = ConfigOption();
        var ids = new Option<long[]>("--id") { Description = "failure id(s) to resend (repeat the option)", AllowMultipleArgumentsPerToken = true };
        var all = new Option<bool>("--all") { Description = "resend every failure with status failed" };
        var sink = new Option<string?>("--sink") { Description = "only this sink's failures" };
        var command = new Command("resend", "Re-deliver recorded failures through their configured sink; delivered ones become status resent.") { config, ids, all, sink };
        command.Validators.Add(result =>
        {
            if (!ParsedValue.TryGet(result, ids, out var given))
            {
                return;
            }

            var hasIds = given is { Length: > 0 };
            if (hasIds == result.GetValue(all))
            {
                result.AddError("give either --id N (one or more) or --all");
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, errors) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            var file = parse.GetRequiredValue(config);
            var (loaded, services, store) = OpenStore(file, "resend", errors, out var error);
            if (store is null)
            {
                await errors.WriteLineAsync(error).ConfigureAwait(false);
                return 2;
            }

            var configuration = loaded!;

            await using (services!.ConfigureAwait(false))
            {
                var selected = parse.GetValue(ids) is { Length: > 0 } chosen ? chosen : null;
                IReadOnlyList<FailureRecord> rows;
                try
                {
                    rows = await store.ListAsync(Sinks.Failures.FailureStatus.Failed, parse.GetValue(sink), selected, int.MaxValue, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsUnusableDatabase(e))
                {
                    await errors.WriteLineAsync(Unusable("resend", configuration, store, e)).ConfigureAwait(false);
                    return 1;
                }

                if (selected is not null)
                {
                    foreach (var missing in selected.Except(rows.Select(r => r.Id)))
                    {
                        await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"failures resend: no failure with id {missing} and status failed")).ConfigureAwait(false);
                    }
                }

                var resender = new FailureResender(store, name => ConfiguredSinks.Create(configuration, services!, name));
                IReadOnlyList<ResendOutcome> outcomes;
                try
                {
                    outcomes = await resender.ResendAsync(rows, cancellationToken).ConfigureAwait(false);
                }
                catch (ConfigurationException e)
                {
                    await errors.WriteLineAsync($"failures resend: {e.Message}").ConfigureAwait(false);
                    return 2;
                }
                catch (Exception e) when (IsUnusableDatabase(e))
                {
                    // Recording an outcome failed: what was delivered before is marked; the one being marked stays failed and
                    // is delivered again by the next resend (a sink's receiver de-duplicates it by event id).
                    await errors.WriteLineAsync(Unusable("resend", configuration, store, e)
                        + "; a failure delivered but not yet marked resent is delivered again by the next 'failures resend'").ConfigureAwait(false);
                    return 1;
                }
                catch (Core.Sinks.StateDirectoryInUseException e)
                {
                    // A batch sink's spool or a file sink's file belongs to the running pipeline: appending from here would mix into it.
                    await errors.WriteLineAsync(
                        $"failures resend: sink '{e.Sink}': its {e.What} {e.Directory} is held by another process ({e.Holder}); "
                            + "this failure and the ones after it were left as they were: stop that pipeline, run 'failures resend' again, then start the pipeline"
                            + DeadLetterFile.OrElse(e, "resend")).ConfigureAwait(false);
                    return 1;
                }

                foreach (var outcome in outcomes)
                {
                    var f = outcome.Failure;
                    await output.WriteLineAsync(outcome.Delivered
                        ? string.Create(CultureInfo.InvariantCulture, $"{f.Id}\t{f.Sink}\t{f.EventId}\tresent")
                        : string.Create(CultureInfo.InvariantCulture, $"{f.Id}\t{f.Sink}\t{f.EventId}\tfailed again: {outcome.Error!.Message}")).ConfigureAwait(false);
                }

                var failed = outcomes.Count(o => !o.Delivered);
                await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{outcomes.Count - failed} resent, {failed} failed again")).ConfigureAwait(false);
                return failed == 0 && (selected is null || rows.Count == selected.Length) ? 0 : 1;
            }
        });
        return command;
    }

    /// <summary>
    /// The same registrations the worker uses, so a resend goes through the very sink the pipeline builds and the store is
    /// the one the pipeline's container hands out; with a logger, so what they warn about (both spellings of a table, event
    /// 4300/4301) reaches the operator as the command's other lines on standard error. Disposing it disposes the store.
    /// </summary>
    private static (PipelineConfiguration? Configuration, ServiceProvider? Services, PostgresFailureStore? Store) OpenStore(FileInfo file, string command, TextWriter errors, out string error)
    {
        error = "";
        try
        {
            var configuration = PipelineConfiguration.Load(file.FullName);
            var services = new ServiceCollection()
                .AddLogging(logging => logging.AddProvider(new CommandLineLog($"failures {command}", errors)))
                .AddCdcPipeline()
                .AddCdcFailureStore(configuration)
                .BuildServiceProvider();
            var store = services.GetService<PostgresFailureStore>();
            if (store is null)
            {
                services.Dispose();
                error = $"failures {command}: {file.FullName} has no top-level 'failures:' section (connectionString, table)";
                return (configuration, null, null);
            }

            return (configuration, services, store);
        }
        catch (ConfigurationException e)
        {
            error = $"failures {command}: {e.Message}";
            return (null, null, null);
        }
    }

    /// <summary>The failure table's database refused or could not be reached (not a bug to show with a stack trace).</summary>
    private static bool IsUnusableDatabase(Exception e) => e is NpgsqlException or SocketException or TimeoutException;

    /// <summary>What could not be used, where it is configured, and why: host, port, database and user, never the password.</summary>
    private static string Unusable(string command, PipelineConfiguration configuration, PostgresFailureStore store, Exception e)
    {
        var target = ConnectionTarget.From(configuration.Root["failures:connectionString"] ?? "");
        return $"failures {command}: cannot use the failure table {store.Table} at {target.Host}:{target.Port}, database {target.Database}, as {target.User}: "
            + ExpectedFailure.UnusableDatabase(e, configuration, "failures:connectionString");
    }

    internal static async Task WriteAsync(TextWriter output, TextWriter errors, IReadOnlyList<FailureRecord> rows, bool json)
    {
        if (json)
        {
            foreach (var r in rows)
            {
                using var ms = new MemoryStream();
                using (var writer = new Utf8JsonWriter(ms, CanonicalJson.WriterOptions))
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("id", r.Id);
                    writer.WriteString("pipeline", r.Pipeline);
                    writer.WriteString("sink", r.Sink);
                    writer.WriteString("eventId", r.EventId);
                    writer.WriteString("type", r.Type);
                    writer.WriteString("position", r.Position.ToString());
                    writer.WriteString("status", r.Status);
                    writer.WriteNumber("attempts", r.Attempts);
                    writer.WriteString("lastError", r.LastError);
                    writer.WriteString("createdAt", r.CreatedAt.UtcDateTime);
                    writer.WriteString("updatedAt", r.UpdatedAt.UtcDateTime);
                    writer.WritePropertyName("payload");
                    writer.WriteRawValue(r.Payload);
                    writer.WriteEndObject();
                }

                await output.WriteLineAsync(System.Text.Encoding.UTF8.GetString(ms.ToArray())).ConfigureAwait(false);
            }

            return;
        }

        await output.WriteLineAsync("ID\tSINK\tEVENT_ID\tTYPE\tSTATUS\tATTEMPTS\tCREATED_AT\tLAST_ERROR").ConfigureAwait(false);
        foreach (var r in rows)
        {
            var lastError = r.LastError is { Length: > 120 } long_ ? long_[..120] + "…" : r.LastError;
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{r.Id}\t{r.Sink}\t{r.EventId}\t{r.Type}\t{r.Status}\t{r.Attempts}\t{r.CreatedAt.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}\t{lastError?.ReplaceLineEndings(" ")}")).ConfigureAwait(false);
        }

        await errors.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{rows.Count} failure(s)")).ConfigureAwait(false);
    }
}
