using System.Globalization;
using System.Text;
using System.Text.Json;
using CdcPipeline.Postgres.Readiness;

namespace CdcPipeline.Commands;

/// <summary>Renders a <see cref="ReadinessReport"/> as an aligned text table (people) or JSON (machines).</summary>
internal static class ReadinessOutput
{
    public static string StatusText(ReadinessStatus status) => status switch
    {
        ReadinessStatus.Ok => "ok",
        ReadinessStatus.Warn => "WARN",
        _ => "FAIL",
    };

    public static string Text(ReadinessReport report)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"db check: {report.Target.Host}:{report.Target.Port}, database {report.Target.Database}, as {report.CurrentUser} (PostgreSQL {report.ServerVersion})\n\n");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var f in report.Findings)
        {
            rows.Add([StatusText(f.Status), f.Check, f.Subject, f.What]);
            if (f.Action is not null)
            {
                rows.Add(["", "", "", "fix: " + f.Action]);
            }
        }

        sb.Append(TextTable.Render(["STATUS", "CHECK", "SUBJECT", "FINDING"], rows));
        if (report.Slots.Count > 0)
        {
            sb.Append("\nreplication slots on this server:\n");
            sb.Append(SlotRows(report.Slots));
        }

        var fails = report.Findings.Count(f => f.Status == ReadinessStatus.Fail);
        var warns = report.Findings.Count(f => f.Status == ReadinessStatus.Warn);
        sb.Append(CultureInfo.InvariantCulture, $"\n{(report.Ready ? "READY" : "NOT READY")}: {fails} failed, {warns} warning(s), {report.Findings.Count - fails - warns} ok\n");
        return sb.ToString();
    }

    public static string SlotRows(IEnumerable<ReplicationSlotStatus> slots) =>
        TextTable.Render(
            ["SLOT", "PLUGIN", "DATABASE", "ACTIVE", "PID", "CLIENT", "RESTART LSN", "CONFIRMED LSN", "LAG", "WAL STATUS"],
            slots.Select(s => (IReadOnlyList<string>)
            [
                s.Name, s.Plugin ?? "(physical)", s.Database ?? "-", s.Active ? "yes" : "no",
                s.ActivePid?.ToString(CultureInfo.InvariantCulture) ?? "-", s.ClientAddress ?? (s.Active ? "local/hidden" : "-"),
                s.RestartLsn ?? "-", s.ConfirmedFlushLsn ?? "-", ByteSize.Format(s.LagBytes), s.WalStatus ?? "-",
            ]));

    public static string Json(ReadinessReport report)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteBoolean("ready", report.Ready);
            w.WriteStartObject("target");
            w.WriteString("host", report.Target.Host);
            w.WriteNumber("port", report.Target.Port);
            w.WriteString("database", report.Target.Database);
            w.WriteString("user", report.CurrentUser);
            w.WriteString("serverVersion", report.ServerVersion);
            w.WriteEndObject();
            w.WriteStartObject("summary");
            w.WriteNumber("ok", report.Findings.Count(f => f.Status == ReadinessStatus.Ok));
            w.WriteNumber("warn", report.Findings.Count(f => f.Status == ReadinessStatus.Warn));
            w.WriteNumber("fail", report.Findings.Count(f => f.Status == ReadinessStatus.Fail));
            w.WriteEndObject();
            w.WriteStartArray("findings");
            foreach (var f in report.Findings)
            {
                w.WriteStartObject();
                w.WriteString("status", f.Status.ToString().ToLowerInvariant());
                w.WriteString("check", f.Check);
                w.WriteString("subject", f.Subject);
                w.WriteString("what", f.What);
                if (f.Action is null)
                {
                    w.WriteNull("action");
                }
                else
                {
                    w.WriteString("action", f.Action);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("tables");
            foreach (var t in report.Tables)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteBoolean("exists", t.Exists);
                WriteNullable(w, "owner", t.Owner);
                w.WriteBoolean("canSelect", t.CanSelect);
                w.WriteBoolean("primaryKey", t.HasPrimaryKey);
                WriteNullable(w, "replicaIdentity", t.ReplicaIdentity);
                w.WriteBoolean("keyOnUpdateDelete", t.KeyOnUpdateDelete);
                w.WriteBoolean("unlogged", t.Unlogged);
                w.WriteStartArray("toastableColumns");
                foreach (var c in t.ToastableColumns)
                {
                    w.WriteStringValue(c);
                }

                w.WriteEndArray();
                if (t.Published is { } published)
                {
                    w.WriteBoolean("published", published);
                }
                else
                {
                    w.WriteNull("published");
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WritePropertyName("slots");
            WriteSlots(w, report.Slots);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public static void WriteSlots(Utf8JsonWriter w, IEnumerable<ReplicationSlotStatus> slots)
    {
        w.WriteStartArray();
        foreach (var s in slots)
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            WriteNullable(w, "plugin", s.Plugin);
            w.WriteString("slotType", s.SlotType);
            WriteNullable(w, "database", s.Database);
            w.WriteBoolean("temporary", s.Temporary);
            w.WriteBoolean("active", s.Active);
            if (s.ActivePid is { } pid)
            {
                w.WriteNumber("activePid", pid);
            }
            else
            {
                w.WriteNull("activePid");
            }

            WriteNullable(w, "clientAddress", s.ClientAddress);
            WriteNullable(w, "restartLsn", s.RestartLsn);
            WriteNullable(w, "confirmedFlushLsn", s.ConfirmedFlushLsn);
            WriteNullable(w, "lagBytes", s.LagBytes);
            WriteNullable(w, "retainedBytes", s.RetainedBytes);
            WriteNullable(w, "walStatus", s.WalStatus);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
