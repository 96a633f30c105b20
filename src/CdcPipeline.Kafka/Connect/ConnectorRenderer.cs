using System.Globalization;
using System.Text.Json.Nodes;
using CdcPipeline.Kafka.Source;

namespace CdcPipeline.Kafka.Connect;

/// <summary>
/// Builds Debezium's PostgreSQL connector configuration (the body of <c>PUT /connectors/{name}/config</c>)
/// from <c>source.kafka.debezium</c>, so the table list lives in one place. Every setting is explained
/// in <c>connector-config/README.md</c>.
/// </summary>
public static class ConnectorRenderer
{
    public static JsonObject Render(DebeziumConnectorOptions d, string format)
    {
        var avro = string.Equals(format, "avro", StringComparison.OrdinalIgnoreCase);
        var tables = string.Join(",", d.QualifiedTables().Select(IncludePattern));
        var config = new JsonObject
        {
            ["connector.class"] = "io.debezium.connector.postgresql.PostgresConnector",
            ["tasks.max"] = "1",
            ["plugin.name"] = "pgoutput",
            ["database.hostname"] = d.Database.Hostname,
            ["database.port"] = d.Database.Port.ToString(CultureInfo.InvariantCulture),
            ["database.user"] = d.Database.User,
            ["database.password"] = d.Database.Password,
            ["database.dbname"] = d.Database.Dbname,
            ["topic.prefix"] = d.TopicPrefix,
            ["slot.name"] = d.Slot,
            ["publication.name"] = d.Publication,
            ["publication.autocreate.mode"] = d.PublicationAutocreateMode,
            ["table.include.list"] = tables,
            ["snapshot.mode"] = d.SnapshotMode,
            ["decimal.handling.mode"] = "precise",
            ["time.precision.mode"] = "adaptive_time_microseconds",
            ["binary.handling.mode"] = "bytes",
            ["tombstones.on.delete"] = "true",
            ["provide.transaction.metadata"] = d.ProvideTransactionMetadata ? "true" : "false",
            ["heartbeat.interval.ms"] = d.HeartbeatIntervalMs.ToString(CultureInfo.InvariantCulture),
        };
        if (d.HeartbeatIntervalMs > 0 && !string.IsNullOrEmpty(d.HeartbeatTable))
        {
            config["heartbeat.action.query"] = $"INSERT INTO {d.HeartbeatTable} (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts";
            var heartbeat = d.HeartbeatTable.Contains('.', StringComparison.Ordinal) ? d.HeartbeatTable : "public." + d.HeartbeatTable;
            if (string.Equals(d.PublicationAutocreateMode, "filtered", StringComparison.Ordinal) && !d.QualifiedTables().Contains(heartbeat, StringComparer.Ordinal))
            {
                // The query moves the slot on only if its write reaches the connector, i.e. if the table is published. In
                // filtered mode Debezium publishes exactly table.include.list (and the signal table, which it adds itself,
                // RelationalTableFilters): without this entry the heartbeat writes are never streamed and WAL piles up on a
                // quiet database. Its changes go to a topic of their own, which the pipeline does not subscribe to.
                config["table.include.list"] = tables + "," + IncludePattern(heartbeat);
            }
        }

        if (!string.IsNullOrEmpty(d.SignalTable))
        {
            // Debezium names the signal table as <database>.<schema>.<table>... for PostgreSQL: <schema>.<table>.
            config["signal.data.collection"] = d.SignalTable;
        }

        if (avro)
        {
            var registry = d.ConverterSchemaRegistryUrl;
            config["key.converter"] = "io.confluent.connect.avro.AvroConverter";
            config["key.converter.schema.registry.url"] = registry;
            config["value.converter"] = "io.confluent.connect.avro.AvroConverter";
            config["value.converter.schema.registry.url"] = registry;
        }
        else
        {
            config["key.converter"] = "org.apache.kafka.connect.json.JsonConverter";
            config["key.converter.schemas.enable"] = "true";
            config["value.converter"] = "org.apache.kafka.connect.json.JsonConverter";
            config["value.converter.schemas.enable"] = "true";
        }

        foreach (var (key, value) in d.Extra)
        {
            config[key] = value;
        }

        return config;
    }

    /// <summary>
    /// <c>table.include.list</c> is a list of regular expressions that must match a table's <c>schema.table</c>
    /// whole: a '$', '(' or '+' in a legacy table name would make the entry match nothing, and the table would
    /// silently not be captured. Those are escaped; '.' is left as written — it matches the '.' between schema and
    /// table, so the usual list reads as the table names it is.
    /// </summary>
    public static string IncludePattern(string qualifiedTable)
    {
        const string special = "\\^$|?*+()[]{}";
        var pattern = new System.Text.StringBuilder(qualifiedTable.Length + 4);
        foreach (var c in qualifiedTable)
        {
            if (special.Contains(c, StringComparison.Ordinal))
            {
                pattern.Append('\\');
            }

            pattern.Append(c);
        }

        return pattern.ToString();
    }
}
