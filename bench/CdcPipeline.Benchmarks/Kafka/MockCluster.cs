using Confluent.Kafka;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// librdkafka's mock cluster (3 brokers, in this process) for the Kafka harnesses, or the broker
/// CDC_TEST_KAFKA names; and the librdkafka settings the harnesses take as key=value arguments.
/// </summary>
internal sealed class MockCluster : IDisposable
{
    private readonly IProducer<byte[]?, byte[]?>? _handle;

    private MockCluster(IProducer<byte[]?, byte[]?>? handle, string servers)
    {
        _handle = handle;
        Servers = servers;
    }

    public string Servers { get; }

    /// <summary>Whether this is the in-process mock (false: CDC_TEST_KAFKA).</summary>
    public bool IsMock => _handle is not null;

    /// <param name="allowExternal">Use CDC_TEST_KAFKA when it is set.</param>
    public static MockCluster Start(bool allowExternal)
    {
        if (allowExternal && Environment.GetEnvironmentVariable("CDC_TEST_KAFKA") is { Length: > 0 } external)
        {
            return new MockCluster(null, external);
        }

        var config = new ProducerConfig();
        config.Set("test.mock.num.brokers", "3");
        var handle = new ProducerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        using var admin = new DependentAdminClientBuilder(handle.Handle).Build();
        return new MockCluster(handle, string.Join(",", admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Select(b => $"{b.Host}:{b.Port}")));
    }

    /// <summary>Arguments key=value as librdkafka settings, over <paramref name="defaults"/>.</summary>
    public static Dictionary<string, string> Settings(IEnumerable<string> arguments, Dictionary<string, string>? defaults = null)
    {
        var settings = defaults ?? [];
        foreach (var setting in arguments)
        {
            var eq = setting.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException($"'{setting}' is not a librdkafka setting key=value");
            }

            settings[setting[..eq]] = setting[(eq + 1)..];
        }

        return settings;
    }

    public void Dispose() => _handle?.Dispose();
}
