namespace CdcPipeline.Core.Debezium;

/// <summary>One field of a Kafka Connect struct schema.</summary>
public sealed class ConnectField
{
    public ConnectField(string name, ConnectSchema schema)
    {
        Name = name;
        Schema = schema;
        NameUtf8 = System.Text.Encoding.UTF8.GetBytes(name);
    }

    public string Name { get; }

    public ConnectSchema Schema { get; }

    /// <summary>The name as UTF-8, so the JSON reader matches property names without decoding them.</summary>
    internal byte[] NameUtf8 { get; }
}
