using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Text.RegularExpressions;
using CdcPipeline.IntegrationTests.Support;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>
/// <c>run</c> with an <c>observability</c> section: an operator scrapes Prometheus metrics and probes liveness and
/// readiness on the configured port, as the docker-compose health check does.
/// </summary>
public sealed partial class ObservabilityTests(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-obs-").FullName;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private PostgresTestDatabase _db = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _db = await fixture.CreateDatabaseAsync("obs");

    [Fact]
    public async Task Run_serves_metrics_liveness_and_readiness_on_the_configured_port()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            observability:
              port: {port}
            """, heartbeat: true);

        // Before the pipeline runs nothing answers: a probe fails rather than calling a dead pipeline healthy.
        await Assert.ThrowsAsync<HttpRequestException>(() => _http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Ct));

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/healthz"));

        Assert.Equal(0, Value(await ScrapeAsync(port), "cdc_changes_read_total"));

        await _db.ExecuteAsync("INSERT INTO kv SELECT g, 0 FROM generate_series(1, 5) g");
        await WaitUntilAsync(async () => Value(await ScrapeAsync(port), "cdc_changes_read_total") >= 5, pipeline);
        await WaitUntilAsync(async () => Value(await ScrapeAsync(port), "cdc_events_delivered_total") >= 5, pipeline);
        // The slot's lag is measured at each heartbeat (every second here).
        await WaitUntilAsync(async () => (await ScrapeAsync(port)).Contains("# TYPE cdc_postgres_slot_lag_bytes gauge", StringComparison.Ordinal), pipeline);
        var scrape = await ScrapeAsync(port);
        Assert.Contains("# TYPE cdc_changes_read_total counter", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE cdc_events_produced_total counter", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE cdc_positions_acknowledged_total counter", scrape, StringComparison.Ordinal);
        Assert.True(Value(scrape, "cdc_positions_acknowledged_total") >= 1, scrape);

        // How long the file sink took per batch, in seconds, with buckets fit for seconds (not the exporter's ms defaults).
        Assert.Contains("# TYPE cdc_sink_batch_duration_seconds histogram", scrape, StringComparison.Ordinal);
        Assert.Contains(scrape.Split('\n'), line => line.StartsWith("cdc_sink_batch_duration_seconds_bucket{", StringComparison.Ordinal)
            && line.Contains("sink=\"file\"", StringComparison.Ordinal) && line.Contains("outcome=\"delivered\"", StringComparison.Ordinal)
            && line.Contains("le=\"0.005\"", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/healthz"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(port, "/nothing-here"));
        Assert.Equal(0, await ComposeHealthCheckAsync(port));

        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
        await Assert.ThrowsAsync<HttpRequestException>(() => _http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Ct));
        Assert.NotEqual(0, await ComposeHealthCheckAsync(port));
    }

    /// <summary>
    /// The cdcpipeline service's health check from docker-compose.yml (an HTTP/1.0 request through bash's /dev/tcp, the
    /// status line read back), run here against <paramref name="port"/> instead of 9464; its exit code.
    /// </summary>
    private static async Task<int> ComposeHealthCheckAsync(int port)
    {
        if (!File.Exists("/bin/bash"))
        {
            Assert.Skip("the compose health check needs bash to run outside its container");
        }

        var yaml = new YamlDotNet.RepresentationModel.YamlStream();
        using (var reader = new StreamReader(Path.Combine(Kafka.KafkaRecords.RepositoryRoot, "docker-compose.yml")))
        {
            yaml.Load(reader);
        }

        var services = (YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlMappingNode)yaml.Documents[0].RootNode)["services"];
        var healthcheck = (YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlMappingNode)services["cdcpipeline"])["healthcheck"];
        var test = ((YamlDotNet.RepresentationModel.YamlSequenceNode)healthcheck["test"]).Select(n => ((YamlDotNet.RepresentationModel.YamlScalarNode)n).Value!).ToList();
        Assert.Equal("CMD", test[0]);
        var start = new System.Diagnostics.ProcessStartInfo(test[1], test.Skip(2).Select(a => a.Replace("/9464", $"/{port}", StringComparison.Ordinal)))
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode;
    }

    [Fact]
    public async Task Liveness_fails_once_changes_wait_longer_than_stallTimeout_and_holds_while_idle()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: hook
                webhook: {"{"} url: "http://127.0.0.1:{FreePorts.Next()}/down" {"}"}
                retry: {"{"} maxAttempts: 0, initialDelay: "00:00:00.100", maxDelay: "00:00:00.500" {"}"}
            observability:
              port: {port}
              stallTimeout: "00:00:01"
            runner: {"{"} drainTimeout: "00:00:10" {"}"}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/healthz")); // idle, nothing waiting

        // The webhook never answers: the change waits, unacknowledged, and liveness says so.
        await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 0)");
        await WaitUntilAsync(async () => await StatusAsync(port, "/healthz") == HttpStatusCode.ServiceUnavailable, pipeline);
        // The body says why, as the degraded one said a second earlier: which sink holds the changes back and its last error
        // (before: only "stalled: 1 change(s) without acknowledgement for 2 s (observability.stallTimeout 00:00:01)").
        var (_, stalledBody) = await AnswerAsync(port, "/healthz");
        Assert.Matches(
            @"^stalled: \d+ change\(s\) without acknowledgement for \d+ s \(observability\.stallTimeout 00:00:01\); " +
            @"sink hook failing for \d+ s \(last error: .+\)\n$",
            stalledBody);
        Assert.DoesNotContain("   at ", stalledBody, StringComparison.Ordinal); // one line, no stack trace
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/readyz"));

        // A stop drains (here for all of drainTimeout: the webhook never answers). Liveness still answers meanwhile,
        // with the pipeline's state, so a probe does not take the draining process for a dead one.
        var stop = pipeline.TerminateAsync(TimeSpan.FromSeconds(60));
        await WaitUntilAsync(() => Task.FromResult(pipeline.Log.Contains("Pipeline stopping: delivering", StringComparison.Ordinal)), pipeline);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(port, "/healthz"));
        Assert.Equal(1, await stop); // the drain was cut short: the change is delivered again after a restart
    }

    /// <summary>
    /// The failure store (<c>failures:</c>) that cannot record a sink's failed delivery stops <c>run</c> (the event can be
    /// neither recorded nor skipped). Its one error line blamed the source: "check that the server is up and that
    /// source.postgres.connectionString (…) is right", while the source streamed fine; an operator checked the wrong database.
    /// </summary>
    [Fact]
    public async Task A_failure_store_that_cannot_be_reached_stops_run_naming_failures_connectionString_not_the_source()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        var config = await WriteConfigAsync($"""
            failures:
              connectionString: "Host=127.0.0.1;Port={FreePorts.Next()};Username=ops;Password=StoreSecret42;Database=ops;Timeout=3"
            sinks:
              - name: hook
                webhook: {"{"} url: "http://127.0.0.1:{FreePorts.Next()}/down" {"}"}
                onFailure: log
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(() => Task.FromResult(pipeline.Log.Contains("Starting replication from slot", StringComparison.Ordinal)), pipeline);
        await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 0)");

        Assert.Equal(1, await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60)));
        var error = Assert.Single(pipeline.Log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("the failure store could not record a failed delivery of sink 'hook'", error, StringComparison.Ordinal);
        Assert.Contains("Failed to connect to 127.0.0.1:", error, StringComparison.Ordinal);
        Assert.Contains("failures.connectionString (", error, StringComparison.Ordinal);
        Assert.DoesNotContain("source.postgres.connectionString", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", pipeline.Log, StringComparison.Ordinal); // expected: one line, no stack trace
        Assert.DoesNotContain("StoreSecret42", pipeline.Log, StringComparison.Ordinal);
    }

    /// <summary>
    /// A dead-letter file that cannot be written (<c>deadLetter.path</c> under a regular file; as root a read-only directory
    /// does not stop a write) stops <c>run</c>: the dead letter can be neither kept nor skipped. Its last line was the bare
    /// IOException ("The file '…/blocker' already exists."), after a "crit" with the whole stack trace as for a bug, naming
    /// neither deadLetter.path nor where it is configured.
    /// </summary>
    [Fact]
    public async Task A_dead_letter_file_that_cannot_be_written_stops_run_naming_deadLetter_path_without_a_stack_trace()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        await File.WriteAllTextAsync(Path.Combine(_dir, "blocker"), "a regular file, not a directory\n", Ct);
        var config = await WriteConfigAsync($"""
            sinks:
              - name: hook
                webhook: {"{"} url: "http://127.0.0.1:{FreePorts.Next()}/down" {"}"}
                retry: {"{"} maxAttempts: 1 {"}"}
            deadLetter: {"{"} path: blocker/dead-letters.jsonl {"}"}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(() => Task.FromResult(pipeline.Log.Contains("Starting replication from slot", StringComparison.Ordinal)), pipeline);
        await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 0)");

        Assert.Equal(1, await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60)));
        var error = Assert.Single(pipeline.Log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("could not keep a dead letter of sink 'hook' (position ", error, StringComparison.Ordinal);
        Assert.Contains("blocker", error, StringComparison.Ordinal);
        Assert.Contains($"deadLetter.path ({config}:", error, StringComparison.Ordinal);
        Assert.DoesNotContain("source.postgres.connectionString", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", pipeline.Log, StringComparison.Ordinal); // expected: one line, no stack trace
    }

    /// <summary>
    /// A captured table taken out of the publication, renamed away or dropped (events 1031/1033/1035) is not something a restart fixes, and a
    /// CDC worker serves no traffic to take it out of: the probes keep their status codes (200) but say what is wrong in their
    /// body, so an operator curl-ing them sees it; back in the publication, the body is <c>ok</c> again.
    /// </summary>
    [Fact]
    public async Task Probes_answer_degraded_naming_captured_tables_out_of_the_publication_renamed_or_dropped_while_running()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL); CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE items (id int PRIMARY KEY); " +
                               "CREATE TABLE gone (id int PRIMARY KEY)");
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            observability:
              port: {port}
            """, heartbeat: true, tables: "public.kv, public.orders, public.items, public.gone");

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/readyz"));
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/healthz"));

        await _db.ExecuteAsync($"ALTER PUBLICATION {_db.Publication} DROP TABLE orders; ALTER TABLE items RENAME TO items_old; DROP TABLE gone");
        await WaitUntilAsync(async () => (await AnswerAsync(port, "/readyz")).Body.Contains("items_old", StringComparison.Ordinal)
            && (await AnswerAsync(port, "/readyz")).Body.Contains("public.orders", StringComparison.Ordinal)
            && (await AnswerAsync(port, "/readyz")).Body.Contains("public.gone", StringComparison.Ordinal), pipeline);
        var (status, body) = await AnswerAsync(port, "/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("degraded: 3 captured tables not published under their configured names: ", body, StringComparison.Ordinal);
        Assert.Contains("public.items (renamed to public.items_old)", body, StringComparison.Ordinal);
        Assert.Contains("public.orders (not in the publication)", body, StringComparison.Ordinal);
        // before the fix: "public.gone (not in the publication)", as if the table were still there to add back
        Assert.Contains("public.gone (dropped)", body, StringComparison.Ordinal);
        // Liveness too: a restart cannot fix it, so it stays 200, but whoever looks sees it.
        Assert.Equal((HttpStatusCode.OK, body), await AnswerAsync(port, "/healthz"));

        await _db.ExecuteAsync($"ALTER PUBLICATION {_db.Publication} ADD TABLE orders; ALTER TABLE items_old RENAME TO items; " +
                               $"CREATE TABLE gone (id int PRIMARY KEY); ALTER PUBLICATION {_db.Publication} ADD TABLE gone");
        await WaitUntilAsync(async () => (await AnswerAsync(port, "/readyz")).Body == "ok\n", pipeline);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/healthz"));
        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    /// <summary>
    /// A sink that fails every batch but does not hold the pipeline up (each event dead-lettered after retry.maxAttempts) was
    /// visible only in metrics: the probes said <c>ok</c>. Now they say <c>degraded: sink … failing for … (last error: …)</c>,
    /// still 200 (a restart does not fix a receiver), and <c>ok</c> again once a batch of that sink is delivered.
    /// </summary>
    [Fact]
    public async Task Probes_answer_degraded_naming_a_sink_that_fails_every_batch_until_it_delivers_again()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        await using var receiver = new WebhookReceiver();
        var failing = 1;
        receiver.Respond = (_, _) => (Volatile.Read(ref failing) == 1 ? 500 : 200, TimeSpan.Zero);
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: billing-hook
                webhook: {"{"} url: "{receiver.Url}" {"}"}
                retry: {"{"} maxAttempts: 2, initialDelay: "00:00:00.050", maxDelay: "00:00:00.100" {"}"}
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/readyz"));

        // The receiver answers 500: the event is dead-lettered after two attempts and the change acknowledged (nothing stalls).
        await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 0)");
        await WaitUntilAsync(async () => (await AnswerAsync(port, "/readyz")).Body.StartsWith("degraded: ", StringComparison.Ordinal), pipeline);
        await WaitUntilAsync(() => Task.FromResult(File.Exists(Path.Combine(_dir, "out", "dead-letters.jsonl"))), pipeline);
        var (status, body) = await AnswerAsync(port, "/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Matches(@"^degraded: sink billing-hook failing for \d+ s \(last error: webhook sink 'billing-hook': .* answered 500 .*\)\n$", body);
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal); // one line, no stack trace
        var (liveStatus, liveBody) = await AnswerAsync(port, "/healthz");
        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.StartsWith("degraded: sink billing-hook failing for ", liveBody, StringComparison.Ordinal);

        // The receiver is back: the next batch is delivered, and the probes say ok again.
        Volatile.Write(ref failing, 0);
        await _db.ExecuteAsync("INSERT INTO kv VALUES (2, 0)");
        await WaitUntilAsync(async () => (await AnswerAsync(port, "/readyz")).Body == "ok\n", pipeline);
        Assert.Contains(receiver.Accepted, r => r.Status == 200);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/healthz"));
        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    /// <summary>
    /// A receiver that refuses one event for good (400) and takes the others: that event is dead-lettered and the pipeline
    /// moves on. The probes said <c>degraded: sink … failing</c> from then until another event came, though the receiver was
    /// fine; they say <c>ok</c>, and the dead letter is counted.
    /// </summary>
    [Fact]
    public async Task Probes_answer_ok_after_an_event_the_sink_refused_for_good_is_dead_lettered()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        await using var receiver = new WebhookReceiver();
        // the row whose v the receiver refuses (a value it can never take): 987654321
        receiver.Respond = (r, _) => (r.Text.Contains("987654321", StringComparison.Ordinal) ? 400 : 200, TimeSpan.Zero);
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: billing-hook
                webhook: {"{"} url: "{receiver.Url}" {"}"}
                retry: {"{"} maxAttempts: 2, initialDelay: "00:00:00.050", maxDelay: "00:00:00.100" {"}"}
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);

        await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 987654321)");
        await WaitUntilAsync(() => Task.FromResult(File.Exists(Path.Combine(_dir, "out", "dead-letters.jsonl"))), pipeline);
        await WaitUntilAsync(async () => Value(await ScrapeAsync(port), "cdc_events_dead_lettered_total") >= 1, pipeline);
        Assert.Single(receiver.Requests);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/healthz"));
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/readyz"));

        await _db.ExecuteAsync("INSERT INTO kv VALUES (2, 0)");
        await WaitUntilAsync(() => Task.FromResult(receiver.Accepted.Count == 1), pipeline);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/healthz"));
        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    /// <summary>
    /// A sink configured with <c>onFailure: ignore</c> was set up for its failures not to matter: one that keeps failing made
    /// the probes say <c>degraded</c>. They say <c>ok</c>, and still name it, as <c>ok; sink … failing for …, ignored by its
    /// onFailure: ignore (last error: …)</c>, so whoever curls the probe sees it; <c>ok</c> alone once it delivers again.
    /// </summary>
    [Fact]
    public async Task Probes_answer_ok_naming_a_failing_sink_whose_failures_are_ignored_by_its_configuration()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        await using var receiver = new WebhookReceiver();
        var failing = 1;
        receiver.Respond = (_, _) => (Volatile.Read(ref failing) == 1 ? 500 : 200, TimeSpan.Zero);
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
              - name: audit-hook
                webhook: {"{"} url: "{receiver.Url}" {"}"}
                onFailure: ignore
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await AnswerAsync(port, "/readyz"));

        await _db.ExecuteAsync("INSERT INTO kv VALUES (1, 0)");
        await WaitUntilAsync(async () => (await AnswerAsync(port, "/readyz")).Body != "ok\n", pipeline);
        var (status, body) = await AnswerAsync(port, "/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Matches(@"^ok; sink audit-hook failing for \d+ s, ignored by its onFailure: ignore \(last error: webhook sink 'audit-hook': .* answered 500 .*\)\n$", body);
        Assert.Equal((HttpStatusCode.OK, body), await AnswerAsync(port, "/healthz"));

        Volatile.Write(ref failing, 0);
        await _db.ExecuteAsync("INSERT INTO kv VALUES (2, 0)");
        await WaitUntilAsync(async () => (await AnswerAsync(port, "/readyz")).Body == "ok\n", pipeline);
        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    /// <summary>
    /// A probe or a scraper that connects while <c>run</c> starts (an orchestrator's health check during a restart, a
    /// test polling /healthz) must not stop it. With .NET's managed HttpListener on Linux a connection accepted while
    /// the listener starts threw inside HttpListener.Start (dotnet/corefx#35191) and <c>run</c> died at start-up.
    /// Probers connect in a tight loop from before the process starts until the port first accepts, several starts over.
    /// </summary>
    [Fact]
    public async Task Run_starts_while_probes_connect_to_its_port_in_a_tight_loop()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        for (var start = 0; start < 8; start++)
        {
            var port = FreePorts.Next();
            var config = await WriteConfigAsync($"""
                sinks:
                  - name: file
                    file: {"{"} path: events.jsonl {"}"}
                observability:
                  port: {port}
                """);

            using var accepted = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var probers = Enumerable.Range(0, 2).Select(_ => Task.Run(() => ConnectUntilAcceptedAsync(port, accepted), Ct)).ToList();
            using var pipeline = PipelineProcess.Start("run", "--config", config);
            try
            {
                await WaitUntilAsync(async () => await StatusAsync(port, "/readyz") == HttpStatusCode.OK, pipeline);
            }
            finally
            {
                await accepted.CancelAsync();
                await Task.WhenAll(probers);
            }

            Assert.Equal(HttpStatusCode.OK, await StatusAsync(port, "/healthz"));
            Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
        }
    }

    /// <summary>Connects to <paramref name="port"/> over and over (each connection closed at once) until one is accepted.</summary>
    private static async Task ConnectUntilAcceptedAsync(int port, CancellationTokenSource accepted)
    {
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        while (!accepted.IsCancellationRequested)
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endpoint, accepted.Token);
                await accepted.CancelAsync();
            }
            catch (System.Net.Sockets.SocketException)
            {
                // not listening yet
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [Fact]
    public async Task A_port_in_use_stops_run_with_exit_1_naming_the_key_without_a_stack_trace()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Any, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        Assert.Equal(1, await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"error: observability.port {port}: ", pipeline.Log, StringComparison.Ordinal);
        Assert.Contains($"observability.port ({config}:", pipeline.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", pipeline.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_in_use_stops_run_before_the_pipeline_is_built_leaving_no_batch_spool()
    {
        // The port is a fact of the machine: it is bound before the sinks are built, and a batch sink takes (and creates)
        // its spool when it is built, so a refused start must not have got that far.
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Any, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var config = await WriteConfigAsync($"""
            sinks:
              - name: export
                batch: {"{"} spool: out/spool, target: {"{"} directory: out/outgoing {"}"} {"}"}
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        Assert.Equal(1, await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"error: observability.port {port}: ", pipeline.Log, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")), $"the batch sink's spool was created for a refused start; log:\n{pipeline.Log}");
    }

    [Fact]
    public async Task Bad_configuration_with_a_free_port_stops_run_with_exit_2_before_serving_and_leaves_no_batch_spool()
    {
        // It logged "Serving /metrics, /healthz and /readyz on port N" and then the configuration error: the port was bound
        // before the sinks' own checks ran, so the log claimed a service that never ran.
        var port = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: export
                batch: {"{"} spool: out/spool, target: {"{"} directory: out/outgoing {"}"} {"}"}
              - name: hook
                webhook: {"{"} url: "not a url" {"}"}
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        Assert.Equal(2, await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("sinks.1.webhook.url: must be an absolute http:// or https:// URL", pipeline.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("Serving /metrics", pipeline.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", pipeline.Log, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")), $"the batch sink's spool was created for a refused start; log:\n{pipeline.Log}");
    }

    [Fact]
    public async Task A_port_taken_on_IPv6_only_stops_run_with_exit_1_naming_the_key_and_what_to_do_without_a_stack_trace()
    {
        // Kestrel listens on [::] (IPv4 too); a port free on 0.0.0.0 but taken on [::] passed the check before the host
        // started and failed at Kestrel's bind, inside the host's start: "fail: Microsoft.Extensions.Hosting.Internal.Host[11]
        // Hosting failed to start" with the whole stack trace. The same as a port taken between a check and the bind.
        if (!System.Net.Sockets.Socket.OSSupportsIPv6)
        {
            Assert.Skip("needs IPv6");
        }

        using var taken = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetworkV6, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            DualMode = false,
        };
        taken.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            observability:
              port: {port}
            """);

        using var pipeline = PipelineProcess.Start("run", "--config", config);
        Assert.Equal(1, await pipeline.ExitCodeAsync(TimeSpan.FromSeconds(60)));
        var error = Assert.Single(pipeline.Log.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.StartsWith($"error: observability.port {port}: ", error, StringComparison.Ordinal);
        Assert.Contains($"observability.port ({config}:", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", pipeline.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", pipeline.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_pushes_metrics_to_the_otlp_collector_without_a_port()
    {
        var collectorPort = FreePorts.Next();
        await RunAgainstCollectorAsync(collectorPort, $"""
              otlp:
                endpoint: "http://127.0.0.1:{collectorPort}"
                interval: "00:00:01"
            """, new Dictionary<string, string>());
    }

    [Fact]
    public async Task Otlp_settings_left_out_come_from_the_standard_OTEL_variables()
    {
        var collectorPort = FreePorts.Next();
        await RunAgainstCollectorAsync(collectorPort, """
              otlp: {}
            """, new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{collectorPort}",
                ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
            });
    }

    [Fact]
    public async Task A_collector_that_is_down_or_failing_is_logged_once_not_per_export()
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        var collectorPort = FreePorts.Next();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            observability:
              otlp:
                endpoint: "http://127.0.0.1:{collectorPort}"
                interval: "00:00:01"
            """);

        // Nothing listens on the collector's port yet: every export is refused.
        using var pipeline = PipelineProcess.Start("run", "--config", config);
        await WaitUntilAsync(() => Task.FromResult(pipeline.Log.Contains("OTLP metrics export", StringComparison.Ordinal)), pipeline);

        // Then the collector answers, with 503, to several exports: still the one warning.
        using var collector = new HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{collectorPort}/");
        collector.Start();
        for (var i = 0; i < 4; i++)
        {
            var context = await collector.GetContextAsync().WaitAsync(TimeSpan.FromSeconds(120), Ct);
            await context.Request.InputStream.CopyToAsync(Stream.Null, Ct);
            context.Response.StatusCode = 503;
            context.Response.Close();
        }

        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
        var log = pipeline.Log;
        var failing = log.Split('\n').Where(l => l.Contains("OTLP metrics export", StringComparison.Ordinal)).ToList();
        Assert.True(failing.Count == 1, $"one warning for the outage, not one per export; pipeline log:\n{log}");
        Assert.Contains("warn", failing[0], StringComparison.Ordinal);
        Assert.Contains($"http://127.0.0.1:{collectorPort}/v1/metrics", failing[0], StringComparison.Ordinal);
        Assert.Contains("refused", failing[0], StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
    }

    /// <summary>
    /// A local HttpListener is the collector: <c>run</c> with <paramref name="otlp"/> under <c>observability</c> must POST
    /// OTLP/HTTP protobuf to <c>/v1/metrics</c>, and an export after a few inserts carries <c>cdc.changes.read</c>.
    /// </summary>
    private async Task RunAgainstCollectorAsync(int collectorPort, string otlp, Dictionary<string, string> environment)
    {
        await _db.ExecuteAsync("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)");
        using var collector = new HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{collectorPort}/");
        collector.Start();
        var config = await WriteConfigAsync($"""
            sinks:
              - name: file
                file: {"{"} path: events.jsonl {"}"}
            observability:
            {otlp}
            """);

        using var pipeline = PipelineProcess.Start(environment, "run", "--config", config);
        var events = Path.Combine(_dir, "events.jsonl");
        // Inserted until delivered: changes made before the slot exists are not captured (snapshot: never).
        await WaitUntilAsync(async () =>
        {
            await _db.ExecuteAsync("INSERT INTO kv SELECT g, 0 FROM generate_series(1, 5) g ON CONFLICT (id) DO UPDATE SET v = kv.v + 1");
            return File.Exists(events) && (await File.ReadAllLinesAsync(events, Ct)).Length >= 5;
        }, pipeline);

        // Each export is a POST of an ExportMetricsServiceRequest; the metric names are raw UTF-8 strings in it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no export with cdc.changes.read in 120 s; pipeline log:\n{pipeline.Log}");
            var context = await collector.GetContextAsync().WaitAsync(deadline - DateTime.UtcNow, Ct);
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body, Ct);
            var (method, path, contentType) = (context.Request.HttpMethod, context.Request.Url!.AbsolutePath, context.Request.ContentType);
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();

            Assert.Equal("POST", method);
            Assert.Equal("/v1/metrics", path);
            Assert.Equal("application/x-protobuf", contentType);
            if (body.ToArray().AsSpan().IndexOf("cdc.changes.read"u8) >= 0)
            {
                break;
            }
        }

        Assert.Equal(0, await pipeline.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    /// <summary>
    /// The test's pipeline.yaml: the embedded capture of <paramref name="tables"/> (no snapshot; with <paramref name="heartbeat"/>
    /// a heartbeat every second), then <paramref name="rest"/> (sinks, runner, observability).
    /// </summary>
    private async Task<string> WriteConfigAsync(string rest, bool heartbeat = false, string tables = "public.kv")
    {
        var config = Path.Combine(_dir, "pipeline.yaml");
        await File.WriteAllTextAsync(config, $"""
            name: obs
            source:
              postgres:
                connectionString: "{_db.ConnectionString}"
                publication: {_db.Publication}
                slot: {_db.Slot}
                tables: [{tables}]
                snapshot: never
                stateDirectory: state
            {(heartbeat ? "    heartbeatInterval: \"00:00:01\"" : "")}
            {rest}
            """, Ct);
        return config;
    }

    private async Task<HttpStatusCode> StatusAsync(int port, string path)
    {
        using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"), Ct);
        return response.StatusCode;
    }

    private async Task<(HttpStatusCode Status, string Body)> AnswerAsync(int port, string path)
    {
        using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"), Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private async Task<string> ScrapeAsync(int port)
    {
        using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{port}/metrics"), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    /// <summary>The sum of a metric's samples (every tag combination); 0 when it has none yet.</summary>
    private static double Value(string scrape, string name) =>
        Sample().Matches(scrape)
            .Where(m => m.Groups["name"].Value == name)
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[0-9.eE+-]+)", RegexOptions.Multiline)]
    private static partial Regex Sample();

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, PipelineProcess pipeline)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            Assert.False(pipeline.HasExited, $"the pipeline exited; its log:\n{pipeline.Log}");
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            Assert.True(DateTime.UtcNow < deadline, $"condition not reached in 120 s; pipeline log:\n{pipeline.Log}");
            await Task.Delay(200, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
