using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;

namespace CdcPipeline.Tests.Debezium;

/// <summary>Builds Debezium JSON-converter records (with schemas) the way the PostgreSQL connector writes them.</summary>
internal static class DebeziumJson
{
    public const string SourceSchema =
        """{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"int64","optional":true,"field":"ts_us"},{"type":"string","optional":false,"field":"schema"},{"type":"string","optional":false,"field":"table"},{"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"},{"type":"int64","optional":true,"field":"xmin"}],"optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}""";

    public const string Source =
        """{"version":"2.7.3.Final","connector":"postgresql","name":"srv","ts_ms":1709280000412,"snapshot":"false","db":"legacy","sequence":"[null,\"100\"]","ts_us":1709280000412345,"schema":"public","table":"t","txId":770,"lsn":24023040,"xmin":null}""";

    /// <summary>A create event for table <c>public.t</c> with one column <c>v</c> of the given Connect field schema (without "field").</summary>
    public static string Value(string fieldSchema, string payloadValue, string op = "c")
    {
        var field = "{\"field\":\"v\"," + fieldSchema.TrimStart()[1..];
        var row = $$"""{"type":"struct","fields":[{{field}}],"optional":true,"name":"srv.public.t.Value","field":"%s"}""";
        return $$$"""{"schema":{"type":"struct","fields":[{{{row.Replace("%s", "before", StringComparison.Ordinal)}}},{{{row.Replace("%s", "after", StringComparison.Ordinal)}}},{{{SourceSchema}}},{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],"optional":false,"name":"srv.public.t.Envelope","version":2},"payload":{"before":null,"after":{"v":{{{payloadValue}}}},"source":{{{Source}}},"op":"{{{op}}}","ts_ms":1709280000500}}""";
    }

    public static ChangeEvent Decode(string valueJson, DebeziumDecoderOptions? options = null) =>
        new DebeziumJsonDecoder(options).DecodeValue(Encoding.UTF8.GetBytes(valueJson), 1, "srv.public.t");

    /// <summary>The decoded column <c>v</c> in its canonical JSON form.</summary>
    public static string DecodeColumn(string fieldSchema, string payloadValue, DebeziumDecoderOptions? options = null)
    {
        var after = Decode(Value(fieldSchema, payloadValue), options).After!;
        var json = CanonicalJson.Serialize(after);
        const string prefix = "{\"v\":";
        Assert.StartsWith(prefix, json, StringComparison.Ordinal);
        return json[prefix.Length..^1];
    }

    public static string Base64Unscaled(System.Numerics.BigInteger unscaled) =>
        Convert.ToBase64String(unscaled.ToByteArray(isUnsigned: false, isBigEndian: true));
}
