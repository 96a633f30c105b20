using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CdcPipeline.Commands;
using CdcPipeline.IntegrationTests.Readiness;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Kafka.Connect;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>The Kafka Connect REST client against a real HTTP listener playing Connect, and the connector JSON rendered from the pipeline config.</summary>
public sealed class ConnectorCommandTests
{
    private static readonly string SampleConfig = Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "pipeline.kafka.yaml");

    [Fact]
    public async Task Apply_puts_the_rendered_config_and_status_shows_Connects_own_error_message()
    {
        var port = FreePorts.Next();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var requests = new List<(string Method, string Path, string Body)>();
        var server = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                var context = await listener.GetContextAsync();
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                requests.Add((context.Request.HttpMethod, context.Request.Url!.PathAndQuery, body));
                var (status, answer) = context.Request.HttpMethod == "PUT"
                    ? (201, "{\"name\":\"legacy-orders\",\"config\":" + body + ",\"tasks\":[]}")
                    : (404, "{\"error_code\":404,\"message\":\"No status found for connector legacy-orders\"}");
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                var bytes = Encoding.UTF8.GetBytes(answer);
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }, TestContext.Current.CancellationToken);

        var (name, config) = ConnectorCommand.Build(new FileInfo(Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "pipeline.kafka.yaml")), "avro");
        using var http = new HttpClient();
        var client = new KafkaConnectClient(http, new Uri($"http://127.0.0.1:{port}"));
        var created = await client.PutConfigAsync(name, config, TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<KafkaConnectException>(() => client.GetStatusAsync(name, TestContext.Current.CancellationToken));
        await server;

        Assert.Equal("legacy-orders", created!["name"]!.GetValue<string>());
        Assert.Equal(("PUT", "/connectors/legacy-orders/config"), (requests[0].Method, requests[0].Path));
        Assert.Equal("public.tb_cust_mst,public.tb_ord_mst,public.tb_ord_dtl,public.tb_aud_log", JsonNode.Parse(requests[0].Body)!["table.include.list"]!.GetValue<string>());
        Assert.Equal(("GET", "/connectors/legacy-orders/status"), (requests[1].Method, requests[1].Path));
        Assert.Equal(404, error.StatusCode);
        Assert.Contains("No status found for connector legacy-orders", error.Message, StringComparison.Ordinal);
        Assert.Contains("connector apply", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_exits_1_and_names_what_failed_when_the_connector_or_a_task_is_FAILED()
    {
        const string failed = """
            {"name":"legacy-orders","connector":{"state":"RUNNING","worker_id":"connect:8083"},
             "tasks":[{"id":0,"state":"FAILED","worker_id":"connect:8083","trace":"org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"},
                      {"id":1,"state":"RUNNING","worker_id":"connect:8083"}],"type":"source"}
            """;
        const string running = """
            {"name":"legacy-orders","connector":{"state":"RUNNING","worker_id":"connect:8083"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"connect:8083"}],"type":"source"}
            """;
        var port = FreePorts.Next();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var server = Task.Run(async () =>
        {
            foreach (var answer in new[] { failed, running })
            {
                var context = await listener.GetContextAsync();
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(answer));
                context.Response.Close();
            }
        }, TestContext.Current.CancellationToken);

        var first = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", $"http://127.0.0.1:{port}");
        var second = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", $"http://127.0.0.1:{port}");
        await server;

        Assert.Equal(1, first.Code);
        Assert.Contains("\"FAILED\"", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("connector legacy-orders: task 0 is FAILED: org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.",
            first.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("task 1", first.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("ErrorHandler.java", first.Stderr, StringComparison.Ordinal);
        Assert.Contains("connector restart --name legacy-orders", first.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, second.Code);
        Assert.Equal("", second.Stderr);
    }

    [Fact]
    public async Task An_unreachable_Connect_is_named_with_what_to_check()
    {
        using var http = new HttpClient();
        var url = $"http://127.0.0.1:{FreePorts.Next()}";
        var client = new KafkaConnectClient(http, new Uri(url));
        var error = await Assert.ThrowsAsync<KafkaConnectException>(() => client.RestartAsync("legacy-orders", TestContext.Current.CancellationToken));
        Assert.Contains($"not reachable at {url}/", error.Message, StringComparison.Ordinal);
        Assert.Contains("docker compose ps connect", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_snapshot_mode_the_pinned_Debezium_does_not_know_is_refused_before_Connect_sees_it()
    {
        var sample = File.ReadAllText(Path.Combine(KafkaRecords.RepositoryRoot, "samples", "legacy-orders", "pipeline.kafka.yaml"));
        Assert.Contains("snapshotMode: initial", sample, StringComparison.Ordinal);
        var file = Path.Combine(Path.GetTempPath(), $"connector-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, sample.Replace("snapshotMode: initial", "snapshotMode: when_needed", StringComparison.Ordinal));
        try
        {
            var error = Assert.Throws<CdcPipeline.Core.Configuration.ConfigurationException>(() => ConnectorCommand.Build(new FileInfo(file), "avro"));
            Assert.Contains("snapshotMode", error.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("need Debezium 2.6 or later", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_publication_autocreate_mode_the_pinned_Debezium_does_not_know_is_refused_before_Connect_sees_it()
    {
        // no_tables came with Debezium 3.0 (DBZ-8156); 2.5's connector validates the value against its own list, so Connect
        // would refuse the whole config.
        var sample = File.ReadAllText(SampleConfig);
        Assert.Contains("publicationAutocreateMode: disabled", sample, StringComparison.Ordinal);
        var file = Path.Combine(Path.GetTempPath(), $"connector-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, sample.Replace("publicationAutocreateMode: disabled", "publicationAutocreateMode: no_tables", StringComparison.Ordinal));
        try
        {
            var error = Assert.Throws<CdcPipeline.Core.Configuration.ConfigurationException>(() => ConnectorCommand.Build(new FileInfo(file), "avro"));
            Assert.Contains("publicationAutocreateMode", error.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("no_tables needs Debezium 3.0", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("avro", "legacy-orders-avro.json")]
    [InlineData("json", "legacy-orders-json.json")]
    public void The_committed_connector_files_are_what_render_produces_from_the_pipeline_config(string format, string file)
    {
        var root = KafkaRecords.RepositoryRoot;
        var (_, config) = ConnectorCommand.Build(new FileInfo(Path.Combine(root, "samples", "legacy-orders", "pipeline.kafka.yaml")), format);
        var committed = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "connector-config", file)));
        Assert.True(JsonNode.DeepEquals(committed, config), $"connector-config/{file} is stale: regenerate it with 'cdcpipeline connector render --config samples/legacy-orders/pipeline.kafka.yaml --format {format}'");
    }

    /// <summary>Kafka Connect on a loopback port: answers each request with the next scripted (status, body) and records what it was asked.</summary>
    private sealed class FakeConnect : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _server;

        public FakeConnect(params Func<string, (int Status, string Body)>[] answers)
        {
            Url = $"http://127.0.0.1:{FreePorts.Next()}";
            _listener.Prefixes.Add(Url + "/");
            _listener.Start();
            _server = Task.Run(async () =>
            {
                foreach (var answer in answers)
                {
                    var context = await _listener.GetContextAsync();
                    using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                    var body = await reader.ReadToEndAsync();
                    Requests.Add(new FakeConnectRequest(context.Request.HttpMethod, context.Request.Url!.PathAndQuery, body, context.Request.Headers["Authorization"]));
                    var (status, text) = answer(body);
                    context.Response.StatusCode = status;
                    context.Response.ContentType = "application/json";
                    await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(text));
                    context.Response.Close();
                }
            });
        }

        public string Url { get; }

        public List<FakeConnectRequest> Requests { get; } = [];

        /// <summary>Waits until every scripted answer was given (rethrowing what went wrong in the listener).</summary>
        public Task Served => _server;

        public async ValueTask DisposeAsync()
        {
            _listener.Close();
            try
            {
                await _server;
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                // Closed before every scripted answer was asked for: the test's assertions say what that means.
            }
        }
    }

    private sealed record FakeConnectRequest(string Method, string Path, string Body, string? Authorization);

    private const string Rebalancing = "{\"error_code\":409,\"message\":\"Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.\"}";

    private static string ConnectorInfo(string config) => "{\"name\":\"legacy-orders\",\"config\":" + config + ",\"tasks\":[],\"type\":\"source\"}";

    [Fact]
    public async Task Apply_and_restart_wait_out_a_Connect_worker_group_that_is_rebalancing()
    {
        // Connect answers 409 to a change while its worker group rebalances (on every start, after every config change):
        // the request was not carried out, and the same request succeeds once the group has a leader again.
        await using var connect = new FakeConnect(
            _ => (409, Rebalancing),
            _ => (409, Rebalancing),
            body => (201, ConnectorInfo(body)),
            _ => (409, Rebalancing),
            _ => (202, "{\"name\":\"legacy-orders\",\"connector\":{\"state\":\"RESTARTING\"},\"tasks\":[]}"));
        var (name, config) = ConnectorCommand.Build(new FileInfo(SampleConfig), "avro");
        using var http = new HttpClient();
        var client = new KafkaConnectClient(http, new Uri(connect.Url), conflictBackoff: TimeSpan.FromMilliseconds(10));

        var created = await client.PutConfigAsync(name, config, TestContext.Current.CancellationToken);
        var restarted = await client.RestartAsync(name, TestContext.Current.CancellationToken);
        await connect.Served;

        Assert.Equal("legacy-orders", created!["name"]!.GetValue<string>());
        Assert.Equal("RESTARTING", restarted!["connector"]!["state"]!.GetValue<string>());
        Assert.Equal(["PUT", "PUT", "PUT", "POST", "POST"], connect.Requests.Select(r => r.Method));
        Assert.All(connect.Requests.Take(3), r => Assert.True(JsonNode.DeepEquals(config, JsonNode.Parse(r.Body)), "each retry sends the same config"));
    }

    [Fact]
    public async Task A_rebalance_that_does_not_end_is_an_error_naming_Connects_message_and_what_to_do()
    {
        await using var connect = new FakeConnect(Enumerable.Repeat<Func<string, (int, string)>>(_ => (409, Rebalancing), 3).ToArray());
        using var http = new HttpClient();
        var client = new KafkaConnectClient(http, new Uri(connect.Url), conflictBackoff: TimeSpan.FromMilliseconds(10), conflictAttempts: 3);

        var error = await Assert.ThrowsAsync<KafkaConnectException>(() => client.RestartAsync("legacy-orders", TestContext.Current.CancellationToken));

        Assert.Equal(409, error.StatusCode);
        Assert.Equal(3, connect.Requests.Count);
        Assert.Contains("no known leader URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("3 times", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_does_not_print_the_database_password_Connect_echoes_back()
    {
        const string secret = "Pa55-literal-not-a-reference";
        var sample = File.ReadAllText(SampleConfig);
        Assert.Contains("password: \"${env:CDC_DB_PASSWORD}\"", sample, StringComparison.Ordinal);
        var file = Path.Combine(Path.GetTempPath(), $"connector-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, sample.Replace("${env:CDC_DB_PASSWORD}", secret, StringComparison.Ordinal));
        try
        {
            // PUT /connectors/{name}/config answers with the connector's info, the config as stored: a literal password comes back.
            await using var connect = new FakeConnect(body => (201, ConnectorInfo(body)));

            var result = await Cli.RunAsync("connector", "apply", "--config", file, "--connect-url", connect.Url);
            await connect.Served;

            Assert.Equal(0, result.Code);
            Assert.Equal(secret, JsonNode.Parse(connect.Requests[0].Body)!["database.password"]!.GetValue<string>());
            Assert.DoesNotContain(secret, result.Stdout + result.Stderr, StringComparison.Ordinal);
            Assert.Equal("cdc", JsonNode.Parse(result.Stdout)!["config"]!["database.user"]!.GetValue<string>());
            Assert.Equal(ConnectorSecrets.Hidden, JsonNode.Parse(result.Stdout)!["config"]!["database.password"]!.GetValue<string>());
        }
        finally
        {
            File.Delete(file);
        }

        // A config-provider reference is no secret: it says where Connect reads the password from, and stays visible.
        var (_, referenced) = ConnectorCommand.Build(new FileInfo(SampleConfig), "avro");
        Assert.Equal("${env:CDC_DB_PASSWORD}", ConnectorSecrets.Redact(referenced)!["database.password"]!.GetValue<string>());
    }

    [Fact]
    public async Task Render_does_not_print_a_literal_password_and_says_how_to_reference_it()
    {
        // render's output lands on terminals, in CI logs and in connector-config/*.json (the README has it redirected there).
        // A password written as ${VAR} in the pipeline config is expanded by the config loader: a literal by the time it renders.
        const string secret = "Pa55-from-the-environment";
        var sample = File.ReadAllText(SampleConfig);
        var file = Path.Combine(Path.GetTempPath(), $"connector-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, sample.Replace("${env:CDC_DB_PASSWORD}", "${CDC_RENDER_TEST_PASSWORD}", StringComparison.Ordinal));
        Environment.SetEnvironmentVariable("CDC_RENDER_TEST_PASSWORD", secret);
        try
        {
            var literal = await Cli.RunAsync("connector", "render", "--config", file);
            var referenced = await Cli.RunAsync("connector", "render", "--config", SampleConfig);

            Assert.Equal(0, literal.Code);
            Assert.DoesNotContain(secret, literal.Stdout + literal.Stderr, StringComparison.Ordinal);
            Assert.Equal(ConnectorSecrets.Hidden, JsonNode.Parse(literal.Stdout)!["database.password"]!.GetValue<string>());
            Assert.Equal("cdc", JsonNode.Parse(literal.Stdout)!["database.user"]!.GetValue<string>());
            Assert.Contains("connector render: database.password: a literal secret", literal.Stderr, StringComparison.Ordinal);
            Assert.Contains("${env:VAR}", literal.Stderr, StringComparison.Ordinal);

            // A config-provider reference is no secret: rendered as it is, silently.
            Assert.Equal(0, referenced.Code);
            Assert.Equal("${env:CDC_DB_PASSWORD}", JsonNode.Parse(referenced.Stdout)!["database.password"]!.GetValue<string>());
            Assert.Equal("", referenced.Stderr);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CDC_RENDER_TEST_PASSWORD", null);
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Credentials_in_the_Connect_URL_are_sent_as_basic_auth_and_never_printed()
    {
        // A Connect worker behind Confluent's BasicAuthSecurityRestExtension (or a proxy) wants HTTP basic auth; curl takes
        // the credentials from the URL, and so should we, without showing them in any message.
        const string running = """{"name":"legacy-orders","connector":{"state":"RUNNING","worker_id":"connect:8083"},"tasks":[]}""";
        await using var connect = new FakeConnect(_ => (200, running));
        var url = connect.Url.Replace("http://", "http://ops:s%3Acret@", StringComparison.Ordinal);

        var result = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", url);
        await connect.Served;
        var unreachable = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", $"http://ops:s%3Acret@127.0.0.1:{FreePorts.Next()}");

        Assert.Equal(0, result.Code);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:s:cret")), connect.Requests[0].Authorization);
        Assert.Equal(1, unreachable.Code);
        Assert.Contains("not reachable at http://127.0.0.1:", unreachable.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("cret", unreachable.Stdout + unreachable.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ftp://ops:s3cret@connect:8083", "ftp://***@connect:8083")]
    [InlineData("ops:s3cret@connect:8083", "***@connect:8083")]
    [InlineData("http://ops:s3cret@", "http://***@")]
    [InlineData("http://ops:s3cr#et@connect:8083", "http://***@connect:8083")]
    public async Task A_Connect_URL_that_is_not_an_http_URL_is_refused_without_repeating_its_credentials(string url, string shown)
    {
        // A scheme other than http(s), none at all, no host, or a password with a character a URL must escape ('#'):
        // the operator learns which URL was refused, but the error (on a terminal, in a CI log) never carries the password.
        var result = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", url);

        Assert.Equal(2, result.Code);
        Assert.StartsWith($"connector status: --connect-url '{shown}' is not an http(s) URL", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Connect_URL_whose_TLS_handshake_fails_is_an_error_that_says_so_not_a_crash()
    {
        // An https URL to a listener that does not speak TLS (or whose certificate this machine does not trust) fails in the
        // handshake, not in the socket: the operator gets one line naming the URL and what to check, and exit 1.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), TestContext.Current.CancellationToken);
        }, TestContext.Current.CancellationToken);
        try
        {
            var result = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", $"https://ops:s3cret@127.0.0.1:{port}");
            await server;

            Assert.Equal(1, result.Code);
            Assert.StartsWith($"connector status: Kafka Connect at https://127.0.0.1:{port}/ could not be reached over TLS", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret", result.Stdout + result.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task An_answer_that_is_not_Connects_JSON_is_an_error_naming_what_came_back()
    {
        // A --connect-url that reaches something else (a proxy's sign-in page, another service on the port) answers 200 with HTML.
        await using var connect = new FakeConnect(_ => (200, "<html><body>Please sign in</body></html>"));

        var result = await Cli.RunAsync("connector", "status", "--name", "legacy-orders", "--connect-url", connect.Url);
        await connect.Served;

        Assert.Equal(1, result.Code);
        Assert.StartsWith($"connector status: Kafka Connect at {connect.Url}/ answered 200 to GET connectors/legacy-orders/status with something that is not JSON", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("Please sign in", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_on_a_worker_that_ignores_includeTasks_restarts_each_task_itself()
    {
        // KIP-745 (Kafka 3.0): restart?includeTasks=true answers 202 with the states it restarts. A worker from before it ignores
        // the parameters, restarts only the Connector object and answers 204 without a body: its FAILED task stays FAILED.
        const string failed = """{"name":"legacy-orders","connector":{"state":"RUNNING","worker_id":"connect:8083"},"tasks":[{"id":0,"state":"FAILED","worker_id":"connect:8083","trace":"boom"},{"id":1,"state":"RUNNING","worker_id":"connect:8083"}],"type":"source"}""";
        const string running = """{"name":"legacy-orders","connector":{"state":"RUNNING","worker_id":"connect:8083"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"connect:8083"},{"id":1,"state":"RUNNING","worker_id":"connect:8083"}],"type":"source"}""";
        await using var connect = new FakeConnect(
            _ => (204, ""),
            _ => (200, failed),
            _ => (204, ""),
            _ => (204, ""),
            _ => (200, running));

        var result = await Cli.RunAsync("connector", "restart", "--name", "legacy-orders", "--connect-url", connect.Url);

        Assert.Equal(0, result.Code);
        Assert.Equal(
            ["POST /connectors/legacy-orders/restart?includeTasks=true&onlyFailed=false", "GET /connectors/legacy-orders/status",
             "POST /connectors/legacy-orders/tasks/0/restart", "POST /connectors/legacy-orders/tasks/1/restart", "GET /connectors/legacy-orders/status"],
            connect.Requests.Select(r => $"{r.Method} {r.Path}"));
        Assert.Equal("RUNNING", JsonNode.Parse(result.Stdout)!["tasks"]![0]!["state"]!.GetValue<string>());
    }
}
