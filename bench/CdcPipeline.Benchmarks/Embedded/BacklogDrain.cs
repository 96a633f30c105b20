using System.Diagnostics;
using System.Globalization;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace CdcPipeline.Benchmarks.Embedded;

/// <summary>
/// Issue 3's load test: a backlog of row changes written while the pipeline is stopped, then drained.
/// Two replication slots are created before the backlog is written, so both readers see the same WAL:
/// (1) a bare Npgsql pgoutput reader that only reads every column's text (the ceiling), in this process;
/// (2) the real <c>cdcpipeline run</c> process (embedded capture → passthrough → file sink with fsync),
/// timed from its start until the file holds every change, with its peak RSS (VmHWM) sampled from /proc.
/// Run: <c>dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- backlog [ROWS] [CONNECTION|-] [ROWS_PER_TRANSACTION]</c>
/// (without CONNECTION, or with <c>-</c>, it starts a throwaway cluster with scripts/pg-start.sh on port 55540;
/// transactions of 1 000 rows by default). The pipeline process inherits the environment, so
/// <c>CDC__source__postgres__streaming=false</c> measures the other streaming mode.
/// </summary>
internal static class BacklogDrain
{
    private const string Publication = "bench_pub";

    public static async Task<int> RunAsync(string[] args)
    {
        var rows = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
        var admin = args.Length > 1 && args[1] != "-" ? args[1] : await StartClusterAsync();
        var perTransaction = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1_000;
        var repo = Repository.Root();
        var work = Path.Combine(repo, ".run", "bench-backlog");
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }

        Directory.CreateDirectory(work);

        var database = "bench_backlog";
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await Exec(connection, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{database}'");
            await Exec(connection, $"DROP DATABASE IF EXISTS {database}");
            await Exec(connection, $"CREATE DATABASE {database}");

            // scripts/pg-start.sh lowers logical_decoding_work_mem to 64kB so that the tests exercise
            // spilling and streaming of large transactions; a benchmark of a production-shaped drain uses
            // PostgreSQL's default (64MB), under which a 1 000-row transaction is decoded in memory.
            // A database-level setting also applies to the walsenders that connect to that database.
            await Exec(connection, $"ALTER DATABASE {database} SET logical_decoding_work_mem = '64MB'");
        }

        var cs = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;
        await using (var connection = new NpgsqlConnection(cs))
        {
            await connection.OpenAsync();
            await Exec(connection, "CREATE TABLE tb_ord (ord_no bigint PRIMARY KEY, cust_no char(8) NOT NULL, ord_sts_cd char(1) NOT NULL, ord_amt numeric(12,2) NOT NULL, ord_dt date NOT NULL, upd_ts timestamptz NOT NULL, memo text)");
            await Exec(connection, $"CREATE PUBLICATION {Publication} FOR TABLE tb_ord");
            await Exec(connection, "SELECT pg_create_logical_replication_slot('bench_bare', 'pgoutput')");
            await Exec(connection, "SELECT pg_create_logical_replication_slot('bench_pipeline', 'pgoutput')");
            await Exec(connection, "SELECT pg_create_logical_replication_slot('bench_walsender', 'pgoutput')");
            var write = Stopwatch.StartNew();
            for (var start = 1; start <= rows; start += perTransaction)
            {
                var end = Math.Min(rows, start + perTransaction - 1);
                await Exec(connection, $"""
                    INSERT INTO tb_ord SELECT g, 'C' || lpad((g % 9999)::text, 7, '0'), (ARRAY['P','S','C'])[1 + g % 3],
                        (g % 100000) / 100.0, DATE '2024-01-01' + (g % 365), TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 second',
                        'order ' || g FROM generate_series({start}, {end}) g
                    """);
            }

            Console.WriteLine($"backlog: {rows:N0} inserts in transactions of {perTransaction:N0} written in {write.Elapsed.TotalSeconds:F1} s while nothing reads the slots");
        }

        string endLsn;
        await using (var connection = new NpgsqlConnection(cs))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection);
            endLsn = (string)(await cmd.ExecuteScalarAsync())!;
        }

        var walsender = await WalsenderCeilingAsync(cs, endLsn);
        if (walsender is { } w)
        {
            Console.WriteLine($"walsender ceiling (pg_recvlogical → /dev/null): {rows:N0} rows in {w.TotalSeconds:F2} s = {rows / w.TotalSeconds:N0} rows/s");
        }

        var bare = await BareReaderAsync(cs, rows);
        Console.WriteLine($"bare Npgsql pgoutput reader: {rows:N0} rows in {bare.TotalSeconds:F2} s = {rows / bare.TotalSeconds:N0} rows/s");

        var (pipeline, rss, cpu, first) = await PipelineAsync(repo, work, cs, rows);
        Console.WriteLine($"cdcpipeline run (capture → file sink, fsync): {rows:N0} rows in {pipeline.TotalSeconds:F2} s from process start = {rows / pipeline.TotalSeconds:N0} rows/s, peak RSS {rss / 1024.0:F0} MB, CPU {cpu.TotalSeconds:F1} s");
        Console.WriteLine($"  first change in the file after {first.TotalSeconds:F2} s (start-up); from then on {rows / (pipeline - first).TotalSeconds:N0} rows/s");
        await using (var connection = new NpgsqlConnection(cs))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT slot_name, spill_txns, stream_txns, total_txns FROM pg_stat_replication_slots ORDER BY 1", connection);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                Console.WriteLine($"  slot {reader.GetString(0)}: {reader.GetInt64(3):N0} transactions, {reader.GetInt64(1):N0} spilled to disk, {reader.GetInt64(2):N0} streamed");
            }
        }

        Console.WriteLine($"ratio pipeline / bare reader: {bare.TotalSeconds / pipeline.TotalSeconds:F2}");
        return 0;
    }

    private static async Task<TimeSpan> BareReaderAsync(string cs, int rows)
    {
        await using var connection = new LogicalReplicationConnection(cs);
        await connection.Open();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(30));
        var watch = Stopwatch.StartNew();
        var seen = 0;
        await foreach (var message in connection.StartReplication(
            new PgOutputReplicationSlot("bench_bare"), new PgOutputReplicationOptions(Publication, PgOutputProtocolVersion.V2), cts.Token))
        {
            if (message is InsertMessage insert)
            {
                await foreach (var value in insert.NewRow)
                {
                    if (!value.IsDBNull)
                    {
                        _ = await value.Get<string>(cts.Token);
                    }
                }

                if (++seen == rows)
                {
                    break;
                }
            }

            connection.SetReplicationStatus(message.WalEnd);
        }

        return watch.Elapsed;
    }

    /// <summary>
    /// The ceiling no client can beat: PostgreSQL's own pg_recvlogical reading the same WAL through pgoutput
    /// and discarding it. On a small machine the walsender's decoding, not the client, sets the pace.
    /// </summary>
    private static async Task<TimeSpan?> WalsenderCeilingAsync(string cs, string endLsn)
    {
        var recvlogical = Path.Combine(Environment.GetEnvironmentVariable("PG_BIN") ?? "/usr/lib/postgresql/15/bin", "pg_recvlogical");
        if (!File.Exists(recvlogical))
        {
            Console.WriteLine($"walsender ceiling: skipped ({recvlogical} not found; set PG_BIN)");
            return null;
        }

        var builder = new NpgsqlConnectionStringBuilder(cs);
        var info = new ProcessStartInfo(recvlogical) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[]
        {
            "-h", builder.Host!, "-p", builder.Port.ToString(CultureInfo.InvariantCulture), "-U", builder.Username!, "-d", builder.Database!,
            "-S", "bench_walsender", "--start", "-o", "proto_version=2", "-o", $"publication_names={Publication}",
            "--endpos", endLsn, "-f", "/dev/null",
        })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["PGPASSWORD"] = builder.Password ?? string.Empty;
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            Console.WriteLine($"walsender ceiling: pg_recvlogical exited with {process.ExitCode}: {errors.Trim()}");
            return null;
        }

        return watch.Elapsed;
    }

    private static async Task<(TimeSpan Elapsed, long PeakKb, TimeSpan Cpu, TimeSpan FirstChange)> PipelineAsync(string repo, string work, string cs, int rows)
    {
        var config = Path.Combine(work, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: bench
            source:
              postgres:
                connectionString: "{cs}"
                publication: {Publication}
                slot: bench_pipeline
                snapshot: never
                stateDirectory: state
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            """);
        var binary = Path.Combine(repo, ".run", "app", "cdcpipeline.dll");
        if (!File.Exists(binary))
        {
            throw new InvalidOperationException($"build the pipeline first: dotnet build src/CdcPipeline -c Release -o .run/app ({binary} is missing)");
        }

        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(binary);
        foreach (var a in new[] { "run", "--config", config })
        {
            info.ArgumentList.Add(a);
        }

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        var events = Path.Combine(work, "events.jsonl");
        long peak = 0;
        TimeSpan? first = null;
        long lines;
        while ((lines = CountLines(events)) < rows)
        {
            if (lines > 0)
            {
                first ??= watch.Elapsed;
            }

            if (process.HasExited)
            {
                throw new InvalidOperationException($"the pipeline exited with {process.ExitCode}");
            }

            peak = Math.Max(peak, PeakRssKb(process.Id));
            await Task.Delay(100);
        }

        var elapsed = watch.Elapsed;
        peak = Math.Max(peak, PeakRssKb(process.Id));
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync();
        }

        await process.WaitForExitAsync();
        return (elapsed, peak, cpu, first ?? elapsed);
    }

    private static long CountLines(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        var buffer = new byte[1 << 20];
        long lines = 0;
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            lines += buffer.AsSpan(0, n).Count((byte)'\n');
        }

        return lines;
    }

    private static long PeakRssKb(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static async Task Exec(NpgsqlConnection connection, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<string> StartClusterAsync()
    {
        var script = Path.Combine(Repository.Root(), "scripts", "pg-start.sh");
        var info = new ProcessStartInfo(script) { RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add("55540");
        info.ArgumentList.Add("--data-dir");
        info.ArgumentList.Add(Path.Combine(Repository.Root(), ".run", "pg-bench"));
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output.Trim().Split('\n')[^1];
    }
}
