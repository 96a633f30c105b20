using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Testcontainers.RabbitMq;
using Testcontainers.Redis;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>
/// Redis and RabbitMQ for the sink tests, each found once per run in this order: the environment
/// (<c>CDC_TEST_REDIS</c> = StackExchange.Redis configuration, <c>CDC_TEST_RABBITMQ</c> = AMQP URI),
/// Testcontainers when a Docker engine answers, else Debian's servers started by
/// <c>scripts/services-start.sh</c> on their own ports. When none works, the reason is kept and the
/// tests that need the server skip with it.
/// </summary>
public static class DownstreamServers
{
    private static readonly Lazy<Task<Server>> RedisServer = new(() => FindAsync("redis", "CDC_TEST_REDIS", () => new RedisBuilder("redis:7").Build(), c => ((RedisContainer)c).GetConnectionString()));
    private static readonly Lazy<Task<Server>> RabbitMqServer = new(() => FindAsync("rabbitmq", "CDC_TEST_RABBITMQ", () => new RabbitMqBuilder("rabbitmq:3.13").Build(), c => ((RabbitMqContainer)c).GetConnectionString()));
    private static readonly Lazy<bool> DockerAvailable = new(ProbeDocker);

    /// <summary>The Redis configuration string (host:port); skips the test when there is no Redis.</summary>
    public static async Task<string> RedisAsync() => (await RedisServer.Value).Require();

    /// <summary>The AMQP URI; skips the test when there is no RabbitMQ.</summary>
    public static async Task<string> RabbitMqAsync() => (await RabbitMqServer.Value).Require();

    /// <summary>
    /// Runs <c>rabbitmqctl eval</c> on the broker at <paramref name="amqpUri"/>, which works only for the node that
    /// <c>scripts/services-start.sh</c> started (its node name and Erlang cookie); skips the test otherwise, with the reason.
    /// </summary>
    public static Task<string> RabbitMqEvalAsync(string amqpUri, string expression) => RabbitMqCtlAsync(amqpUri, "eval", expression);

    /// <summary>
    /// Runs <c>rabbitmqctl</c> with <paramref name="arguments"/> (none may hold a double quote) on the broker at
    /// <paramref name="amqpUri"/>, as <see cref="RabbitMqEvalAsync"/> does; skips the test when that node cannot be addressed.
    /// </summary>
    public static async Task<string> RabbitMqCtlAsync(string amqpUri, params string[] arguments)
    {
        var port = new Uri(amqpUri).Port;
        var home = Path.Combine(Environment.GetEnvironmentVariable("CDC_RUN_DIR") is { Length: > 0 } run ? run : Path.Combine(PostgresFixture.RepoRoot, ".run"), "rabbitmq");
        var ctl = File.Exists("/usr/lib/rabbitmq/bin/rabbitmqctl") ? "/usr/lib/rabbitmq/bin/rabbitmqctl" : "rabbitmqctl";
        var quoted = string.Join(' ', arguments.Select(a => "\"" + a + "\""));
        var (code, stdout, stderr) = await PostgresFixture.RunAsync("env", $"HOME=\"{home}\" {ctl} -q -n cdc{port}@localhost {quoted}");
        if (code != 0)
        {
            Assert.Skip($"cannot configure the RabbitMQ node on port {port} with rabbitmqctl (only one started by scripts/services-start.sh can be): {stderr.Trim()} {stdout.Trim()}");
        }

        return stdout.Trim();
    }

    private static async Task<Server> FindAsync(string name, string variable, Func<IContainer> build, Func<IContainer, string> address)
    {
        var fromEnv = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            return new Server(fromEnv, null, variable);
        }

        if (DockerAvailable.Value)
        {
            var container = build();
            await container.StartAsync();
            return new Server(address(container), null, "testcontainers");
        }

        var script = Path.Combine(PostgresFixture.RepoRoot, "scripts", "services-start.sh");
        var (code, stdout, stderr) = await PostgresFixture.RunAsync("bash", $"\"{script}\" {name}");
        var line = stdout.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(variable + "=", StringComparison.Ordinal));
        if (code != 0 || line is null)
        {
            return new Server(null, $"no {name} for the sink tests: set {variable}, start Docker, or install the Debian package ({stderr.Trim()})", "none");
        }

        var value = line[(variable.Length + 1)..];
        // The script prints an AMQP URI; StackExchange.Redis wants host:port, which is what it prints for Redis.
        return new Server(value, null, "scripts/services-start.sh");
    }

    private static bool ProbeDocker()
    {
        try
        {
            // Without a Docker engine, Build() itself throws: the once-per-run probe.
            _ = new ContainerBuilder("alpine:3").Build();
            return true;
        }
        catch (Exception e) when (e is DockerUnavailableException || e.GetType().Name.Contains("Docker", StringComparison.Ordinal))
        {
            return false;
        }
    }

    private sealed record Server(string? Address, string? Unavailable, string Origin)
    {
        public string Require()
        {
            if (Address is null)
            {
                Assert.Skip(Unavailable!);
            }

            return Address;
        }
    }
}
