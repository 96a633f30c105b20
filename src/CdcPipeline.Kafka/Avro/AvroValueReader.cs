using System.Buffers;
using System.Text;
using Avro.IO;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using AvroType = Avro.Schema.Type;

namespace CdcPipeline.Kafka.Avro;

/// <summary>
/// Reads Avro binary into Kafka Connect primitives along a prepared <see cref="AvroNode"/> tree and
/// hands each to <see cref="ConnectValues"/>: only the Avro encoding is handled here.
/// </summary>
internal static class AvroValueReader
{
    /// <param name="stream">What <paramref name="d"/> reads from: a length is checked against what it has left.</param>
    public static object? Read(AvroNode node, BinaryDecoder d, Stream stream, ConnectValues values)
    {
        switch (node.Tag)
        {
            case AvroType.Union:
                var index = d.ReadUnionIndex();
                if (index < 0 || index >= node.Children.Length)
                {
                    throw new DebeziumDecodeException($"union branch {index} does not exist in the writer schema");
                }

                return Read(node.Children[index], d, stream, values);
            case AvroType.Null:
                d.ReadNull();
                return null;
            case AvroType.Boolean:
                return values.FromBoolean(node.Connect, d.ReadBoolean());
            case AvroType.Int:
                return values.FromInt64(node.Connect, d.ReadInt());
            case AvroType.Long:
                return values.FromInt64(node.Connect, d.ReadLong());
            case AvroType.Float:
                return values.FromDouble(node.Connect, d.ReadFloat());
            case AvroType.Double:
                return values.FromDouble(node.Connect, d.ReadDouble());
            case AvroType.Bytes:
                return values.FromBytes(node.Connect, d.ReadBytes());
            case AvroType.Fixed:
                var fixedBytes = new byte[node.FixedSize];
                d.ReadFixed(fixedBytes);
                return values.FromBytes(node.Connect, fixedBytes);
            case AvroType.String:
                return values.FromString(node.Connect, ReadString(d, stream));
            case AvroType.Enumeration:
                var symbol = d.ReadEnum();
                return symbol >= 0 && symbol < node.Symbols.Count
                    ? values.FromString(node.Connect, node.Symbols[symbol])
                    : throw new DebeziumDecodeException($"enum symbol {symbol} does not exist in the writer schema");
            case AvroType.Record:
                return values.FromStruct(node.Connect, ReadRecord(node, d, stream, values));
            case AvroType.Array:
                var list = new List<object?>();
                for (var n = d.ReadArrayStart(); n != 0; n = d.ReadArrayNext())
                {
                    for (var i = 0; i < n; i++)
                    {
                        try
                        {
                            list.Add(Read(node.Children[0], d, stream, values));
                        }
                        catch (DebeziumDecodeException e)
                        {
                            throw e.Within($"[{list.Count}]");
                        }
                    }
                }

                return values.FromArray(node.Connect, list);
            case AvroType.Map:
                var names = new List<string>();
                var items = new List<object?>();
                for (var n = d.ReadMapStart(); n != 0; n = d.ReadMapNext())
                {
                    for (var i = 0; i < n; i++)
                    {
                        var key = ReadString(d, stream);
                        try
                        {
                            items.Add(Read(node.Children[0], d, stream, values));
                        }
                        catch (DebeziumDecodeException e)
                        {
                            throw e.Within(key);
                        }

                        names.Add(key);
                    }
                }

                return values.FromMap(node.Connect, new Row(new RowShape(names.ToArray()), items.ToArray()));
            default:
                throw new DebeziumDecodeException($"unsupported Avro type {node.Tag}");
        }
    }

    /// <summary>
    /// An Avro string, its length checked first: Apache.Avro's ReadString allocates whatever length the data claims, so
    /// data that is not of its schema (a registry of another environment, corrupt bytes) allocated up to 2 GB per string.
    /// </summary>
    private static string ReadString(BinaryDecoder d, Stream stream)
    {
        var length = d.ReadLong();
        var left = stream.Length - stream.Position;
        if (length < 0 || length > left)
        {
            throw new DebeziumDecodeException($"a string of {length} bytes where {left} are left: the data is not of its schema, or corrupt");
        }

        if (length == 0)
        {
            return "";
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            d.ReadFixed(buffer, 0, (int)length);
            return Encoding.UTF8.GetString(buffer, 0, (int)length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Row ReadRecord(AvroNode node, BinaryDecoder d, Stream stream, ConnectValues values)
    {
        var children = node.Children;
        var result = new object?[children.Length];
        for (var i = 0; i < children.Length; i++)
        {
            try
            {
                result[i] = Read(children[i], d, stream, values);
            }
            catch (DebeziumDecodeException e)
            {
                throw e.Within(node.FieldNames[i]);
            }
        }

        return new Row(node.Connect.Shape!, result);
    }
}
