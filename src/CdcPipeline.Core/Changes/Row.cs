using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace CdcPipeline.Core.Changes;

/// <summary>
/// An immutable row image: typed column values in table order. A value is one of
/// <c>null</c>, <see cref="bool"/>, <see cref="short"/>/<see cref="int"/>/<see cref="long"/>, <see cref="float"/>/<see cref="double"/>,
/// <see cref="ExactDecimal"/>, <see cref="string"/>, <see cref="Date"/>, <see cref="LocalTimestamp"/>, <see cref="UtcTimestamp"/>,
/// <see cref="LocalTime"/>, <see cref="UtcTime"/>, <see cref="RawJson"/>, <see cref="BitString"/>, <c>byte[]</c>,
/// <see cref="IReadOnlyList{T}"/> of values (arrays), <see cref="Row"/> (structs) or <see cref="Unavailable.Value"/>.
/// </summary>
public sealed class Row : IReadOnlyDictionary<string, object?>
{
    private readonly object?[] _values;

    public Row(RowShape shape, object?[] values)
    {
        if (shape.Count != values.Length)
        {
            throw new ArgumentException($"{values.Length} values for {shape.Count} columns", nameof(values));
        }

        Shape = shape;
        _values = values;
    }

    public static Row From(params (string Column, object? Value)[] columns) =>
        new(new RowShape(columns.Select(c => c.Column).ToArray()), columns.Select(c => c.Value).ToArray());

    public RowShape Shape { get; }

    public int Count => _values.Length;

    public IEnumerable<string> Keys => Shape.Columns;

    public IEnumerable<object?> Values
    {
        get
        {
            // Every text made a string first, then the array itself as before: callers copy it (ToArray) per event.
            for (var i = 0; i < _values.Length; i++)
            {
                Value(i);
            }

            return _values;
        }
    }

    public object? this[int index] => Value(index);

    public object? this[string key] =>
        TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"the row has no column '{key}'");

    public string ColumnName(int index) => Shape.Columns[index];

    public bool ContainsKey(string key) => Shape.IndexOf(key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object? value)
    {
        var i = Shape.IndexOf(key);
        if (i < 0)
        {
            value = null;
            return false;
        }

        value = Value(i);
        return true;
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < _values.Length; i++)
        {
            yield return new KeyValuePair<string, object?>(Shape.Columns[i], Value(i));
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => Json.CanonicalJson.Serialize(this);

    /// <summary>
    /// The value as stored: a text column may still be its <see cref="Utf8Text"/>, for writers that can take the bytes
    /// (<see cref="Json.CanonicalJson.WriteRow(System.Text.Json.Utf8JsonWriter, Row)"/>).
    /// </summary>
    internal object? StoredValue(int index) => _values[index];

    private object? Value(int index)
    {
        var value = _values[index];
        if (value is Utf8Text text)
        {
            // Made once and kept: the row stays immutable to its readers, and two threads racing here store equal strings.
            var s = text.ToString();
            _values[index] = s;
            return s;
        }

        return value;
    }
}
