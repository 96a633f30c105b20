using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Translation;
using static CdcPipeline.Tests.Debezium.DebeziumJson;

namespace CdcPipeline.Tests.Translation;

/// <summary>
/// Event ids of changes that came through Debezium. Kafka Connect delivers at least once: after a worker crash
/// the connector streams again from its last committed offset and writes records Kafka already has, at new
/// offsets. Those are the same changes and must make the same events; different changes — several rows of one
/// COPY share a WAL record and so an LSN and a transaction — must never.
/// </summary>
public class DebeziumEventIdTests
{
    private const string IntColumn = """{"type":"int32","optional":false}""";

    private const string Rules = """
        table: t
        key: v
        events:
          - type: Touched
            when: op == "c" || op == "d" || op == "r"
        """;

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static string Key(int id) =>
        $$$"""{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"v"}],"optional":false,"name":"srv.public.t.Key"},"payload":{"v":{{{id}}}}}""";

    private static ChangeEvent FromKafka(string value, long offset, int? key = 1, int partition = 0) =>
        new DebeziumJsonDecoder().Decode(new DebeziumRecord
        {
            Topic = "srv.public.t",
            Partition = partition,
            Offset = offset,
            Key = key is { } k ? new ReadOnlyMemory<byte>(U(Key(k))) : (ReadOnlyMemory<byte>?)null,
            Value = U(value),
        });

    private static string Id(IChangeTranslator translator, ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        translator.Translate(change, output);
        return Assert.Single(output).Id;
    }

    [Fact]
    public void A_change_debezium_sends_again_after_a_connect_crash_gets_the_same_event_id()
    {
        var value = Value(IntColumn, "1");
        var first = FromKafka(value, offset: 41);
        var resent = FromKafka(value.Replace("\"ts_ms\":1709280000500", "\"ts_ms\":1709280099999", StringComparison.Ordinal), offset: 97);

        Assert.Equal(Id(RuleFiles.Translator(Rules), first), Id(RuleFiles.Translator(Rules), resent));
        Assert.Equal(Id(new PassthroughTranslator("p"), first), Id(new PassthroughTranslator("p"), resent));
    }

    [Fact]
    public void Rows_of_one_copy_share_lsn_and_transaction_but_not_their_event_ids()
    {
        var one = FromKafka(Value(IntColumn, "1"), offset: 10, key: 1);
        var two = FromKafka(Value(IntColumn, "2"), offset: 11, key: 2);
        Assert.Equal((one.Source.Lsn, one.Source.TxId), (two.Source.Lsn, two.Source.TxId));

        Assert.NotEqual(Id(RuleFiles.Translator(Rules), one), Id(RuleFiles.Translator(Rules), two));
        Assert.NotEqual(Id(new PassthroughTranslator("p"), one), Id(new PassthroughTranslator("p"), two));
    }

    [Fact]
    public void Rows_of_one_copy_with_a_key_that_is_not_unique_get_different_ids()
    {
        // message.key.columns may key a table by columns that are not unique (all lines of one order, say).
        var one = FromKafka(Value(IntColumn, "1"), offset: 10, key: 5);
        var two = FromKafka(Value(IntColumn, "2"), offset: 11, key: 5);

        Assert.NotEqual(Id(RuleFiles.Translator(Rules), one), Id(RuleFiles.Translator(Rules), two));
    }

    [Fact]
    public void The_delete_and_the_create_of_a_primary_key_change_get_different_ids()
    {
        // Debezium writes both at the LSN of the one UPDATE that changed the key.
        var delete = FromKafka(Value(IntColumn, "1", "d"), offset: 10, key: 1);
        var create = FromKafka(Value(IntColumn, "1", "c"), offset: 12, key: 1);

        Assert.NotEqual(Id(RuleFiles.Translator(Rules), delete), Id(RuleFiles.Translator(Rules), create));
    }

    [Fact]
    public void Changes_of_a_table_without_key_keep_ids_by_kafka_position_so_equal_rows_stay_distinct()
    {
        // Two equal rows COPYed into a keyless table: same LSN, same transaction, same row, no key to tell them apart.
        var value = Value(IntColumn, "1");
        var one = FromKafka(value, offset: 10, key: null);
        var two = FromKafka(value, offset: 11, key: null);

        Assert.NotEqual(Id(new PassthroughTranslator("p"), one), Id(new PassthroughTranslator("p"), two));
    }

    [Fact]
    public void Snapshot_reads_of_two_snapshots_at_different_lsns_are_different_events()
    {
        var read = Value(IntColumn, "1", "r");
        var first = FromKafka(read, offset: 1);
        var again = FromKafka(read.Replace("\"lsn\":24023040", "\"lsn\":24029999", StringComparison.Ordinal), offset: 2);

        Assert.NotEqual(Id(RuleFiles.Translator(Rules), first), Id(RuleFiles.Translator(Rules), again));
    }

    /// <summary>
    /// The ids themselves, as every release so far has made them: downstream consumers de-duplicate by them, so a faster way
    /// of computing them must give the very same text. The sample's changes cover the canonical rows (decimals, CHAR codes,
    /// a 3.8 KB memo) that name a Debezium change.
    /// </summary>
    [Fact]
    public void Event_ids_are_the_same_text_as_every_earlier_release_made()
    {
        Assert.Equal("9db44092-ec81-57b4-bf79-81d1406f50f3", EventIds.For(new SourcePosition("cdc_slot", 77, 3), "orders#OrderPlaced"));
        Assert.Equal("758e2fb5-bcf9-5ced-8375-ede69f52344b", EventIds.For(new SourcePosition("legacy.public.tb_ord_mst/2", 41), "règle✓#Évent", 12));
        Assert.Equal("96acb0f9-b62b-56d9-b6f7-3bbdfff83fe2", EventIds.For(new string('x', 700) + "é"));
        Assert.Equal("c3693aea-616c-586c-9374-6deab3d42921", EventIds.For("a\ud800b")); // a lone surrogate is encoded as U+FFFD

        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "samples", "legacy-orders", "debezium", "changes.jsonl"));
        var decoder = new DebeziumJsonDecoder();
        var placed = decoder.DecodeLine(U(lines[12]), 13); // tb_ord_mst insert with its memo
        var memoUpdate = decoder.DecodeLine(U(lines[21]), 22); // tb_ord_mst update: the memo in both images
        Assert.Equal("debezium:96fbea7c1c58ce4d13d8946ad9eff1cf02e9510c8b6060536119153846ed2310", placed.Origin);
        Assert.Equal("ef46ccbc-6d1e-53e8-a677-8914e712adcf", Id(new PassthroughTranslator("p"), placed));
        Assert.Equal("68b69b54-fa3f-5aee-a760-cd066f98f41e", EventIds.For(placed, "r#T", 1));
        Assert.Equal("debezium:ab8594421eed9493152dbbb823e157520fc7bccd8aad176e119b96010496d363", memoUpdate.Origin);
        Assert.Equal("97d703a3-47b6-5717-8645-889da5c4e461", Id(new PassthroughTranslator("p"), memoUpdate));
        Assert.Equal("43d65859-8f9d-518c-aef7-daabcf15c869", EventIds.For(memoUpdate, "r#T", 1));
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CdcPipeline.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("the tests run from inside the repository");
    }
}
