using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// The <c>source</c> variable of rule expressions: the change's origin, with names as rule authors write
/// them (<c>source.commitTime</c>). A typed class, so a misspelt member fails when the rule loads.
/// </summary>
#pragma warning disable IDE1006 // lower-case names are the rule language's, not C#'s
public sealed class SourceView
{
    internal ChangeEvent? Change { get; set; }

    private SourceInfo Info => Change!.Source;

    public string? schema => Info.Schema;
    public string? table => Info.Table;
    public string? database => Info.Database;
    public string? connector => Info.Connector;

    /// <summary>Debezium's logical server name (topic prefix).</summary>
    public string? name => Info.Name;
    public long? lsn => Info.Lsn;
    public long? txId => Info.TxId;
    public UtcTimestamp? commitTime => Info.CommitTime;

    /// <summary>True for rows read by a snapshot (op <c>r</c>, or the snapshot's last record).</summary>
    public bool snapshot => Info.Snapshot != SnapshotMarker.False;
    public string? topic => Info.Topic;

    /// <summary>The stable text of the source position (<c>stream@major:minor</c>).</summary>
    public string position => Change!.Position.ToString();
}
#pragma warning restore IDE1006
