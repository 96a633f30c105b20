using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CdcPipeline.Commands;
using CdcPipeline.IntegrationTests.Support;
using Microsoft.Extensions.FileSystemGlobbing;
using YamlDotNet.RepresentationModel;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class ComposeTests
{
    private static string ComposeFile => Path.Combine(KafkaRecords.RepositoryRoot, "docker-compose.yml");

    [Fact]
    public async Task The_production_stack_compose_file_is_valid()
    {
        var binary = new[] { "/usr/bin/docker-compose", "/usr/local/bin/docker-compose" }.FirstOrDefault(File.Exists);
        if (binary is null)
        {
            Assert.Skip("docker-compose is not installed (Debian package 'docker-compose'); it validates the file without a Docker engine");
        }

        var start = new ProcessStartInfo(binary, ["-f", ComposeFile, "config", "-q"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = KafkaRecords.RepositoryRoot,
        };
        using var process = Process.Start(start)!;
        var errors = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, "docker-compose config -q failed: " + errors);
    }

    /// <summary>
    /// The Testcontainers suite runs Debezium's own Connect image (it needs no Avro converter) of the connector
    /// version compose installs, so the two cannot drift apart again (it ran 2.7.3 while compose ran 2.5.4).
    /// </summary>
    [Fact]
    public void The_end_to_end_suite_runs_the_Debezium_version_compose_installs()
    {
        var dockerfile = File.ReadAllText(Path.Combine(KafkaRecords.RepositoryRoot, "connector-config", "Dockerfile"));
        var install = dockerfile.Split('\n').Single(l => l.StartsWith("RUN confluent-hub install", StringComparison.Ordinal));
        var version = install[(install.LastIndexOf(':') + 1)..].Trim();

        Assert.Equal($"quay.io/debezium/connect:{version}.Final", ContainerStack.DebeziumConnectImage());
    }

    /// <summary>
    /// The register-connector job as compose runs it (its entrypoint and command; the curl image runs curl when the
    /// first argument is an option), here against a loopback Connect instead of connect:8083.
    /// </summary>
    [Theory]
    [InlineData("409,409,201", true, 3)]
    [InlineData("409,200", true, 2)]
    [InlineData("400", false, 1)]
    public async Task The_registration_job_sends_the_connector_again_while_Connect_rebalances_and_stops_on_a_refusal(string answers, bool succeeds, int requests)
    {
        var curl = new[] { "/usr/bin/curl", "/usr/local/bin/curl" }.FirstOrDefault(File.Exists);
        if (curl is null || !File.Exists("/bin/sh"))
        {
            Assert.Skip("the registration job needs curl and /bin/sh to run outside its container");
        }

        var url = $"http://127.0.0.1:{FreePorts.Next()}";
        var connector = Path.Combine(KafkaRecords.RepositoryRoot, "connector-config", "legacy-orders-avro.json");
        var argv = RegistrationJob()
            .Select(a => a.Replace("$$", "$", StringComparison.Ordinal)
                .Replace("http://connect:8083", url, StringComparison.Ordinal)
                .Replace("@/connector.json", "@" + connector, StringComparison.Ordinal))
            .ToList();
        if (argv[0].StartsWith('-'))
        {
            argv.Insert(0, curl);
        }

        using var listener = new HttpListener();
        listener.Prefixes.Add(url + "/");
        listener.Start();
        var received = new List<(string Method, string Path, string Body)>();
        var statuses = new Queue<int>(answers.Split(',').Select(int.Parse));
        var server = Task.Run(async () =>
        {
            while (statuses.Count > 0)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (HttpListenerException)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                received.Add((context.Request.HttpMethod, context.Request.Url!.AbsolutePath, body));
                var status = statuses.Dequeue();
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                var answer = status < 300
                    ? "{\"name\":\"legacy-orders\",\"config\":" + body + ",\"tasks\":[],\"type\":\"source\"}"
                    : $"{{\"error_code\":{status},\"message\":\"answer {status}\"}}";
                await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(answer));
                context.Response.Close();
            }
        }, TestContext.Current.CancellationToken);

        var start = new ProcessStartInfo(argv[0], argv.Skip(1)) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        listener.Stop();
        await server;
        var log = await stdout + await stderr;

        Assert.True(process.ExitCode == 0 == succeeds, $"exit {process.ExitCode}: {log}");
        Assert.Equal(requests, received.Count);
        Assert.All(received, r => Assert.Equal(("PUT", "/connectors/legacy-orders/config"), (r.Method, r.Path)));
        Assert.All(received, r => Assert.True(JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(connector)), JsonNode.Parse(r.Body)), r.Body));
        if (!succeeds)
        {
            Assert.Contains("answer 400", log, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// One table list, one place: what the register-connector job sends to Connect is what <c>connector render</c> makes
    /// of the very configuration the cdcpipeline service runs (its <c>--config</c>, through its volume), in the format
    /// that configuration reads (<c>source.kafka.format</c>), under the connector name it derives. A job that mounted the
    /// other variant, a copy of an older file or another name would register a connector the pipeline does not read.
    /// </summary>
    [Fact]
    public void The_registration_job_sends_what_connector_render_makes_of_the_configuration_the_pipeline_service_runs()
    {
        var pipeline = Service("cdcpipeline");
        var command = Argv(pipeline, "command");
        var configArgument = command.IndexOf("--config");
        Assert.True(configArgument >= 0 && configArgument + 1 < command.Count, "the cdcpipeline service's command names no --config: " + string.Join(" ", command));
        var config = HostPath(pipeline, command[configArgument + 1]);
        Assert.True(File.Exists(config), $"the cdcpipeline service runs {command[configArgument + 1]}, which its volumes map to {config}: no such file");

        var (name, rendered) = ConnectorCommand.Build(new FileInfo(config), format: null);

        var registered = HostPath(Service("register-connector"), "/connector.json");
        Assert.True(
            JsonNode.DeepEquals(rendered, JsonNode.Parse(File.ReadAllText(registered))),
            $"register-connector sends {Path.GetRelativePath(KafkaRecords.RepositoryRoot, registered)}, which is not what 'cdcpipeline connector render --config {Path.GetRelativePath(KafkaRecords.RepositoryRoot, config)}' prints (the format the pipeline reads: source.kafka.format)");
        Assert.Contains($"http://connect:8083/connectors/{name}/config", string.Join("\n", RegistrationJob()), StringComparison.Ordinal);
    }

    /// <summary>
    /// docker-compose.yml takes the stack's passwords (POSTGRES_PASSWORD, CDC_DB_PASSWORD) from an .env file beside it.
    /// git must not offer that file for a commit, and the image build must leave it out of its context: the Dockerfile's
    /// COPY . . would put it into the build stage's cached layer, and every password change would rebuild the image.
    /// </summary>
    [Fact]
    public async Task The_env_file_with_the_stacks_passwords_stays_out_of_git_and_of_the_image_build_context()
    {
        var root = KafkaRecords.RepositoryRoot;
        var dockerignore = new Matcher();
        foreach (var line in File.ReadAllLines(Path.Combine(root, ".dockerignore")).Select(l => l.Trim()))
        {
            if (line.Length > 0 && !line.StartsWith('#'))
            {
                _ = line.StartsWith('!') ? dockerignore.AddExclude(line[1..]) : dockerignore.AddInclude(line);
            }
        }

        Assert.True(dockerignore.Match(".env").HasMatches, ".dockerignore does not leave out .env: the image build would copy the stack's passwords into its context");

        var git = new[] { "/usr/bin/git", "/usr/local/bin/git" }.FirstOrDefault(File.Exists);
        if (git is null || !Path.Exists(Path.Combine(root, ".git")))
        {
            Assert.Skip("git or the repository's .git is missing: cannot ask git whether it ignores .env");
        }

        var start = new ProcessStartInfo(git, ["check-ignore", "--quiet", "--no-index", ".env"]) { WorkingDirectory = root };
        using var process = Process.Start(start)!;
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"git does not ignore .env (git check-ignore exit {process.ExitCode}): 'git add -A' would commit the stack's passwords");
    }

    /// <summary>
    /// The cdcpipeline service's health check as compose runs it inside the container (argv after <c>CMD</c>), aimed at
    /// <paramref name="port"/> instead of the port the service's environment gives <c>observability.port</c>; it must
    /// name that port.
    /// </summary>
    internal static List<string> PipelineHealthCheck(int port)
    {
        var service = Service("cdcpipeline");
        var environment = (YamlMappingNode)service["environment"];
        var configured = ((YamlScalarNode)environment["CDC__observability__port"]).Value!;
        var test = ((YamlSequenceNode)((YamlMappingNode)service["healthcheck"])["test"]).Select(n => ((YamlScalarNode)n).Value!).ToList();
        Assert.Equal("CMD", test[0]);
        var target = $"/dev/tcp/127.0.0.1/{configured}";
        Assert.True(test.Any(a => a.Contains(target, StringComparison.Ordinal)), $"the cdcpipeline service's health check does not connect to {target} (CDC__observability__port): {string.Join(" ", test)}");
        return test.Skip(1).Select(a => a.Replace(target, $"/dev/tcp/127.0.0.1/{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}", StringComparison.Ordinal)).ToList();
    }

    /// <summary>A compose service's definition.</summary>
    private static YamlMappingNode Service(string name)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(ComposeFile))
        {
            yaml.Load(reader);
        }

        return (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"])[name];
    }

    /// <summary>A service's <paramref name="key"/> (entrypoint or command) as an argument list; a string is one argument.</summary>
    private static List<string> Argv(YamlMappingNode service, string key) =>
        !service.Children.TryGetValue(key, out var node) ? []
        : node is YamlSequenceNode list ? list.Select(n => ((YamlScalarNode)n).Value!).ToList()
        : [((YamlScalarNode)node).Value!];

    /// <summary>The host file behind <paramref name="containerPath"/>, through the service's bind mounts (short syntax, relative to the compose file).</summary>
    private static string HostPath(YamlMappingNode service, string containerPath)
    {
        if (service.Children.TryGetValue("volumes", out var volumes))
        {
            foreach (var volume in ((YamlSequenceNode)volumes).Select(v => ((YamlScalarNode)v).Value!))
            {
                var parts = volume.Split(':');
                var (source, target) = (parts[0], parts[1].TrimEnd('/'));
                if (containerPath == target || containerPath.StartsWith(target + "/", StringComparison.Ordinal))
                {
                    return Path.GetFullPath(Path.Combine(KafkaRecords.RepositoryRoot, source, containerPath[target.Length..].TrimStart('/')));
                }
            }
        }

        Assert.Fail($"no bind mount of the service maps {containerPath}");
        return null!;
    }

    /// <summary>The register-connector service's entrypoint (when it sets one) followed by its command.</summary>
    private static List<string> RegistrationJob()
    {
        var service = Service("register-connector");
        return [.. Argv(service, "entrypoint"), .. Argv(service, "command")];
    }
}
