using System.Globalization;
using System.Text.Json;
using CdcPipeline.Core.Debezium;
using AvroSchema = Avro.Schema;

namespace CdcPipeline.Kafka.Avro;

/// <summary>
/// One node of a writer schema, prepared for reading: its Avro encoding and the Kafka Connect
/// schema it stands for, rebuilt from the <c>connect.name</c>, <c>connect.parameters</c>,
/// <c>connect.version</c> and <c>connect.type</c> properties that Confluent's AvroData (used by
/// Debezium's AvroConverter) writes, as its <c>toConnectSchema</c> reads them back.
/// </summary>
internal sealed class AvroNode
{
    private AvroNode(AvroSchema.Type tag, ConnectSchema? connect)
    {
        Tag = tag;
        Connect = connect!;
    }

    public AvroSchema.Type Tag { get; }

    /// <summary>The Connect schema of the value (for a union: of its non-null branch, made optional).</summary>
    public ConnectSchema Connect { get; private set; }

    /// <summary>Record fields, array items (one), map values (one) or union branches.</summary>
    public AvroNode[] Children { get; private set; } = [];

    public string[] FieldNames { get; private set; } = [];

    public IList<string> Symbols { get; private set; } = [];

    public int FixedSize { get; private set; }

    public static AvroNode Build(AvroSchema schema, bool optional, string where)
    {
        switch (schema)
        {
            case global::Avro.UnionSchema union:
            {
                var branches = union.Schemas;
                var nonNull = branches.Where(b => b.Tag != AvroSchema.Type.Null).ToList();
                if (nonNull.Count != 1)
                {
                    throw new DebeziumDecodeException(
                        $"{where}: Avro union of {nonNull.Count} non-null types; Debezium writes only [\"null\", T] unions");
                }

                var children = branches.Select(b => Build(b, optional: true, where)).ToArray();
                return new AvroNode(AvroSchema.Type.Union, children.First(c => c.Tag != AvroSchema.Type.Null).Connect) { Children = children };
            }

            case global::Avro.RecordSchema record:
            {
                var fields = record.Fields.Select(f => (f.Name, Node: Build(f.Schema, optional: false, $"{where}.{f.Name}"))).ToArray();
                var connect = new ConnectSchema(
                    ConnectType.Struct,
                    Text(schema, "connect.name") ?? record.Fullname,
                    optional,
                    Parameters(schema),
                    fields.Select(f => new ConnectField(f.Name, f.Node.Connect)).ToArray(),
                    version: Version(schema));
                return new AvroNode(AvroSchema.Type.Record, connect)
                {
                    Children = fields.Select(f => f.Node).ToArray(),
                    FieldNames = fields.Select(f => f.Name).ToArray(),
                };
            }

            case global::Avro.ArraySchema array:
            {
                var items = Build(array.ItemSchema, optional: false, $"{where}[]");
                var connect = new ConnectSchema(ConnectType.Array, Text(schema, "connect.name"), optional, Parameters(schema), valueSchema: items.Connect);
                return new AvroNode(AvroSchema.Type.Array, connect) { Children = [items] };
            }

            case global::Avro.MapSchema map:
            {
                var values = Build(map.ValueSchema, optional: false, $"{where}.values");
                var connect = new ConnectSchema(
                    ConnectType.Map, Text(schema, "connect.name"), optional, Parameters(schema),
                    keySchema: new ConnectSchema(ConnectType.String), valueSchema: values.Connect);
                return new AvroNode(AvroSchema.Type.Map, connect) { Children = [values] };
            }

            case global::Avro.EnumSchema e:
                // AvroData's enhanced schema support writes Debezium's Enum as an Avro enum: it is still a string.
                return new AvroNode(AvroSchema.Type.Enumeration, Primitive(ConnectType.String, schema, optional, null)) { Symbols = e.Symbols };

            case global::Avro.FixedSchema f:
                return new AvroNode(AvroSchema.Type.Fixed, Primitive(ConnectType.Bytes, schema, optional, null)) { FixedSize = f.Size };

            case global::Avro.LogicalSchema logical:
            {
                var baseNode = Build(logical.BaseSchema, optional, where);
                var (defaultName, extra) = logical.LogicalTypeName switch
                {
                    "decimal" => ("org.apache.kafka.connect.data.Decimal", Text(schema, "scale") is { } scale ? ("scale", scale) : default((string, string)?)),
                    "date" => ("org.apache.kafka.connect.data.Date", null),
                    "time-millis" => ("org.apache.kafka.connect.data.Time", null),
                    "timestamp-millis" => ("org.apache.kafka.connect.data.Timestamp", null),
                    _ => ((string?)null, null),
                };
                var parameters = Parameters(schema);
                if (extra is { } p && (parameters is null || !parameters.ContainsKey(p.Item1)))
                {
                    parameters = new Dictionary<string, string>(parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal) { [p.Item1] = p.Item2 };
                }

                var connect = new ConnectSchema(baseNode.Connect.Type, Text(schema, "connect.name") ?? defaultName, optional, parameters, version: Version(schema));
                return new AvroNode(baseNode.Tag, connect) { FixedSize = baseNode.FixedSize };
            }

            default:
                var type = schema.Tag switch
                {
                    AvroSchema.Type.Null => (ConnectType?)null,
                    AvroSchema.Type.Boolean => ConnectType.Boolean,
                    AvroSchema.Type.Int => Text(schema, "connect.type") switch
                    {
                        "int8" => ConnectType.Int8,
                        "int16" => ConnectType.Int16,
                        _ => ConnectType.Int32,
                    },
                    AvroSchema.Type.Long => ConnectType.Int64,
                    AvroSchema.Type.Float => ConnectType.Float32,
                    AvroSchema.Type.Double => ConnectType.Float64,
                    AvroSchema.Type.Bytes => ConnectType.Bytes,
                    AvroSchema.Type.String => ConnectType.String,
                    _ => throw new DebeziumDecodeException($"{where}: unsupported Avro type {schema.Tag}"),
                };
                return new AvroNode(schema.Tag, type is { } t ? Primitive(t, schema, optional, null) : null);
        }
    }

    private static ConnectSchema Primitive(ConnectType type, AvroSchema schema, bool optional, string? defaultName) =>
        new(type, Text(schema, "connect.name") ?? defaultName, optional, Parameters(schema), version: Version(schema));

    /// <summary>Avro's C# schema keeps custom properties as JSON text: <c>"\"io.debezium.time.Date\""</c>.</summary>
    private static string? Text(AvroSchema schema, string key)
    {
        var raw = schema.GetProperty(key);
        if (string.IsNullOrEmpty(raw))
        {
            return null;
        }

        using var doc = JsonDocument.Parse(raw);
        return doc.RootElement.ValueKind switch
        {
            JsonValueKind.String => doc.RootElement.GetString(),
            JsonValueKind.Number => doc.RootElement.GetRawText(),
            _ => null,
        };
    }

    private static int? Version(AvroSchema schema) =>
        int.TryParse(Text(schema, "connect.version"), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static Dictionary<string, string>? Parameters(AvroSchema schema)
    {
        var raw = schema.GetProperty("connect.parameters");
        if (string.IsNullOrEmpty(raw))
        {
            return null;
        }

        using var doc = JsonDocument.Parse(raw);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            parameters[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        }

        return parameters;
    }
}
