using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>
/// Incremental snapshots that retrying cannot make succeed: a table that does not exist or is not captured is refused
/// and the rest still run, a table dropped mid-snapshot is skipped, a table the capture user may not read stops the
/// capture with the GRANT to run. None of them may hold up the snapshots queued after it.
/// </summary>
public sealed class PgOutputSnapshotFailureTests(PostgresFixture fixture) : PgOutputTestBase(fixture)
{
    private static bool IsReadOf(ChangeEvent e, string table) => e.Operation == ChangeOperation.Read && e.Source.Table == table;

    private string StatePath => Path.Combine(StateDirectory, Db.Slot + ".snapshot.json");

    private List<string> LogLines()
    {
        lock (Logs.Lines)
        {
            return [.. Logs.Lines];
        }
    }

    private List<string> Warnings(string containing)
    {
        lock (Logs.Lines)
        {
            return Logs.Lines.Where(l => l.Contains(" Warning ", StringComparison.Ordinal) && l.Contains(containing, StringComparison.Ordinal)).ToList();
        }
    }

    [Fact]
    public async Task A_signal_naming_a_missing_and_an_uncaptured_table_refuses_both_with_a_warning_and_snapshots_its_other_table()
    {
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct SELECT g, 0 FROM generate_series(1, 5) g; " +
                              "CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other VALUES (1); " +
                              "CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var reader = await OpenStreamingAsync(Options(["public.acct"]) with { SignalTable = "public.cdc_signal" });
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");

        // The refused tables come first: they must not hold up the table after them.
        await Db.ExecuteAsync("""INSERT INTO cdc_signal VALUES ('s1', 'execute-snapshot', '{"data-collections":["public.nope","public.other","public.acct"]}')""");
        var events = await reader.TakeAsync(5, e => IsReadOf(e, "acct"), TimeSpan.FromSeconds(30));

        Assert.DoesNotContain(events, e => e.Source.Table == "other");
        var missing = Assert.Single(Warnings("public.nope"));
        Assert.Contains("does not exist", missing, StringComparison.Ordinal);
        Assert.Contains("public.acct", missing, StringComparison.Ordinal); // what is captured, to correct the signal by
        var uncaptured = Assert.Single(Warnings("public.other"));
        Assert.Contains($"not in publication {Db.Publication}", uncaptured, StringComparison.Ordinal);
        // refused, not queued: a restart does not try them again
        var state = await File.ReadAllTextAsync(StatePath, Ct);
        Assert.DoesNotContain("public.nope", state, StringComparison.Ordinal);
        Assert.DoesNotContain("public.other", state, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signals_it_cannot_run_each_get_one_warning_naming_the_signal_and_what_to_do_and_the_stream_goes_on()
    {
        // An operator's wrong signal row (data that is not JSON or not an object, a table name that is not text, a table
        // that does not exist, a Debezium kind or option the embedded capture does not run, a typo in the type) must neither
        // stop the stream nor pass without a word: Debezium warns per signal, naming its id; so does this, with what to do.
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct SELECT g, 0 FROM generate_series(1, 5) g; " +
                              "CREATE TABLE cdc_signal (id text PRIMARY KEY, type text NOT NULL, data text)");
        var reader = await OpenStreamingAsync(Options(["public.acct"]) with { SignalTable = "public.cdc_signal" });
        await Db.ExecuteAsync($"ALTER PUBLICATION {Db.Publication} ADD TABLE cdc_signal");

        await Db.ExecuteAsync("""
            INSERT INTO cdc_signal VALUES ('sig-notjson', 'execute-snapshot', 'public.acct');
            INSERT INTO cdc_signal VALUES ('sig-array', 'execute-snapshot', '["public.acct"]');
            INSERT INTO cdc_signal VALUES ('sig-number', 'execute-snapshot', '{"data-collections":[42]}');
            INSERT INTO cdc_signal VALUES ('sig-none', 'execute-snapshot', '{"data-collections":[]}');
            INSERT INTO cdc_signal VALUES ('sig-missing', 'execute-snapshot', '{"data-collections":["public.nope"]}');
            INSERT INTO cdc_signal VALUES ('sig-blocking', 'execute-snapshot', '{"data-collections":["public.acct"],"type":"blocking"}');
            INSERT INTO cdc_signal VALUES ('sig-filtered', 'execute-snapshot', '{"data-collections":["public.acct"],"additional-conditions":[{"data-collection":"public.acct","filter":"id > 3"}]}');
            INSERT INTO cdc_signal VALUES ('sig-stop', 'stop-snapshot', '{"data-collections":["public.acct"]}');
            INSERT INTO cdc_signal VALUES ('sig-pause', 'pause-snapshot', NULL);
            INSERT INTO cdc_signal VALUES ('sig-typo', 'execute-snapshots', '{"data-collections":["public.acct"]}');
            INSERT INTO cdc_signal VALUES ('sig-log', 'log', '{"message":"before the migration, at {}"}');
            INSERT INTO acct VALUES (6, 0);
            INSERT INTO cdc_signal VALUES ('sig-ok', 'execute-snapshot', '{"data-collections":["public.acct"]}');
            """);
        var events = await reader.TakeAsync(6, e => IsReadOf(e, "acct"), TimeSpan.FromSeconds(30));
        await Db.ExecuteAsync("SELECT pg_logical_emit_message(false, 'test-marker', 'end')");
        events.AddRange(await reader.TakeUntilAsync(e => e.Message?.Prefix == "test-marker", TimeSpan.FromSeconds(30)));

        // the stream went on past every wrong signal, and only the right one read the table (once)
        Assert.Contains(events, e => e.Operation == ChangeOperation.Create && e.Source.Table == "acct");
        Assert.Equal(Enumerable.Range(1, 6).Select(i => (long)i), events.Where(e => IsReadOf(e, "acct")).Select(e => Convert.ToInt64(e.Key!["id"])).Order());
        string One(string id, string says)
        {
            var line = Assert.Single(Warnings("'" + id + "'"));
            Assert.Contains(says, line, StringComparison.Ordinal);
            return line;
        }

        const string Shape = """{"data-collections":["schema.table"]}""";
        Assert.Contains(Shape, One("sig-notjson", "is not JSON"), StringComparison.Ordinal);
        Assert.Contains(Shape, One("sig-array", "not a JSON object"), StringComparison.Ordinal);
        Assert.Contains(Shape, One("sig-number", "42"), StringComparison.Ordinal);
        Assert.Contains(Shape, One("sig-none", "no table"), StringComparison.Ordinal);
        Assert.Contains("public.acct", One("sig-missing", "public.nope"), StringComparison.Ordinal); // the captured tables
        One("sig-blocking", "blocking");
        One("sig-filtered", "additional-conditions");
        Assert.Contains("not supported", One("sig-stop", "stop-snapshot"), StringComparison.Ordinal);
        Assert.Contains("not supported", One("sig-pause", "pause-snapshot"), StringComparison.Ordinal);
        Assert.Contains("execute-snapshot", One("sig-typo", "execute-snapshots"), StringComparison.Ordinal);
        Assert.Empty(Warnings("'sig-ok'"));
        Assert.Empty(Warnings("'sig-log'"));
        Assert.Single(LogLines(), l => l.Contains("'sig-log'", StringComparison.Ordinal) && l.Contains("before the migration, at ", StringComparison.Ordinal)
                                       && !l.Contains("{}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_requested_snapshot_of_a_table_outside_the_configured_tables_is_refused_and_the_next_request_runs()
    {
        await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct SELECT g, 0 FROM generate_series(1, 5) g; " +
                              "CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other VALUES (1)");
        // the publication has both tables, the capture is configured for one: the other is not captured
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE acct, other");
        var reader = await OpenStreamingAsync(Options(["public.acct"]));

        var source = (PgOutputChangeSource)reader.Source;
        source.RequestSnapshot("other");
        source.RequestSnapshot("acct");
        var events = await reader.TakeAsync(5, e => IsReadOf(e, "acct"), TimeSpan.FromSeconds(30));

        Assert.DoesNotContain(events, e => e.Source.Table == "other");
        var refused = Assert.Single(Warnings("public.other"));
        Assert.Contains("source.postgres.tables", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_table_dropped_while_its_snapshot_runs_is_skipped_with_a_warning_and_the_next_snapshot_runs()
    {
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY); INSERT INTO big SELECT generate_series(1, 2000); " +
                              "CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct SELECT g, 0 FROM generate_series(1, 5) g");
        var reader = await OpenStreamingAsync(Options(["public.big", "public.acct"]) with { SnapshotChunkSize = 10 });
        var source = (PgOutputChangeSource)reader.Source;
        source.RequestSnapshot("big");
        source.RequestSnapshot("acct");

        // The reader is pulled only here: the snapshotter is at most one chunk ahead, far from big's end.
        await reader.TakeAsync(1, e => IsReadOf(e, "big"), TimeSpan.FromSeconds(30));
        await Db.ExecuteAsync("DROP TABLE big");
        var events = await reader.TakeAsync(5, e => IsReadOf(e, "acct"), TimeSpan.FromSeconds(30));

        Assert.True(events.Count(e => IsReadOf(e, "big")) < 1999, "big was read to its end before the drop");
        var skipped = Assert.Single(Warnings("public.big"), l => l.Contains("dropped", StringComparison.Ordinal));
        Assert.Contains("skipped", skipped, StringComparison.Ordinal);
        Assert.DoesNotContain(LogLines(), l => l.Contains("chunk of public.big failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chunk_whose_connection_is_lost_is_read_again_and_the_table_completes_without_gaps_or_repeats()
    {
        await Db.ExecuteAsync("CREATE TABLE big (id int PRIMARY KEY); INSERT INTO big SELECT generate_series(1, 2000)");
        var reader = await OpenStreamingAsync(Options(["public.big"]) with { SnapshotChunkSize = 10 });
        ((PgOutputChangeSource)reader.Source).RequestSnapshot("big");

        var events = await reader.TakeAsync(1, e => IsReadOf(e, "big"), TimeSpan.FromSeconds(30));
        // The snapshotter's connections (not the walsender of the stream) are killed until one of its chunks fails on one.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!LogLines().Any(l => l.Contains("chunk of public.big failed; retrying", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "no chunk failed on a killed connection");
            await Db.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() " +
                                  "AND backend_type = 'client backend' AND pid <> pg_backend_pid()");
            if (await reader.NextAsync(TimeSpan.FromMilliseconds(100)) is { } next)
            {
                events.Add(next);
            }
        }

        events.AddRange(await reader.TakeAsync(2000 - events.Count(e => IsReadOf(e, "big")), e => IsReadOf(e, "big"), TimeSpan.FromSeconds(60)));

        var ids = events.Where(e => IsReadOf(e, "big")).Select(e => Convert.ToInt64(e.Key!["id"])).ToList();
        Assert.Equal(Enumerable.Range(1, 2000).Select(i => (long)i), ids);
        Assert.Empty(Warnings("refused"));
        Assert.Empty(Warnings("skipped"));
    }

    [Fact]
    public async Task A_configured_table_that_does_not_exist_stops_the_start_naming_it_and_the_config_key_with_or_without_the_publication()
    {
        await Db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
        string[] tables = ["public.t", "public.nope"];

        // no publication yet: before the fix CREATE PUBLICATION … FOR TABLE public.nope failed with PostgreSQL's bare 42P01
        var first = Open(Options(tables, SnapshotMode.Initial));
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => first.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));
        AssertMissingTableStop(e);
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{Db.Publication}'"));
        Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));

        // the publication made for the table that exists: before the fix the snapshot failed with the same bare 42P01
        await Db.ExecuteAsync($"CREATE PUBLICATION {Db.Publication} FOR TABLE t");
        // the first pipeline stopped: it holds the state file until disposed, as a stopped process lets it go
        await first.DisposeAsync();
        var second = Open(Options(tables, SnapshotMode.Initial));
        AssertMissingTableStop(await Assert.ThrowsAsync<CaptureStoppedException>(() => second.TakeAsync(1, timeout: TimeSpan.FromSeconds(20))));
    }

    [Fact]
    public async Task A_table_without_columns_to_snapshot_stops_the_capture_naming_it_and_the_config_key()
    {
        // pgoutput does not send generated columns, so a table of only those has nothing to snapshot
        await Db.ExecuteAsync("CREATE TABLE hollow (); ALTER TABLE hollow REPLICA IDENTITY FULL; INSERT INTO hollow DEFAULT VALUES");

        var reader = Open(Options(["public.hollow"], SnapshotMode.Initial));
        // before the fix: InvalidOperationException "table public.hollow has no columns or does not exist", shown as a bug
        var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

        Assert.Contains("public.hollow", e.Message, StringComparison.Ordinal);
        Assert.Contains("source.postgres.tables", e.Message, StringComparison.Ordinal);
    }

    private void AssertMissingTableStop(CaptureStoppedException e)
    {
        Assert.Contains("public.nope", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("public.t,", e.Message, StringComparison.Ordinal);
        Assert.Contains("source.postgres.tables", e.Message, StringComparison.Ordinal);
        Assert.Contains(Db.Name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_table_the_capture_user_may_not_read_stops_the_first_start_with_the_grant_before_a_slot_is_left_behind()
    {
        var role = ("r_initgrant_" + Guid.NewGuid().ToString("N")[..8]).ToLowerInvariant();
        await using (var admin = new NpgsqlConnection(Fixture.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var create = new NpgsqlCommand($"CREATE ROLE \"{role}\" LOGIN REPLICATION PASSWORD 'pw'", admin);
            await create.ExecuteNonQueryAsync(Ct);
        }

        try
        {
            await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct VALUES (1, 0); " +
                                  "CREATE TABLE secret (id int PRIMARY KEY); INSERT INTO secret VALUES (1); " +
                                  $"GRANT SELECT ON acct TO \"{role}\"; CREATE PUBLICATION {Db.Publication} FOR TABLE acct, secret");
            var options = Options(["public.acct", "public.secret"], SnapshotMode.Initial) with
            {
                ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Username = role, Password = "pw" }.ConnectionString,
                CreatePublicationIfMissing = false,
            };

            // before the fix: the slot was created, then the snapshot failed with PostgreSQL's bare 42501 (shown as "check that
            // the server is up and that the connection string is right"), and the new slot stayed behind retaining WAL
            var reader = Open(options);
            var e = await Assert.ThrowsAsync<CaptureStoppedException>(() => reader.TakeAsync(1, timeout: TimeSpan.FromSeconds(20)));

            Assert.Contains("public.secret", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("public.acct", e.Message, StringComparison.Ordinal);
            Assert.Contains($"GRANT SELECT ON \"public\".\"secret\" TO \"{role}\";", e.Message, StringComparison.Ordinal);
            Assert.Equal(0L, await Db.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{Db.Slot}'"));
        }
        finally
        {
            await Db.ExecuteAsync($"REVOKE ALL ON acct FROM \"{role}\"");
            await using var admin = new NpgsqlConnection(Fixture.AdminConnectionString);
            await admin.OpenAsync(Ct);
            await using var drop = new NpgsqlCommand($"DROP ROLE IF EXISTS \"{role}\"", admin);
            try
            {
                await drop.ExecuteNonQueryAsync(Ct);
            }
            catch (PostgresException)
            {
                // still referenced (a failed test left a slot or session): a harmless leftover of the throwaway cluster
            }
        }
    }

    [Fact]
    public async Task A_table_the_capture_user_may_not_read_stops_the_capture_naming_the_table_and_the_grant()
    {
        var role = ("r_snapgrant_" + Guid.NewGuid().ToString("N")[..8]).ToLowerInvariant();
        await using (var admin = new NpgsqlConnection(Fixture.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var create = new NpgsqlCommand($"CREATE ROLE \"{role}\" LOGIN REPLICATION PASSWORD 'pw'", admin);
            await create.ExecuteNonQueryAsync(Ct);
        }

        try
        {
            await Db.ExecuteAsync("CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct VALUES (1, 0); " +
                                  "CREATE TABLE secret (id int PRIMARY KEY); INSERT INTO secret VALUES (1); " +
                                  $"GRANT SELECT ON acct TO \"{role}\"; CREATE PUBLICATION {Db.Publication} FOR TABLE acct, secret");
            var options = Options(["public.acct", "public.secret"]) with
            {
                ConnectionString = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Username = role, Password = "pw" }.ConnectionString,
                CreatePublicationIfMissing = false,
            };
            await using var reader = await OpenStreamingAsync(options);

            ((PgOutputChangeSource)reader.Source).RequestSnapshot("secret");
            var e = await Assert.ThrowsAnyAsync<Exception>(() => reader.TakeAsync(1, e => e.Operation == ChangeOperation.Read, TimeSpan.FromSeconds(30)));

            Assert.IsType<CaptureStoppedException>(e);
            Assert.Contains("public.secret", e.Message, StringComparison.Ordinal);
            Assert.Contains($"GRANT SELECT ON \"public\".\"secret\" TO \"{role}\";", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            await Db.ExecuteAsync($"REVOKE ALL ON acct FROM \"{role}\"");
            await using var admin = new NpgsqlConnection(Fixture.AdminConnectionString);
            await admin.OpenAsync(Ct);
            await using var drop = new NpgsqlCommand($"DROP ROLE IF EXISTS \"{role}\"", admin);
            try
            {
                await drop.ExecuteNonQueryAsync(Ct);
            }
            catch (PostgresException)
            {
                // still referenced (a failed test left a slot or session): a harmless leftover of the throwaway cluster
            }
        }
    }
}
