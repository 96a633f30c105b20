using System.Buffers;
using BenchmarkDotNet.Attributes;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Benchmarks;

/// <summary>
/// Translation alone, with the sample's rules, on already-decoded changes: what the rules cost on top of
/// decoding. Run: <c>dotnet run -c Release --project bench/CdcPipeline.Benchmarks -- --filter '*RuleTranslation*'</c>.
/// </summary>
[MemoryDiagnoser]
public class RuleTranslationBenchmarks
{
    private readonly List<DomainEvent> _output = new(4);
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private RuleTranslator _translator = null!;
    private ChangeEvent _insert = null!;
    private ChangeEvent _shipped = null!;
    private ChangeEvent _memoUpdate = null!;
    private ChangeEvent _snapshotRead = null!;
    private DomainEvent _event = null!;

    [GlobalSetup]
    public void Setup()
    {
        var dir = Repository.Root();
        _translator = RuleSet.LoadDirectory(Path.Combine(dir, "samples", "legacy-orders", "rules")).CreateTranslator("legacy-orders");
        _insert = Change(ChangeOperation.Create, null, Order("P", "        "), 0);
        _shipped = Change(ChangeOperation.Update, Order("P", "        "), Order("S", "20240105"), 1);
        _memoUpdate = Change(ChangeOperation.Update, Order("P", "        "), Order("P", "        "), 2);
        _snapshotRead = Change(ChangeOperation.Read, null, Order("P", "        "), 3);
        _translator.Translate(_shipped, _output);
        _event = _output[0];
    }

    private static Row Order(string status, string shippedOn) => Row.From(
        ("ord_no", new ExactDecimal(1000001, 0)), ("cust_no", "C0000001"), ("ord_dt", "20240102"), ("ord_sts_cd", status),
        ("ord_amt", ExactDecimal.Parse("149.90")), ("shp_dt", shippedOn), ("ord_memo", null), ("upd_ts", new LocalTimestamp(1_704_189_600_000_000)));

    private static ChangeEvent Change(ChangeOperation op, Row? before, Row? after, long index) => new()
    {
        Kind = ChangeKind.Change,
        Operation = op,
        Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst", CommitTime = new UtcTimestamp(1_704_189_600_000_000) },
        Position = new SourcePosition("cdc_slot", 1000, index),
        Before = before,
        After = after,
    };

    [Benchmark(Description = "insert → OrderPlaced")]
    public int Insert() => Translate(_insert);

    [Benchmark(Description = "P→S update → OrderShipped")]
    public int Shipped() => Translate(_shipped);

    [Benchmark(Description = "update, no event")]
    public int MemoUpdate() => Translate(_memoUpdate);

    [Benchmark(Description = "snapshot read, no event")]
    public int SnapshotRead() => Translate(_snapshotRead);

    [Benchmark(Description = "CloudEvents JSON of OrderShipped")]
    public int WriteJson()
    {
        _buffer.ResetWrittenCount();
        EventJson.Write(_buffer, _event);
        return _buffer.WrittenCount;
    }

    private int Translate(ChangeEvent change)
    {
        _output.Clear();
        _translator.Translate(change, _output);
        return _output.Count;
    }
}
