using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Debezium;

/// <summary>
/// A Kafka Connect schema, as the JSON converter embeds it (<c>{"type":…,"name":…,"parameters":…}</c>)
/// or as Debezium's Avro schemas carry it (<c>connect.name</c>, <c>connect.parameters</c>).
/// Immutable and shared: a schema is parsed once and its semantic meaning resolved once
/// (<see cref="ConnectValues.Classify"/>), then reused for every record written with it.
/// </summary>
public sealed class ConnectSchema
{
    private static readonly IReadOnlyDictionary<string, string> NoParameters = new Dictionary<string, string>();

    public ConnectSchema(
        ConnectType type,
        string? name = null,
        bool optional = false,
        IReadOnlyDictionary<string, string>? parameters = null,
        IReadOnlyList<ConnectField>? fields = null,
        ConnectSchema? keySchema = null,
        ConnectSchema? valueSchema = null,
        int? version = null)
    {
        Type = type;
        Name = name;
        Optional = optional;
        Parameters = parameters ?? NoParameters;
        FieldArray = [.. fields ?? []];
        Fields = FieldArray;
        KeySchema = keySchema;
        ValueSchema = valueSchema;
        Version = version;
        if (type == ConnectType.Struct)
        {
            try
            {
                Shape = new RowShape(Fields.Select(f => f.Name).ToArray());
            }
            catch (ArgumentException e)
            {
                throw new DebeziumDecodeException($"struct schema '{name}': {e.Message}");
            }
        }
        else if (type == ConnectType.Array && valueSchema is null)
        {
            throw new DebeziumDecodeException($"array schema '{name}' without 'items'");
        }
        else if (type == ConnectType.Map && (valueSchema is null || keySchema is null))
        {
            throw new DebeziumDecodeException($"map schema '{name}' without 'keys' and 'values'");
        }

        (Semantic, Scale, BitLength, Error) = ConnectValues.Classify(this);
        IsPlainText = type == ConnectType.String && Semantic is SemanticKind.None or SemanticKind.Text;
    }

    public ConnectType Type { get; }

    /// <summary>The logical name (<c>io.debezium.time.MicroTimestamp</c>) or struct name (<c>legacy.public.tb_ord_mst.Value</c>).</summary>
    public string? Name { get; }

    public bool Optional { get; }

    public IReadOnlyDictionary<string, string> Parameters { get; }

    public int? Version { get; }

    /// <summary>Struct fields in declaration (table column) order.</summary>
    public IReadOnlyList<ConnectField> Fields { get; }

    /// <summary><see cref="Fields"/> as an array: the JSON reader walks it for every struct it reads, without interface calls.</summary>
    internal ConnectField[] FieldArray { get; }

    public ConnectSchema? KeySchema { get; }

    /// <summary>Array items or map values.</summary>
    public ConnectSchema? ValueSchema { get; }

    /// <summary>For a struct: the column names, shared by every row decoded with this schema.</summary>
    public RowShape? Shape { get; }

    /// <summary>Why values of this schema cannot be decoded (e.g. a Decimal without its scale); null when they can.</summary>
    public string? Error { get; }

    /// <summary>
    /// The last short string value read for this schema (<see cref="ConnectJsonReader"/>), handed out again when the next one has
    /// the same text. Written and read without a lock from any decoding thread: a string is immutable, and a stale one only
    /// costs a comparison.
    /// </summary>
    internal string? LastText;

    /// <summary>
    /// The <see cref="ConnectSchemaRuleCheck"/> that checked the rules against this (value) schema, so that the records after
    /// the first cost it a reference comparison. Written without a lock: a race only checks once more.
    /// </summary>
    internal object? RulesCheckedBy;

    internal SemanticKind Semantic { get; }

    /// <summary>A string whose value is its text as it is (no date, number or JSON to parse out of it).</summary>
    internal bool IsPlainText { get; }

    /// <summary>Decimal scale, when <see cref="Semantic"/> is <see cref="SemanticKind.Decimal"/>.</summary>
    internal int Scale { get; }

    /// <summary>Bits length parameter, when <see cref="Semantic"/> is <see cref="SemanticKind.Bits"/>.</summary>
    internal int BitLength { get; }

    public int FieldIndex(string name) => Shape?.IndexOf(name) ?? -1;

    public ConnectField? Field(string name)
    {
        var i = FieldIndex(name);
        return i < 0 ? null : Fields[i];
    }

    public override string ToString() => Name is null ? Type.ToString().ToLowerInvariant() : $"{Type.ToString().ToLowerInvariant()} {Name}";
}
