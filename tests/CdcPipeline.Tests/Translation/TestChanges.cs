using CdcPipeline.Core.Changes;

namespace CdcPipeline.Tests.Translation;

/// <summary>Hand-built change events, as either capture path would produce them.</summary>
internal static class TestChanges
{
    /// <summary>2024-01-02T10:00:00Z.</summary>
    public static readonly UtcTimestamp CommitTime = new(1_704_189_600_000_000);

    public static ChangeEvent Change(
        ChangeOperation op, string table, Row? before = null, Row? after = null, Row? key = null,
        long commitLsn = 1000, long index = 0, string schema = "public", Row? newKey = null, Row? oldKey = null)
    {
        return new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = op,
            Source = new SourceInfo
            {
                Connector = "postgresql",
                Name = "legacy",
                Database = "legacy",
                Schema = schema,
                Table = table,
                Lsn = commitLsn - 8,
                TxId = 4711,
                CommitTime = CommitTime,
                Snapshot = op == ChangeOperation.Read ? SnapshotMarker.True : SnapshotMarker.False,
            },
            Position = new SourcePosition("cdc_slot", commitLsn, index),
            Key = key,
            Before = before,
            After = after,
            NewKey = newKey,
            OldKey = oldKey,
        };
    }

    /// <summary>
    /// An update that changed the primary key, as both capture paths deliver it: a delete of the old row carrying
    /// the new key, then a create of the new row carrying the old key.
    /// </summary>
    public static ChangeEvent[] KeyChange(string table, string keyColumn, Row before, Row after)
    {
        var oldKey = Row.From((keyColumn, before[keyColumn]));
        var newKey = Row.From((keyColumn, after[keyColumn]));
        return
        [
            Change(ChangeOperation.Delete, table, before: before, key: oldKey, index: 0, newKey: newKey),
            Change(ChangeOperation.Create, table, after: after, key: newKey, index: 1, oldKey: oldKey),
        ];
    }

    public static ChangeEvent Other(ChangeKind kind, string table = "tb_ord_mst") => new()
    {
        Kind = kind,
        Source = new SourceInfo { Schema = "public", Table = table },
        Position = new SourcePosition("cdc_slot", 5),
        Key = kind == ChangeKind.Tombstone ? Row.From(("ord_no", new ExactDecimal(1, 0))) : null,
    };

    public static ExactDecimal Dec(string text) => ExactDecimal.Parse(text);

    public static Row Order(string status, string amount = "149.90", string shippedOn = "        ", long orderNo = 1000001, object? memo = null) => Row.From(
        ("ord_no", new ExactDecimal(orderNo, 0)),
        ("cust_no", "C0000001"),
        ("ord_dt", "20240102"),
        ("ord_sts_cd", status),
        ("ord_amt", Dec(amount)),
        ("shp_dt", shippedOn),
        ("ord_memo", memo),
        ("upd_ts", new LocalTimestamp(1_704_189_600_000_000)));

    public static Row Customer(string addr1 = "12 Mill Lane", string? addr2 = null, string zip = "1010   ", string name = "Hanna Berger", string custNo = "C0000001") => Row.From(
        ("cust_no", custNo),
        ("cust_nm", name),
        ("cust_addr1", addr1),
        ("cust_addr2", addr2),
        ("cust_zip", zip),
        ("reg_dt", "19980312"),
        ("del_flg", "N"),
        ("upd_ts", new LocalTimestamp(1_704_189_600_000_000)));

    /// <summary>The repository root, found from the test binaries, for the sample files.</summary>
    public static string RepoPath(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CdcPipeline.sln")))
        {
            dir = dir.Parent;
        }

        return dir is null
            ? throw new InvalidOperationException("CdcPipeline.sln not found above " + AppContext.BaseDirectory)
            : Path.Combine([dir.FullName, .. parts]);
    }
}
