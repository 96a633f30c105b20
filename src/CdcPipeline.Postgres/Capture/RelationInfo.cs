using CdcPipeline.Core.Changes;

namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// Our own copy of a pgoutput RELATION message (Npgsql reuses its message objects): the table's columns as of
/// the changes that follow it, their converters, and which columns form the replica identity key.
/// A new RELATION message for the same id (ALTER TABLE) replaces it, so schema changes apply mid-stream.
/// </summary>
internal sealed class RelationInfo
{
    public RelationInfo(uint id, string schema, string table, char replicaIdentity, string[] columns, uint[] typeOids,
        Func<string, object?>[] converters, int[] keyIndexes)
    {
        Id = id;
        Schema = schema;
        Table = table;
        ReplicaIdentity = replicaIdentity;
        TypeOids = typeOids;
        Converters = converters;
        KeyIndexes = keyIndexes;
        Shape = new RowShape(columns);
        KeyShape = new RowShape(keyIndexes.Select(i => columns[i]).ToArray());
        QualifiedName = schema + "." + table;
    }

    public uint Id { get; }
    public string Schema { get; }
    public string Table { get; }
    public string QualifiedName { get; }

    /// <summary>pgoutput's code: <c>d</c> default, <c>n</c> nothing, <c>f</c> full, <c>i</c> index.</summary>
    public char ReplicaIdentity { get; }
    public uint[] TypeOids { get; }
    public Func<string, object?>[] Converters { get; }
    public int[] KeyIndexes { get; }
    public RowShape Shape { get; }
    public RowShape KeyShape { get; }

    public bool HasKey => KeyIndexes.Length > 0;

    /// <summary>The key row taken from a full image (null when the table has no key).</summary>
    public Row? KeyOf(Row? row)
    {
        if (row is null || !HasKey)
        {
            return null;
        }

        var values = new object?[KeyIndexes.Length];
        for (var i = 0; i < KeyIndexes.Length; i++)
        {
            values[i] = row[KeyIndexes[i]];
        }

        return new Row(KeyShape, values);
    }
}
