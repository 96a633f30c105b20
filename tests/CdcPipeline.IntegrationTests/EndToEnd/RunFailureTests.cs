using System.Text.Json;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// How <c>cdcpipeline run</c> says it cannot start, as an operator reads it: one line naming what, where and what to
/// do, the exit code, and no stack trace for a failure that is the environment's, not a bug.
/// </summary>
public sealed class RunFailureTests(PostgresFixture fixture) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-runfailure-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_unreachable_postgres_is_one_error_line_naming_the_server_and_the_key_without_a_stack_trace()
    {
        // It logged "crit: … Pipeline failed; stopping Npgsql.NpgsqlException … at Npgsql.Internal…" (the whole trace), then "error: Failed to connect to 127.0.0.1:1".
        var config = await WriteAsync("Host=127.0.0.1;Port=1;Username=cdc;Password=hunter2;Database=legacy;Timeout=5");

        var (exit, log) = await RunAsync(config);

        Assert.True(exit == 1, log);
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("127.0.0.1:1", error, StringComparison.Ordinal);
        Assert.Contains($"source.postgres.connectionString ({config}:4)", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", log, StringComparison.Ordinal);
        // Said once: the human-readable log does not repeat the error line as a log record.
        Assert.Single(log.Split('\n'), l => l.Contains("127.0.0.1:1", StringComparison.Ordinal));
        Assert.DoesNotContain("hunter2", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_json_logs_an_unreachable_postgres_is_one_structured_error_record_without_a_stack_trace()
    {
        // It was only the plain "error: …" line on stderr: a log shipper reading the JSON lines never saw why the service stopped.
        var config = await WriteAsync("Host=127.0.0.1;Port=1;Username=cdc;Password=hunter2;Database=legacy;Timeout=5");

        var (exit, log) = await RunAsync(config, "--log-format", "json");

        Assert.True(exit == 1, log);
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // Every line on stderr is a JSON object (standard output, the console sink's, has nothing here).
        var records = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var error = Assert.Single(records, r => r.GetProperty("LogLevel").GetString() is "Error" or "Critical");
        Assert.Equal("Error", error.GetProperty("LogLevel").GetString());
        Assert.Equal(30, error.GetProperty("EventId").GetInt32());
        Assert.Equal("Npgsql.NpgsqlException", error.GetProperty("State").GetProperty("ExceptionType").GetString());
        var message = error.GetProperty("Message").GetString()!;
        Assert.Contains("127.0.0.1:1", message, StringComparison.Ordinal);
        Assert.Contains($"source.postgres.connectionString ({config}:4)", message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Log_level_debug_shows_the_trace_of_an_expected_failure_the_error_line_stays_one()
    {
        // An operator had no way to see the trace of an expected failure (logged at debug only).
        var config = await WriteAsync("Host=127.0.0.1;Port=1;Username=cdc;Password=hunter2;Database=legacy;Timeout=5");

        var (exit, log) = await RunAsync(config, "--log-level", "debug");

        Assert.True(exit == 1, log);
        Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("dbug: CdcPipeline.Hosting.PipelineWorker[5]", log, StringComparison.Ordinal);
        Assert.Contains("Npgsql.NpgsqlException", log, StringComparison.Ordinal);
        Assert.Contains("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_that_does_not_exist_is_one_error_line_with_the_servers_reason_without_a_stack_trace()
    {
        fixture.RequireServer();
        var missing = new NpgsqlConnectionStringBuilder(fixture.AdminConnectionString) { Database = "no_such_database_cli", Timeout = 5 }.ConnectionString;
        var config = await WriteAsync(missing);

        var (exit, log) = await RunAsync(config);

        Assert.True(exit == 1, log);
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("\"no_such_database_cli\" does not exist", error, StringComparison.Ordinal);
        Assert.Contains("3D000", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slot_dropped_after_the_pipeline_read_from_it_is_one_error_line_saying_what_to_do_without_a_stack_trace()
    {
        // It logged "crit: … Pipeline failed; stopping System.InvalidOperationException: replication slot … at CdcPipeline.Postgres…"
        // (the whole trace) before the error line, for a stop whose message already says what to do.
        await using var db = await fixture.CreateDatabaseAsync("runslotgone");
        await db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY)");
        var position = await db.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
        // the state file of an earlier run that read the slot up to here; the slot was dropped since
        var stateDirectory = Path.Combine(_dir, "state");
        Directory.CreateDirectory(stateDirectory);
        new CdcPipeline.Postgres.Snapshot.SnapshotStateStore(stateDirectory, db.Slot).Save(new CdcPipeline.Postgres.Snapshot.SnapshotState
        {
            Slot = db.Slot,
            ConsistentLsn = (ulong)position,
            ConfirmedLsn = (ulong)position,
            InitialCompleted = true,
        });
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: runfailure
            source:
              postgres:
                connectionString: "{db.ConnectionString}"
                publication: {db.Publication}
                slot: {db.Slot}
                tables: [public.orders]
                stateDirectory: state
            sinks:
              - name: screen
                console: {"{}"}
            """, Ct);

        var (exit, log) = await RunAsync(config);

        Assert.True(exit == 1, log);
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains($"replication slot '{db.Slot}' does not exist", error, StringComparison.Ordinal);
        Assert.Contains("when_needed", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_from_another_working_directory_refuses_when_the_default_state_file_is_beside_the_config_naming_both_paths()
    {
        // stateDirectory not set: the default .run/state is under the working directory. A run from elsewhere (a systemd unit's
        // WorkingDirectory, cd / in a container) found no state file and read the finished initial_only snapshot again, exit 0.
        await using var db = await fixture.CreateDatabaseAsync("runstatecwd");
        await db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)");
        var beside = await WriteCompletedStateAsync(db, Path.Combine(_dir, ".run", "state"));
        var config = await WriteStateConfigAsync(db, stateDirectory: null);
        var elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "elsewhere")).FullName;

        var (exit, log) = await RunInAsync(elsewhere, config);

        Assert.True(exit == 1, log);
        var resolved = Path.Combine(elsewhere, ".run", "state", db.Slot + ".snapshot.json");
        // the start names the file it uses, absolute, in one structured line
        Assert.Contains($"info: CdcPipeline.Postgres.PgOutputChangeSource[1038] State file of slot {db.Slot}: {resolved} (none yet)", log, StringComparison.Ordinal);
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains(resolved, error, StringComparison.Ordinal);
        Assert.Contains(beside, error, StringComparison.Ordinal);
        Assert.Contains($"source.postgres.stateDirectory ({config}:3) to {Path.GetDirectoryName(beside)}", error, StringComparison.Ordinal);
        Assert.Contains($"start run from {_dir} ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.False(File.Exists(resolved), "a refused start wrote a state file of its own");
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{db.Slot}'"));
    }

    [Fact]
    public async Task A_relative_state_directory_refuses_when_the_state_file_is_under_the_working_directory_instead()
    {
        // A relative stateDirectory is resolved beside the config file; a file of this slot under the working directory (where
        // the operator expected it) was ignored and the finished initial_only snapshot read again.
        await using var db = await fixture.CreateDatabaseAsync("runstaterel");
        await db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)");
        var elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "elsewhere")).FullName;
        var underWorkingDirectory = await WriteCompletedStateAsync(db, Path.Combine(elsewhere, "state"));
        var config = await WriteStateConfigAsync(db, stateDirectory: "state");

        var (exit, log) = await RunInAsync(elsewhere, config);

        Assert.True(exit == 1, log);
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains(Path.Combine(_dir, "state", db.Slot + ".snapshot.json"), error, StringComparison.Ordinal);
        Assert.Contains(underWorkingDirectory, error, StringComparison.Ordinal);
        Assert.Contains($"source.postgres.stateDirectory ({config}:9) to {Path.GetDirectoryName(underWorkingDirectory)}", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_state_file_at_the_resolved_path_is_used_whatever_lies_in_the_other_place()
    {
        // Both places hold one (the config's folder is the working directory of another pipeline, say): the resolved one wins.
        await using var db = await fixture.CreateDatabaseAsync("runstateboth");
        await db.ExecuteAsync("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)");
        await WriteCompletedStateAsync(db, Path.Combine(_dir, ".run", "state"));
        var elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "elsewhere")).FullName;
        var resolved = await WriteCompletedStateAsync(db, Path.Combine(elsewhere, ".run", "state"));
        var config = await WriteStateConfigAsync(db, stateDirectory: null);

        var (exit, log) = await RunInAsync(elsewhere, config);

        Assert.True(exit == 0, log);
        Assert.Contains($"State file of slot {db.Slot}: {resolved} (found)", log, StringComparison.Ordinal);
        Assert.Contains("completed in an earlier run", log, StringComparison.Ordinal);
    }

    /// <summary>The state file of an earlier initial_only run that finished its snapshot; returns its path.</summary>
    private static async Task<string> WriteCompletedStateAsync(PostgresTestDatabase db, string directory)
    {
        var position = await db.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
        var store = new CdcPipeline.Postgres.Snapshot.SnapshotStateStore(directory, db.Slot);
        store.Save(new CdcPipeline.Postgres.Snapshot.SnapshotState
        {
            Slot = db.Slot,
            ConsistentLsn = (ulong)position,
            ConfirmedLsn = (ulong)position,
            InitialCompleted = true,
        });
        return Path.GetFullPath(store.Path);
    }

    private async Task<string> WriteStateConfigAsync(PostgresTestDatabase db, string? stateDirectory)
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: runfailure
            source:
              postgres:
                connectionString: "{db.ConnectionString}"
                publication: {db.Publication}
                slot: {db.Slot}
                tables: [public.orders]
                snapshot: initial_only
            {(stateDirectory is null ? "" : "    stateDirectory: " + stateDirectory)}
            sinks:
              - name: screen
                console: {"{}"}
            """, Ct);
        return config;
    }

    private static async Task<(int Exit, string Log)> RunInAsync(string workingDirectory, string config)
    {
        using var pipeline = PipelineProcess.StartIn(workingDirectory, "run", "--config", config);
        var exit = await pipeline.ExitCodeAsync(Timeout);
        var log = pipeline.Log;
        TestContext.Current.TestOutputHelper?.WriteLine(log);
        return (exit, log);
    }

    [Fact]
    public async Task An_invalid_failure_connection_string_stops_run_with_exit_2_naming_the_key_and_its_line()
    {
        // AddCdcFailureStore built the store unchecked: Npgsql's ArgumentException ("Couldn't set port") escaped with its trace.
        var config = Path.Combine(_dir, "failures.yaml");
        await File.WriteAllTextAsync(config, """
            name: runfailure
            source:
              memory: {}
            failures:
              connectionString: "Host=;Port=abc;Password=hunter2"
            sinks:
              - name: screen
                console: {}
            """, Ct);

        var (exit, log) = await RunAsync(config);

        Assert.True(exit == 2, log);
        Assert.Contains($"error: {config}:5: failures.connectionString: not a valid Npgsql connection string", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no --config")]
    [InlineData("an unknown option")]
    [InlineData("a bad --log-level")]
    [InlineData("a missing file")]
    [InlineData("a directory")]
    [InlineData("not YAML")]
    [InlineData("an unknown key")]
    [InlineData("a sink's bad setting")]
    public async Task With_json_logs_a_command_line_or_configuration_error_is_one_structured_record_exit_2(string wrong)
    {
        // These were found before the log format was set up: plain "error: …" / System.CommandLine lines on stderr, so a
        // log shipper reading the JSON lines never saw why the container exited.
        var config = Path.Combine(_dir, "pipeline.yaml");
        var yaml = wrong switch
        {
            "not YAML" => "name: runfailure\nsource: [memory: {\n",
            "an unknown key" => "name: runfailure\nsource:\n  postgres:\n    connectionString: \"Host=127.0.0.1;Port=1;Username=cdc;Database=legacy\"\n    publication: cdc_pub\n    slot: cdc_slot\n    tables: [public.orders]\nsinkz: x\n",
            "a sink's bad setting" => "name: runfailure\nsource:\n  postgres:\n    connectionString: \"Host=127.0.0.1;Port=1;Username=cdc;Database=legacy\"\n    publication: cdc_pub\n    slot: cdc_slot\n    tables: [public.orders]\nsinks:\n  - name: hook\n    webhook: { url: \"not a url\" }\n",
            _ => "name: runfailure\nsource:\n  postgres:\n    connectionString: \"Host=127.0.0.1;Port=1;Username=cdc;Database=legacy\"\n    publication: cdc_pub\n    slot: cdc_slot\n    tables: [public.orders]\nsinks:\n  - name: screen\n    console: {}\n",
        };
        if (wrong == "a directory")
        {
            // Was "does not exist"; a file that cannot be read (mode 000 for a non-root user) escaped as a stack trace.
            Directory.CreateDirectory(config);
        }
        else if (wrong != "a missing file")
        {
            await File.WriteAllTextAsync(config, yaml, Ct);
        }

        string[] arguments = wrong switch
        {
            "no --config" => ["run", "--log-format", "json"],
            "an unknown option" => ["run", "--config", config, "--bogus", "--log-format", "json"],
            "a bad --log-level" => ["run", "--log-format=json", "--config", config, "--log-level", "loud"],
            _ => ["run", "--config", config, "--log-format", "json"],
        };
        string expected = wrong switch
        {
            "no --config" => "--config",
            "an unknown option" => "--bogus",
            "a bad --log-level" => "loud",
            "a missing file" => $"configuration file '{config}' does not exist",
            "a directory" => $"cannot read configuration file '{config}': it is a directory",
            "not YAML" => "not valid YAML",
            "an unknown key" => $"{config}:8: sinkz: unknown key",
            _ => $"{config}:10: sinks.0.webhook.url: must be an absolute http:// or https:// URL",
        };

        using var pipeline = PipelineProcess.Start(arguments);
        var exit = await pipeline.ExitCodeAsync(Timeout);
        var log = pipeline.Log;
        TestContext.Current.TestOutputHelper?.WriteLine(log);

        Assert.True(exit == 2, log);
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // One line, a JSON object: the same record as any other reason run stops (event 30).
        var line = Assert.Single(lines);
        var record = JsonDocument.Parse(line).RootElement;
        Assert.Equal("Error", record.GetProperty("LogLevel").GetString());
        Assert.Equal(30, record.GetProperty("EventId").GetInt32());
        Assert.Equal("CdcPipeline.Commands.RunCommand", record.GetProperty("Category").GetString());
        Assert.Contains(expected, record.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.True(record.GetProperty("State").TryGetProperty("ExceptionType", out _), line);
    }

    [Fact]
    public async Task With_text_logs_a_command_line_error_stays_the_plain_lines()
    {
        using var pipeline = PipelineProcess.Start("run", "--log-format", "text");
        var exit = await pipeline.ExitCodeAsync(Timeout);

        Assert.True(exit == 2, pipeline.Log);
        Assert.Contains("see 'cdcpipeline run --help'", pipeline.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("{", pipeline.Log, StringComparison.Ordinal);
    }

    private async Task<string> WriteAsync(string connectionString)
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: runfailure
            source:
              postgres:
                connectionString: "{connectionString}"
                publication: cdc_pub
                slot: cdc_slot
                tables: [public.orders]
            sinks:
              - name: screen
                console: {"{}"}
            """, Ct);
        return config;
    }

    private static async Task<(int Exit, string Log)> RunAsync(string config, params string[] options)
    {
        using var pipeline = PipelineProcess.Start(["run", "--config", config, .. options]);
        var exit = await pipeline.ExitCodeAsync(Timeout);
        var log = pipeline.Log;
        TestContext.Current.TestOutputHelper?.WriteLine(log);
        return (exit, log);
    }
}
