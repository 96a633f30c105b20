using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Postgres.Readiness;
using CdcPipeline.Postgres.Setup;
using Npgsql;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>slot list | lag | drop</c>: the replication slots of the server. <c>lag</c> exits 1 over <c>--max-lag</c>
/// (for monitoring); <c>drop</c> asks to type the slot name unless <c>--yes</c>, and refuses an active slot.
/// </summary>
internal static class SlotCommand
{
    /// <summary>Where <c>slot drop</c> reads the confirmation; tests set it, otherwise the console.</summary>
    internal static readonly AsyncLocal<TextReader?> ConfirmationInput = new();

    public static Command Create() => new("slot", "Replication slots: list, lag (monitoring), drop.")
    {
        CreateList(),
        CreateLag(),
        CreateDrop(),
    };

    private static Command CreateList()
    {
        var target = new DatabaseTarget();
        var json = new Option<bool>("--json") { Description = "JSON instead of the table" };
        var command = new Command("list", "List every replication slot: plugin, database, active (pid, client), restart/confirmed LSN, lag, wal_status.");
        target.AddTo(command, withTables: false, withSlot: false);
        command.Options.Add(json);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            if (target.Resolve(parse, error, kafkaConnect: true) is not { } resolved)
            {
                return DatabaseTarget.CannotConnect;
            }

            await using var connection = await DatabaseTarget.OpenAsync(resolved, error, cancellationToken);
            if (connection is null)
            {
                return DatabaseTarget.CannotConnect;
            }

            var slots = await SlotInventory.ListAsync(connection, null, cancellationToken);
            if (parse.GetValue(json))
            {
                await output.WriteAsync(SlotsJson(slots));
            }
            else if (slots.Count == 0)
            {
                await output.WriteLineAsync("no replication slots");
            }
            else
            {
                await output.WriteAsync(ReadinessOutput.SlotRows(slots));
            }

            return 0;
        });
        return command;
    }

    private static Command CreateLag()
    {
        var target = new DatabaseTarget();
        var name = new Argument<string?>("NAME") { Description = "one slot; all slots when omitted", Arity = ArgumentArity.ZeroOrOne };
        var maxLag = new Option<string?>("--max-lag") { Description = "exit 1 when a slot's lag exceeds this (bytes, or 512kB, 64MB, 1GB)" };
        maxLag.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } text && !ByteSize.TryParse(text, out _))
            {
                result.AddError($"--max-lag '{text}': expected bytes or a size such as 512kB, 64MB, 1GB");
            }
        });
        var json = new Option<bool>("--json") { Description = "JSON instead of text" };
        var command = new Command("lag", "How far each slot's consumer is behind (current WAL position - confirmed_flush_lsn). Exit 1 over --max-lag (or, with it, for a slot unreserved or lost by max_slot_wal_keep_size) or for a missing slot.");
        command.Arguments.Add(name);
        target.AddTo(command, withTables: false, withSlot: false);
        command.Options.Add(maxLag);
        command.Options.Add(json);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            long? limit = null;
            if (parse.GetValue(maxLag) is { } text && ByteSize.TryParse(text, out var bytes))
            {
                limit = bytes;
            }

            if (target.Resolve(parse, error, kafkaConnect: true) is not { } resolved)
            {
                return DatabaseTarget.CannotConnect;
            }

            await using var connection = await DatabaseTarget.OpenAsync(resolved, error, cancellationToken);
            if (connection is null)
            {
                return DatabaseTarget.CannotConnect;
            }

            var slotName = parse.GetValue(name);
            var slots = await SlotInventory.ListAsync(connection, slotName, cancellationToken);
            if (slotName is not null && slots.Count == 0)
            {
                var where = ConnectionTarget.From(resolved.ConnectionString);
                var existing = await SlotInventory.ListAsync(connection, null, cancellationToken);
                await error.WriteLineAsync(NoSuchSlot(slotName, $"{where.Host}:{where.Port}", "", existing.Select(s => s.Name).ToList()));
                return 1;
            }

            var over = slots.Where(s => limit is { } l && (s.LagBytes ?? s.RetainedBytes ?? 0) > l).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            // Past max_slot_wal_keep_size the slot is lost at the next checkpoint whatever --max-lag says: an alert on --max-lag
            // must fire for it (and for one already lost), or a limit above max_slot_wal_keep_size would never warn.
            var atRisk = limit is null ? new Dictionary<string, string>(StringComparer.Ordinal) : slots.Where(s => s.WalStatus is "unreserved" or "lost").ToDictionary(
                s => s.Name,
                s => s.WalStatus == "lost"
                    ? "LOST: invalidated by max_slot_wal_keep_size, it cannot be read again"
                    : "UNRESERVED: the next checkpoint invalidates it (max_slot_wal_keep_size)",
                StringComparer.Ordinal);
            if (parse.GetValue(json))
            {
                await output.WriteAsync(SlotsJson(slots));
            }
            else
            {
                await output.WriteAsync(TextTable.Render(
                    ["SLOT", "LAG", "BYTES", "ACTIVE", "WAL STATUS", ""],
                    slots.Select(s => (IReadOnlyList<string>)
                    [
                        s.Name, ByteSize.Format(s.LagBytes ?? s.RetainedBytes), (s.LagBytes ?? s.RetainedBytes)?.ToString(CultureInfo.InvariantCulture) ?? "-",
                        s.Active ? "yes" : "no", s.WalStatus ?? "-",
                        string.Join("; ", new[] { over.Contains(s.Name) ? $"OVER --max-lag {ByteSize.Format(limit)}" : null, atRisk.GetValueOrDefault(s.Name) }.OfType<string>()),
                    ])));
            }

            return over.Count > 0 || atRisk.Count > 0 ? 1 : 0;
        });
        return command;
    }

    /// <summary>At most this many slot names are listed after "no replication slot named": more is a page, for 'slot list'.</summary>
    internal const int SlotsListedWhenMissing = 10;

    /// <summary>
    /// A slot name that is not on the server, in one line: the names it was probably meant to be (a typo: one or two
    /// characters off), the slots there are when they are few, and where to see them all.
    /// </summary>
    internal static string NoSuchSlot(string slotName, string server, string consequence, IReadOnlyList<string> existing)
    {
        var line = new StringBuilder($"no replication slot named '{slotName}' on {server}{consequence}");
        if (existing.Count == 0)
        {
            return line.Append("; the server has no replication slots").ToString();
        }

        var near = existing.Where(n => IsNear(slotName, n)).Order(StringComparer.Ordinal).ToList();
        if (near.Count > 0)
        {
            line.Append("; did you mean ").AppendJoin(" or ", near.Select(n => $"'{n}'")).Append('?');
        }

        line.Append(existing.Count <= SlotsListedWhenMissing
            ? $"; the slots there: {string.Join(", ", existing.Order(StringComparer.Ordinal))} (cdcpipeline slot list shows them)"
            : string.Create(CultureInfo.InvariantCulture, $"; cdcpipeline slot list shows the {existing.Count} slots there"));
        return line.ToString();
    }

    /// <summary>A likely typo: a case or up to two characters off, fewer in a short name (inserted, deleted or replaced: Levenshtein distance).</summary>
    private static bool IsNear(string wanted, string name)
    {
        if (string.Equals(wanted, name, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        // Two characters off in a short name is another name: "a" is not a typo of "b".
        var most = Math.Min(2, wanted.Length / 3);
        if (Math.Abs(wanted.Length - name.Length) > most)
        {
            return false;
        }

        var previous = new int[name.Length + 1];
        var current = new int[name.Length + 1];
        for (var j = 0; j <= name.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= wanted.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= name.Length; j++)
            {
                var replace = previous[j - 1] + (char.ToLowerInvariant(wanted[i - 1]) == char.ToLowerInvariant(name[j - 1]) ? 0 : 1);
                current[j] = Math.Min(replace, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[name.Length] <= most;
    }

    /// <summary>
    /// What the consumer of the dropped slot needs. The embedded pipeline's own slot (<c>--config</c> of its file): its state file
    /// (in its stateDirectory) keeps the position, and the lock files beside it (<c>.lock</c>, <c>.lock.owner</c>, see
    /// ExclusiveLockFile) hold none, so they may go with it; the file that pipeline's run reads, and whether it is there. Any other
    /// slot may be a Debezium connector's as well (README's teardown of the Debezium path drops it with <c>--connection</c>): what
    /// each needs.
    /// </summary>
    private static string StateFileAdvice(string slot, DatabaseTarget.Resolved resolved)
    {
        if (resolved.State is { } state && string.Equals(slot, resolved.Slot, StringComparison.Ordinal))
        {
            var path = Path.Combine(state.Directory, slot + ".snapshot.json");
            return "The pipeline that read it " + EmbeddedAdvice(slot, $"its state file {path} ({state.Setting}; it is {(File.Exists(path) ? "there" : "not there")})");
        }

        return "If the embedded pipeline (source.postgres) read it, it " +
               EmbeddedAdvice(slot, $"its state file ({slot}.snapshot.json in its source.postgres.stateDirectory, by default .run/state/)") + " " + DebeziumAdvice;
    }

    private static string EmbeddedAdvice(string slot, string file) =>
        "refuses to start until it is set to snapshot: when_needed (reads the tables again) or " + file + " is deleted (accepts the gap); " +
        $"{slot}.snapshot.json.lock and {slot}.snapshot.json.lock.owner beside it hold no state and may be deleted with it while that pipeline is stopped.";

    // Debezium's snapshot.mode initial snapshots only when Kafka Connect holds no offsets for the connector; with offsets it
    // streams from their LSN, and a slot that is gone is created again at the current WAL position (Debezium 2.5, PostgreSQL
    // connector: snapshot.mode): what was written in between is never sent.
    private const string DebeziumAdvice =
        "If a Debezium connector read it, its position is in Kafka Connect's offsets, not in a file here: with snapshot.mode initial (Debezium's default, and " +
        "connector-config's) and offsets stored, it does not snapshot again when it starts; it creates the slot anew where the WAL is then and streams from " +
        "there, so the changes written in between are never sent. Before starting it again, delete its offsets (the connector stopped: curl -X DELETE " +
        "http://CONNECT:8083/connectors/NAME/offsets, Kafka Connect 3.6+) so that it snapshots, or once it runs take an incremental snapshot through its " +
        "signal table (rows deleted in between stay unsent); to retire it: README, \"Removing everything when the pilot ends\", the Debezium path.";

    private static Command CreateDrop()
    {
        var target = new DatabaseTarget();
        var name = new Argument<string>("NAME") { Description = "the slot to drop" };
        var yes = new Option<bool>("--yes", "-y") { Description = "do not ask for confirmation" };
        var command = new Command("drop", "Drop a replication slot (asks to type its name unless --yes). Refuses an active slot.");
        command.Arguments.Add(name);
        target.AddTo(command, withTables: false, withSlot: false);
        command.Options.Add(yes);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            if (target.Resolve(parse, error) is not { } resolved)
            {
                return DatabaseTarget.CannotConnect;
            }

            var slotName = parse.GetValue(name)!;
            var where = ConnectionTarget.From(resolved.ConnectionString);
            await using (var connection = await DatabaseTarget.OpenAsync(resolved, error, cancellationToken))
            {
                if (connection is null)
                {
                    return DatabaseTarget.CannotConnect;
                }

                var slot = (await SlotInventory.ListAsync(connection, slotName, cancellationToken)).SingleOrDefault();
                if (slot is null)
                {
                    var existing = await SlotInventory.ListAsync(connection, null, cancellationToken);
                    await error.WriteLineAsync(NoSuchSlot(slotName, $"{where.Host}:{where.Port}", ": nothing dropped", existing.Select(s => s.Name).ToList()));
                    return 1;
                }

                if (slot.Active)
                {
                    await error.WriteLineAsync(ActiveRefusal(slot));
                    return 1;
                }

                if (!parse.GetValue(yes))
                {
                    await output.WriteLineAsync(
                        $"About to drop replication slot '{slot.Name}' ({slot.Plugin ?? "physical"}, database {slot.Database ?? "-"}, confirmed {slot.ConfirmedFlushLsn ?? "-"}, lag {ByteSize.Format(slot.LagBytes)}, retains {ByteSize.Format(slot.RetainedBytes)} of WAL).");
                    await output.WriteLineAsync("Its consumer loses its position: changes until it has a new slot are not captured. " + StateFileAdvice(slot.Name, resolved));
                    await output.WriteAsync($"Type the slot name to confirm: ");
                    await output.FlushAsync(cancellationToken);
                    var answer = await (ConfirmationInput.Value ?? Console.In).ReadLineAsync(cancellationToken);
                    if (!string.Equals(answer?.Trim(), slot.Name, StringComparison.Ordinal))
                    {
                        await error.WriteLineAsync($"'{answer?.Trim()}' is not '{slot.Name}': nothing dropped");
                        return 1;
                    }
                }
            }

            var dataSource = NpgsqlDataSource.Create(resolved.ConnectionString);
            await using (dataSource)
            {
                try
                {
                    // force: false — never terminate someone's walsender; an active slot is refused instead.
                    // Its boolean result is not trusted (pg_drop_replication_slot returns void): the catalog is asked again.
                    await ReplicationSetup.DropSlotAsync(dataSource, slotName, force: false, cancellationToken);
                    await using var check = await dataSource.OpenConnectionAsync(cancellationToken);
                    if ((await SlotInventory.ListAsync(check, slotName, cancellationToken)).Count > 0)
                    {
                        await error.WriteLineAsync($"slot '{slotName}' still exists after the drop (recreated by its consumer?)");
                        return 1;
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse)
                {
                    // it became active between the look-up and the drop
                    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                    var slot = (await SlotInventory.ListAsync(connection, slotName, cancellationToken)).SingleOrDefault();
                    await error.WriteLineAsync(slot is null ? e.MessageText : ActiveRefusal(slot));
                    return 1;
                }
                catch (PostgresException e)
                {
                    // e.g. a role without REPLICATION: an answer, not a crash with a stack trace
                    var hint = e.SqlState == PostgresErrorCodes.InsufficientPrivilege
                        ? $" (dropping a slot needs a role with REPLICATION or superuser; {where.User} has neither: ALTER ROLE {ReplicationSetup.QuoteIdentifier(where.User)} WITH REPLICATION;)"
                        : "";
                    await error.WriteLineAsync($"cannot drop replication slot '{slotName}': {e.MessageText}{hint}; nothing dropped");
                    return 1;
                }
            }

            await output.WriteLineAsync($"dropped replication slot '{slotName}' on {where.Host}:{where.Port}");
            if (parse.GetValue(yes))
            {
                // not asked, so not told yet
                await output.WriteLineAsync(StateFileAdvice(slotName, resolved));
            }

            return 0;
        });
        return command;
    }

    private static string ActiveRefusal(ReplicationSlotStatus slot) =>
        $"refusing to drop replication slot '{slot.Name}': it is ACTIVE, held by pid {slot.ActivePid?.ToString(CultureInfo.InvariantCulture) ?? "?"} " +
        $"(client {slot.ClientAddress ?? "address not visible: a local socket, or this role lacks pg_read_all_stats"}{(string.IsNullOrEmpty(slot.ApplicationName) ? "" : ", application " + slot.ApplicationName)}). " +
        $"Stop that consumer first, then drop it; to cut it off: SELECT pg_terminate_backend({slot.ActivePid?.ToString(CultureInfo.InvariantCulture) ?? "pid"});";

    private static string SlotsJson(IReadOnlyList<ReplicationSlotStatus> slots)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            ReadinessOutput.WriteSlots(w, slots);
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
