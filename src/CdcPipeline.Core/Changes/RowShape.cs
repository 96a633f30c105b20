using System.Text.Encodings.Web;
using System.Text.Json;

namespace CdcPipeline.Core.Changes;

/// <summary>
/// The column names of a row, in table order, shared by every row decoded with the same schema
/// so that name look-ups cost one dictionary probe and no per-row allocation.
/// </summary>
public sealed class RowShape
{
    private readonly Dictionary<string, int> _index;
    // a reference, so that a reader on another thread sees either nothing or a whole pair
    private Tuple<JavaScriptEncoder?, JsonEncodedText[]>? _encoded;
    private Tuple<string[], int[]>? _indexes;

    public RowShape(IReadOnlyList<string> columns)
    {
        Columns = columns;
        _index = new Dictionary<string, int>(columns.Count, StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
        {
            if (!_index.TryAdd(columns[i], i))
            {
                throw new ArgumentException($"column '{columns[i]}' appears twice", nameof(columns));
            }
        }
    }

    public IReadOnlyList<string> Columns { get; }

    public int Count => Columns.Count;

    public int IndexOf(string column) => _index.TryGetValue(column, out var i) ? i : -1;

    /// <summary>
    /// The index of each of <paramref name="columns"/> (-1 where absent), computed once per shape for the same array: a reader
    /// that looks up the same columns in every row (the Debezium envelope's) pays one reference comparison instead of a
    /// dictionary probe per column.
    /// </summary>
    internal int[] IndexesOf(string[] columns)
    {
        if (_indexes is { } cached && ReferenceEquals(cached.Item1, columns))
        {
            return cached.Item2;
        }

        var indexes = new int[columns.Length];
        for (var i = 0; i < indexes.Length; i++)
        {
            indexes[i] = IndexOf(columns[i]);
        }

        _indexes = Tuple.Create(columns, indexes);
        return indexes;
    }

    /// <summary>The column names JSON-encoded with <paramref name="encoder"/>, computed once per shape and encoder.</summary>
    public JsonEncodedText[] EncodedNames(JavaScriptEncoder? encoder)
    {
        if (_encoded is { } cached && ReferenceEquals(cached.Item1, encoder))
        {
            return cached.Item2;
        }

        var names = new JsonEncodedText[Columns.Count];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = JsonEncodedText.Encode(Columns[i], encoder);
        }

        _encoded = Tuple.Create(encoder, names);
        return names;
    }
}
