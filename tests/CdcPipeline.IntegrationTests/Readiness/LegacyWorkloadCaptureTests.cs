using System.Text.RegularExpressions;
using CdcPipeline.Core.Changes;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Readiness;

/// <summary>
/// The onboarding path end to end: <c>db prepare --apply</c>, then the embedded capture running as the prepared
/// least-privilege role (snapshot, slot, heartbeat) while <c>scripts/legacy-writes.sh</c> drives the legacy workload;
/// every write the script reports arrives as the change it describes.
/// </summary>
public sealed partial class LegacyWorkloadCaptureTests(PostgresFixture fixture) : LegacyDatabaseTestBase(fixture)
{
    [GeneratedRegex(@"^#\d+\s+order (\d+) placed")]
    private static partial Regex Placed();

    [GeneratedRegex(@"^#\d+\s+order (\d+) shipped on (\d{8})( \(its big memo unchanged)?")]
    private static partial Regex Shipped();

    [GeneratedRegex(@"^#\d+\s+order (\d+) cancelled")]
    private static partial Regex Cancelled();

    [GeneratedRegex(@"^#\d+\s+customer (C\d{7}) moved to (.+), (\d+)$")]
    private static partial Regex Moved();

    [GeneratedRegex(@"^#\d+\s+audit: ")]
    private static partial Regex Audit();

    [Fact]
    public async Task The_prepared_role_captures_every_write_of_the_legacy_workload()
    {
        if (!File.Exists("/usr/bin/psql") && !File.Exists("/usr/lib/postgresql/15/bin/psql"))
        {
            Assert.Skip("psql not installed: scripts/legacy-writes.sh needs it");
        }

        var role = NewRoleName("cdcrun");
        var passwordEnv = "CDC_TEST_PW_" + role.ToUpperInvariant();
        Environment.SetEnvironmentVariable(passwordEnv, "pw-" + role);
        var prepared = await Cli.RunAsync("db", "prepare", "--connection", Db.ConnectionString, "--tables", TableList, "--publication", Db.Publication,
            "--role", role, "--password-env", passwordEnv, "--replica-identity-full", "public.tb_cust_mst,public.tb_aud_log", "--apply");
        Assert.Equal(0, prepared.Code);

        var state = Path.Combine(Path.GetTempPath(), "cdc-state-" + Guid.NewGuid().ToString("N")[..8]);
        await using var reader = new SourceReader(new PgOutputChangeSource(new PostgresSourceOptions
        {
            ConnectionString = ConnectionStringAs(role, "pw-" + role),
            Publication = Db.Publication,
            Slot = Db.Slot,
            Tables = LegacyTables,
            Snapshot = SnapshotMode.Initial,
            StateDirectory = state,
            CreatePublicationIfMissing = false,
            HeartbeatInterval = TimeSpan.Zero,
        }), Ct);

        // the seed rows arrive as the snapshot (SELECT is all the role has on them)
        var snapshot = await reader.TakeAsync(4, e => e.Operation == ChangeOperation.Read);
        Assert.Equal(2, snapshot.Count(e => e.Operation == ChangeOperation.Read && e.Source.Table == "tb_ord_mst"));
        await ((PgOutputChangeSource)reader.Source).EmitHeartbeatAsync(Ct); // pg_logical_emit_message works for the role

        var cs = new NpgsqlConnectionStringBuilder(Db.ConnectionString);
        var (code, stdout, stderr) = await RunScriptAsync(
            $"--dsn \"host={cs.Host} port={cs.Port} dbname={Db.Name} user={cs.Username}\" --count 40 --rate 0 --seed 7", cs.Password);
        Assert.True(code == 0, $"legacy-writes.sh failed ({code}): {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('#')).ToList();
        Assert.Equal(40, lines.Count);
        await Db.ExecuteAsync("INSERT INTO tb_aud_log (usr_id, act_cd, log_msg) VALUES ('SENTINEL', 'ZZ', 'end of workload')");

        var events = (await reader.TakeUntilAsync(e => e.Source.Table == "tb_aud_log" && (e.After?["usr_id"] as string)?.Trim() == "SENTINEL", TimeSpan.FromSeconds(60)))
            .Where(e => e.Kind == ChangeKind.Change && e.Operation != ChangeOperation.Read).ToList();

        static string Text(object? value) => value?.ToString()?.Trim() ?? "";
        var orders = events.Where(e => e.Source.Table == "tb_ord_mst").ToList();
        foreach (var line in lines)
        {
            if (Placed().Match(line) is { Success: true } placed)
            {
                Assert.Contains(orders, e => e.Operation == ChangeOperation.Create && Text(e.After!["ord_no"]) == placed.Groups[1].Value && Text(e.After["ord_sts_cd"]) == "P");
                Assert.Contains(events, e => e.Source.Table == "tb_ord_dtl" && e.Operation == ChangeOperation.Create && Text(e.After!["ord_no"]) == placed.Groups[1].Value);
            }
            else if (Shipped().Match(line) is { Success: true } shipped)
            {
                var update = Assert.Single(orders, e => e.Operation == ChangeOperation.Update && Text(e.After!["ord_no"]) == shipped.Groups[1].Value && Text(e.After["ord_sts_cd"]) == "S");
                Assert.Equal(shipped.Groups[2].Value, Text(update.After!["shp_dt"]));
                if (shipped.Groups[3].Success)
                {
                    Assert.Same(Unavailable.Value, update.After["ord_memo"]);
                }
            }
            else if (Cancelled().Match(line) is { Success: true } cancelled)
            {
                Assert.Contains(orders, e => e.Operation == ChangeOperation.Update && Text(e.After!["ord_no"]) == cancelled.Groups[1].Value && Text(e.After["ord_sts_cd"]) == "C");
            }
            else if (Moved().Match(line) is { Success: true } moved)
            {
                // REPLICA IDENTITY FULL: the move carries the old address too
                Assert.Contains(events, e => e.Source.Table == "tb_cust_mst" && e.Operation == ChangeOperation.Update && Text(e.After!["cust_no"]) == moved.Groups[1].Value
                                             && Text(e.After["cust_addr1"]) == moved.Groups[2].Value && e.Before is not null);
            }
        }

        Assert.Contains(lines, l => l.Contains("big memo unchanged", StringComparison.Ordinal)); // seed 7 exercises unchanged TOAST
        Assert.Equal(lines.Count(l => Audit().IsMatch(l)) + 1, events.Count(e => e.Source.Table == "tb_aud_log" && e.Operation == ChangeOperation.Create));
        Directory.Delete(state, recursive: true);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunScriptAsync(string arguments, string? password)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("bash", $"\"{Path.Combine(PostgresFixture.RepoRoot, "scripts", "legacy-writes.sh")}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["PGPASSWORD"] = password ?? "";
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, await stdout, await stderr);
    }
}
