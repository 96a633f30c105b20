using System.Runtime.InteropServices;
using System.Text;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// A librdkafka mock cluster of a test's own, made through librdkafka's C API (<c>rdkafka_mock.h</c>) because Confluent.Kafka
/// exposes none of the mock's controls. Processes reach it over TCP (<see cref="BootstrapServers"/>) like any cluster; the
/// test can make it refuse what a real cluster refuses: <see cref="SetTopicError"/> is the mock's per-topic error, which
/// its Metadata handler answers for that topic (rd_kafka_mock_handle_Metadata), as a broker answers a principal without
/// the ACLs for it (TOPIC_AUTHORIZATION_FAILED). librdkafka's producer fails the messages queued for such a topic with it.
/// </summary>
internal sealed class MockClusterControl : IDisposable
{
    /// <summary>Kafka's TOPIC_AUTHORIZATION_FAILED.</summary>
    public const int TopicAuthorizationFailed = 29;

    private const string Library = "librdkafka";
    private readonly IntPtr _handle;
    private readonly IntPtr _cluster;

    /// <summary>
    /// "librdkafka" resolves as Confluent.Kafka resolves it: librdkafka.redist's builds in runtimes/RID/native, the first that
    /// loads (the glibc build needs libsasl2.so.3, which Debian lacks; the centos8 one does not).
    /// </summary>
    static MockClusterControl() => NativeLibrary.SetDllImportResolver(typeof(MockClusterControl).Assembly, (name, _, _) =>
    {
        if (name != Library)
        {
            return IntPtr.Zero;
        }

        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");
        foreach (var file in (string[])["librdkafka.so", "centos8-librdkafka.so", "alpine-librdkafka.so"])
        {
            if (NativeLibrary.TryLoad(Path.Combine(native, file), out var handle))
            {
                return handle;
            }
        }

        return IntPtr.Zero;
    });

    public MockClusterControl(int brokers = 1)
    {
        var error = new byte[512];
        var conf = ConfNew();
        if (ConfSet(conf, Utf8("test.mock.num.brokers"), Utf8(brokers.ToString(System.Globalization.CultureInfo.InvariantCulture)), error, (UIntPtr)error.Length) != 0)
        {
            throw new InvalidOperationException("librdkafka refused test.mock.num.brokers: " + Text(error));
        }

        // Its notice that the mock replaces bootstrap.servers would go to the test's stderr.
        _ = ConfSet(conf, Utf8("log_level"), Utf8("3"), error, (UIntPtr)error.Length);

        // A producer handle owns the mock cluster (rd_kafka_new takes the configuration over, even when it fails).
        _handle = New(0, conf, error, (UIntPtr)error.Length);
        if (_handle == IntPtr.Zero)
        {
            throw new InvalidOperationException("librdkafka could not start a mock cluster: " + Text(error));
        }

        _cluster = HandleMockCluster(_handle);
        BootstrapServers = Marshal.PtrToStringUTF8(Bootstraps(_cluster))!;
    }

    public string BootstrapServers { get; }

    /// <summary>Creates the topic before anything subscribes to it (the mock never completes the rebalance a later creation starts).</summary>
    public void CreateTopic(string topic, int partitions = 1)
    {
        var err = TopicCreate(_cluster, Utf8(topic), partitions, 1);
        if (err != 0)
        {
            throw new InvalidOperationException($"the mock cluster did not create topic {topic}: error {err}");
        }
    }

    /// <summary>The error the cluster answers for <paramref name="topic"/> from now on; 0 takes it away.</summary>
    public void SetTopicError(string topic, int error) => TopicSetError(_cluster, Utf8(topic), error);

    public void Dispose() => Destroy(_handle);

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s + "\0");

    private static string Text(byte[] error) => Encoding.UTF8.GetString(error, 0, Math.Max(0, Array.IndexOf(error, (byte)0)));

    // DllImport rather than LibraryImport (which needs unsafe code in the project); byte[] strings, no string marshalling.
#pragma warning disable SYSLIB1054
    [DllImport(Library, EntryPoint = "rd_kafka_conf_new")]
    private static extern IntPtr ConfNew();

    [DllImport(Library, EntryPoint = "rd_kafka_conf_set")]
    private static extern int ConfSet(IntPtr conf, byte[] name, byte[] value, byte[] errstr, UIntPtr errstrSize);

    [DllImport(Library, EntryPoint = "rd_kafka_new")]
    private static extern IntPtr New(int type, IntPtr conf, byte[] errstr, UIntPtr errstrSize);

    [DllImport(Library, EntryPoint = "rd_kafka_destroy")]
    private static extern void Destroy(IntPtr rk);

    [DllImport(Library, EntryPoint = "rd_kafka_handle_mock_cluster")]
    private static extern IntPtr HandleMockCluster(IntPtr rk);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_cluster_bootstraps")]
    private static extern IntPtr Bootstraps(IntPtr cluster);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_topic_create")]
    private static extern int TopicCreate(IntPtr cluster, byte[] topic, int partitions, int replicationFactor);

    [DllImport(Library, EntryPoint = "rd_kafka_mock_topic_set_error")]
    private static extern void TopicSetError(IntPtr cluster, byte[] topic, int error);
#pragma warning restore SYSLIB1054
}
