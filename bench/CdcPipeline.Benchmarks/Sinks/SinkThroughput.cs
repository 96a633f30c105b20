using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Postgres;
using CdcPipeline.Sinks.RabbitMq;
using CdcPipeline.Sinks.Redis;
using CdcPipeline.Sinks.Routing;
using CdcPipeline.Sinks.Webhook;

namespace CdcPipeline.Benchmarks.Sinks;

/// <summary>
/// <c>dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- sinks [EVENTS] [BATCH]</c>:
/// events/s each sink accepts from <c>DeliverAsync</c> with batches as the runner hands them over,
/// against the real servers (start them with scripts/services-start.sh and scripts/pg-start.sh;
/// override with CDC_BENCH_REDIS, CDC_BENCH_RABBITMQ, CDC_BENCH_POSTGRES). A server that does not
/// answer is reported and skipped. A Stopwatch harness, not BenchmarkDotNet: each sink talks to a
/// server whose own state (stream length, table size) changes run to run.
/// </summary>
public static class SinkThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
        var batchSize = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 500;
        var redis = Environment.GetEnvironmentVariable("CDC_BENCH_REDIS") ?? "127.0.0.1:56379";
        var rabbit = Environment.GetEnvironmentVariable("CDC_BENCH_RABBITMQ") ?? "amqp://guest:guest@127.0.0.1:56720/";
        var postgres = Environment.GetEnvironmentVariable("CDC_BENCH_POSTGRES") ?? "Host=127.0.0.1;Port=55432;Username=postgres;Password=postgres;Database=postgres";
        var run = Guid.NewGuid().ToString("N")[..8];
        var dir = Directory.CreateTempSubdirectory("cdc-bench-").FullName;
        Console.WriteLine($"{count} events, batches of {batchSize}, {Environment.ProcessorCount} cores");
        Console.WriteLine("| sink | events/s | note |");
        Console.WriteLine("| --- | ---: | --- |");

        await MeasureAsync("file (fsync per batch)", () => new JsonLinesFileSink("file", Path.Combine(dir, "events.jsonl")), count, batchSize, "");
        await MeasureAsync("file (no fsync)", () => new JsonLinesFileSink("file", Path.Combine(dir, "events-nofsync.jsonl"), fsync: false), count, batchSize, "");
        using (var receiver = new NullReceiver())
        {
            await MeasureAsync("webhook (structured, HMAC)", () => new WebhookSink("hook", new HttpClient(), new WebhookSinkOptions { Url = receiver.Url, Secret = "bench" }), count, batchSize, "one POST per event, in order, to a local HttpListener");
        }

        if (Reachable(new Uri(rabbit).Host, new Uri(rabbit).Port))
        {
            await MeasureAsync("rabbitmq (persistent, confirms)", () => new RabbitMqSink("rabbit", new RabbitMqSinkOptions { Uri = rabbit, Exchange = "cdc-bench-" + run }, Template("{type}")), count, batchSize, "no queue bound: the broker confirms and drops");
        }
        else
        {
            Console.WriteLine($"| rabbitmq | — | not reachable at {new Uri(rabbit).Host}:{new Uri(rabbit).Port} |");
        }

        var redisEndpoint = redis.Split(',')[0].Split(':');
        if (Reachable(redisEndpoint[0], int.Parse(redisEndpoint[1], CultureInfo.InvariantCulture)))
        {
            await MeasureAsync("redis stream (XADD)", () => new RedisSink("redis", new RedisSinkOptions { Configuration = redis, Stream = "cdcbench:" + run }, Template("cdcbench:" + run)), count, batchSize, "pipelined on one connection");
            await MeasureAsync("redis pub/sub", () => new RedisSink("redis", new RedisSinkOptions { Configuration = redis, Mode = RedisMode.PubSub, Channel = "cdcbench:" + run }, Template("cdcbench:" + run)), count, batchSize, "no subscriber");
        }
        else
        {
            Console.WriteLine($"| redis | — | not reachable at {redis} |");
        }

        var pg = new Npgsql.NpgsqlConnectionStringBuilder(postgres);
        if (Reachable(pg.Host ?? "127.0.0.1", pg.Port))
        {
            await MeasureAsync("postgres append", () => new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = postgres, Table = "cdc_bench_events_" + run }), count, batchSize, "one INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING per batch");
            await MeasureAsync("postgres upsert (1000 subjects)", () => new PostgresSink("pg", new PostgresSinkOptions { ConnectionString = postgres, Table = "cdc_bench_projection_" + run, Mode = PostgresSinkMode.Upsert }), count, batchSize, "position-guarded ON CONFLICT DO UPDATE");
        }
        else
        {
            Console.WriteLine($"| postgres | — | not reachable at {pg.Host}:{pg.Port} |");
        }

        Directory.Delete(dir, recursive: true);
        return 0;
    }

    private static EventTemplate Template(string text)
    {
        EventTemplate.TryParse(text, "bench", out var template, out _);
        return template;
    }

    private static async Task MeasureAsync(string name, Func<ISink> create, int count, int batchSize, string note)
    {
        var events = Events(count);
        await using var sink = create();
        try
        {
            // warm-up: connections, table creation, JIT
            await sink.DeliverAsync(Events(batchSize, offset: 10_000_000), CancellationToken.None);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < events.Count; i += batchSize)
            {
                await sink.DeliverAsync(events.GetRange(i, Math.Min(batchSize, events.Count - i)), CancellationToken.None);
            }

            clock.Stop();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {count / clock.Elapsed.TotalSeconds:N0} | {note} |"));
        }
        catch (Exception e)
        {
            Console.WriteLine($"| {name} | — | failed: {e.GetType().Name}: {e.Message} |");
        }
    }

    private static List<DomainEvent> Events(int count, long offset = 0)
    {
        var list = new List<DomainEvent>(count);
        for (long i = 1; i <= count; i++)
        {
            var position = new SourcePosition("bench", offset + i);
            var key = "ORD-" + ((offset + i) % 1000).ToString(CultureInfo.InvariantCulture);
            var row = Row.From(("ord_no", key), ("cust_no", "C-17"), ("ord_amt", ExactDecimal.Parse("129.90")), ("ord_sts_cd", "S"));
            var change = new ChangeEvent
            {
                Kind = ChangeKind.Change,
                Operation = ChangeOperation.Update,
                Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst", Lsn = offset + i },
                Position = position,
                Key = Row.From(("ord_no", key)),
                After = row,
            };
            list.Add(new DomainEvent
            {
                Id = EventIds.For(position, "bench"),
                Type = "OrderShipped",
                Source = "/legacy-orders/public.tb_ord_mst",
                Subject = key,
                Time = DateTimeOffset.UtcNow,
                Data = row,
                Position = position,
                Change = change,
            });
        }

        return list;
    }

    private static bool Reachable(string host, int port)
    {
        try
        {
            using var client = new TcpClient();
            return client.ConnectAsync(host, port).Wait(TimeSpan.FromSeconds(1)) && client.Connected;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>A local HTTP server that answers 204 to everything.</summary>
    private sealed class NullReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();

        public NullReceiver()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/hook/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _ = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    try
                    {
                        var context = await _listener.GetContextAsync();
                        await context.Request.InputStream.CopyToAsync(Stream.Null);
                        context.Response.StatusCode = 204;
                        context.Response.Close();
                    }
                    catch (Exception)
                    {
                        return;
                    }
                }
            });
        }

        public string Url { get; }

        public void Dispose() => _listener.Close();
    }
}
