using System.Globalization;

namespace CdcPipeline.Benchmarks.Kafka;

/// <summary>
/// CPU time of each live thread so far (Linux: <c>/proc/self/task/*/schedstat</c>, nanoseconds on CPU; empty elsewhere), to
/// split a side's CPU per record by thread: the Kafka source's poll thread, the thread pool (decode, translate, sink, runner),
/// librdkafka's own threads, the in-process mock broker, and the rest (JIT, GC, timers, Confluent's delivery-report thread).
/// A thread that ends inside the window loses its share; none of these do.
/// </summary>
internal sealed class ThreadCpu
{
    private readonly Dictionary<int, (string Name, long Nanoseconds)> _threads;

    private ThreadCpu(Dictionary<int, (string Name, long Nanoseconds)> threads) => _threads = threads;

    public static ThreadCpu Now()
    {
        var threads = new Dictionary<int, (string, long)>();
        if (!Directory.Exists("/proc/self/task"))
        {
            return new ThreadCpu(threads);
        }

        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                var schedstat = File.ReadAllText(Path.Combine(task, "schedstat"));
                var nanoseconds = long.Parse(schedstat.AsSpan(0, schedstat.IndexOf(' ', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
                threads[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = (name, nanoseconds);
            }
            catch (Exception e) when (e is IOException or FormatException)
            {
                // The thread ended meanwhile.
            }
        }

        return new ThreadCpu(threads);
    }

    /// <summary>"poll thread 3.1, thread pool 11.0, …" in µs per record since <paramref name="start"/>.</summary>
    public string Since(ThreadCpu start, int records)
    {
        if (_threads.Count == 0)
        {
            return "";
        }

        var groups = new Dictionary<string, long>
        {
            ["source poll thread"] = 0,
            ["thread pool"] = 0,
            ["librdkafka threads"] = 0,
            ["mock broker"] = 0,
            ["other"] = 0,
        };
        foreach (var (tid, (name, nanoseconds)) in _threads)
        {
            var used = nanoseconds - (start._threads.TryGetValue(tid, out var before) && before.Name == name ? before.Nanoseconds : 0);
            groups[Group(name)] += used;
        }

        return "CPU µs/record by thread: " + string.Join(", ", groups.Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Value / 1000.0 / records:0.0}")));
    }

    private static string Group(string name) => name switch
    {
        _ when name.StartsWith("kafka-source", StringComparison.Ordinal) => "source poll thread",
        _ when name.StartsWith(".NET TP Worker", StringComparison.Ordinal) => "thread pool",
        "rdk:mock" => "mock broker",
        _ when name.StartsWith("rdk:", StringComparison.Ordinal) => "librdkafka threads",
        _ => "other",
    };
}
