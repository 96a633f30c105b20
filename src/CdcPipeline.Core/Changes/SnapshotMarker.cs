namespace CdcPipeline.Core.Changes;

/// <summary>
/// Debezium's <c>source.snapshot</c>: older connectors write a boolean, newer ones an enum string
/// (<c>true</c>, <c>first</c>, <c>first_in_data_collection</c>, <c>last_in_data_collection</c>,
/// <c>last</c>, <c>incremental</c>, <c>false</c>).
/// </summary>
public enum SnapshotMarker
{
    False,
    True,
    First,
    FirstInDataCollection,
    LastInDataCollection,
    Last,
    Incremental,
}

public static class SnapshotMarkers
{
    public static bool TryParse(string? text, out SnapshotMarker marker)
    {
        marker = text switch
        {
            null or "false" => SnapshotMarker.False,
            "true" => SnapshotMarker.True,
            "first" => SnapshotMarker.First,
            "first_in_data_collection" => SnapshotMarker.FirstInDataCollection,
            "last_in_data_collection" => SnapshotMarker.LastInDataCollection,
            "last" => SnapshotMarker.Last,
            "incremental" => SnapshotMarker.Incremental,
            _ => (SnapshotMarker)(-1),
        };
        return (int)marker >= 0;
    }

    public static string ToText(this SnapshotMarker marker) => marker switch
    {
        SnapshotMarker.False => "false",
        SnapshotMarker.True => "true",
        SnapshotMarker.First => "first",
        SnapshotMarker.FirstInDataCollection => "first_in_data_collection",
        SnapshotMarker.LastInDataCollection => "last_in_data_collection",
        SnapshotMarker.Last => "last",
        SnapshotMarker.Incremental => "incremental",
        _ => throw new ArgumentOutOfRangeException(nameof(marker)),
    };
}
