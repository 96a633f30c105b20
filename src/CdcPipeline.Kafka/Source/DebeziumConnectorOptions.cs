using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Kafka.Source;

/// <summary>
/// <c>source.kafka.debezium:</c> — the Debezium connector that writes the topics this source reads.
/// One table list, one place: <c>connector render</c> builds the connector JSON from it, and the source
/// derives its topics from it (<c>{topicPrefix}.{schema}.{table}</c>, the heartbeat topic
/// <c>__debezium-heartbeat.{topicPrefix}</c>, and <c>{topicPrefix}.transaction</c> when transaction
/// metadata is on) unless <c>topics</c> or <c>topicPattern</c> is given. Debezium matches the table list
/// case-insensitively, and so does the derived subscription (<see cref="TableSubscription"/>).
/// </summary>
public sealed class DebeziumConnectorOptions
{
    /// <summary>Kafka Connect's connector name; defaults to the pipeline name.</summary>
    public string? ConnectorName { get; set; }

    [Required(ErrorMessage = "debezium needs a topicPrefix (the connector's topic.prefix, e.g. 'legacy')")]
    [RegularExpression("^[A-Za-z0-9_.-]+$", ErrorMessage = "use letters, digits, '.', '_' and '-' only (it becomes part of topic names)")]
    public string TopicPrefix { get; set; } = "";

    /// <summary>Tables to capture, <c>schema.table</c>.</summary>
    [MinLength(1, ErrorMessage = "debezium.tables needs at least one schema.table")]
    public List<string> Tables { get; set; } = [];

    public DebeziumDatabaseOptions Database { get; set; } = new();

    public string Slot { get; set; } = "debezium_cdc";

    public string Publication { get; set; } = "debezium_cdc_pub";

    /// <summary>
    /// <c>filtered</c> (a publication for exactly the table list), <c>disabled</c> (it must exist), <c>all_tables</c>: the
    /// modes Debezium 2.5 knows (connector-config/Dockerfile pins 2.5.4). Its connector validates the value, so Connect
    /// would refuse 3.0's no_tables; render refuses it first.
    /// </summary>
    [RegularExpression("^(filtered|disabled|all_tables)$", ErrorMessage = "must be a publication.autocreate.mode Debezium 2.5 knows (the version connector-config/Dockerfile pins): filtered, disabled or all_tables; no_tables needs Debezium 3.0 or later")]
    public string PublicationAutocreateMode { get; set; } = "filtered";

    /// <summary>
    /// The modes Debezium 2.5's PostgreSQL connector knows (connector-config/Dockerfile pins 2.5.4): Connect refuses
    /// 2.6's when_needed, no_data and recovery there, so render refuses them first.
    /// </summary>
    [RegularExpression("^(initial|never|initial_only|always)$", ErrorMessage = "must be a snapshot.mode Debezium 2.5 knows (the version connector-config/Dockerfile pins): initial, never, initial_only or always; when_needed, no_data and recovery need Debezium 2.6 or later")]
    public string SnapshotMode { get; set; } = "initial";

    [Range(0, int.MaxValue)]
    public int HeartbeatIntervalMs { get; set; } = 10_000;

    /// <summary>Table the heartbeat action query writes, so a quiet captured database still moves the slot on; null = no action query.</summary>
    public string? HeartbeatTable { get; set; } = "public.debezium_heartbeat";

    /// <summary>Table for ad-hoc snapshot signals (<c>signal.data.collection</c>); null = none.</summary>
    public string? SignalTable { get; set; } = "public.debezium_signal";

    public bool ProvideTransactionMetadata { get; set; } = true;

    /// <summary>Schema Registry as Kafka Connect reaches it (the Avro converters); differs from the source's URL when Connect runs in a container.</summary>
    public string ConverterSchemaRegistryUrl { get; set; } = "http://schema-registry:8081";

    /// <summary>Further connector properties, passed through untouched (they win over the rendered ones).</summary>
    public Dictionary<string, string> Extra { get; set; } = new(StringComparer.Ordinal);

    public string ConnectorNameOr(string pipelineName) => string.IsNullOrEmpty(ConnectorName) ? pipelineName : ConnectorName;

    /// <summary>The table list as <c>schema.table</c> (a table without schema is in <c>public</c>).</summary>
    public IEnumerable<string> QualifiedTables() => Tables.Select(t => t.Contains('.', StringComparison.Ordinal) ? t : "public." + t);

    /// <summary>
    /// The topic Debezium writes a table's changes to: <c>{topicPrefix}.{schema}.{table}</c>, with every character
    /// Kafka does not allow in a topic name (outside <c>[a-zA-Z0-9._-]</c>: <c>$</c>, a space, letters of other
    /// alphabets) replaced by <c>_</c>, as Debezium's topic naming strategy does. Subscribing to the name as
    /// written would never receive that table's changes.
    /// </summary>
    public string TableTopic(string qualifiedTable)
    {
        var name = string.Concat(TopicPrefix, ".", qualifiedTable);
        return string.Create(name.Length, name, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = c is '.' or '_' or '-' or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') ? c : '_';
            }
        });
    }

    /// <summary>
    /// The subscription for a listed table. Debezium matches <c>table.include.list</c> case-insensitively and names the
    /// topic after the table as PostgreSQL stores it, so <c>PUBLIC.TB_ORD_MST</c> captures <c>public.tb_ord_mst</c> into
    /// <c>{topicPrefix}.public.tb_ord_mst</c>. A table written all in lower case (how PostgreSQL stores unquoted names) is
    /// its topic; one with capitals becomes a pattern (librdkafka reads a leading <c>^</c> as one) matching its topic in
    /// any case, so the source reads whatever Debezium captures for it.
    /// </summary>
    public string TableSubscription(string qualifiedTable)
    {
        var topic = TableTopic(qualifiedTable);
        var table = topic.AsSpan(TopicPrefix.Length + 1);
        if (!table.ContainsAnyInRange('A', 'Z'))
        {
            return topic;
        }

        var pattern = new System.Text.StringBuilder("^", topic.Length * 4);
        pattern.Append(TopicPrefix.Replace(".", "\\.", StringComparison.Ordinal)).Append("\\.");
        foreach (var c in table)
        {
            if (char.IsAsciiLetter(c))
            {
                pattern.Append('[').Append(char.ToLowerInvariant(c)).Append(char.ToUpperInvariant(c)).Append(']');
            }
            else if (c == '.')
            {
                pattern.Append(@"\.");
            }
            else
            {
                pattern.Append(c);
            }
        }

        return pattern.Append('$').ToString();
    }

    /// <summary>The topics the connector writes for the table list (plus heartbeat and transaction topics).</summary>
    public IReadOnlyList<string> Topics()
    {
        var topics = QualifiedTables().Select(TableSubscription).ToList();
        if (HeartbeatIntervalMs > 0)
        {
            topics.Add(string.Concat(HeartbeatTopicPrefix, ".", TopicPrefix));
        }

        if (ProvideTransactionMetadata)
        {
            topics.Add(string.Concat(TopicPrefix, ".", TransactionTopicSuffix));
        }

        return topics;
    }

    /// <summary>
    /// How the source decodes what this connector writes. <see cref="Extra"/> reaches the connector as written, so a
    /// property there that changes the records (<c>unavailable.value.placeholder</c>, <c>binary.handling.mode</c>,
    /// <c>topic.heartbeat.prefix</c>, <c>topic.transaction</c>) must change the decoding too: with Debezium's default
    /// placeholder assumed, a custom one would reach the sinks as the column's value.
    /// </summary>
    /// <exception cref="ArgumentException"><c>binary.handling.mode</c> is not one Debezium knows.</exception>
    public DebeziumDecoderOptions DecoderOptions() => new()
    {
        UnavailablePlaceholder = ExtraOr("unavailable.value.placeholder", Unavailable.DebeziumPlaceholder),
        BinaryHandlingMode = ExtraOr("binary.handling.mode", "bytes") switch
        {
            "bytes" => BinaryHandlingMode.Bytes,
            "base64" => BinaryHandlingMode.Base64,
            "base64-url-safe" => BinaryHandlingMode.Base64UrlSafe,
            "hex" => BinaryHandlingMode.Hex,
            var other => throw new ArgumentException($"binary.handling.mode '{other}' is not one Debezium knows (bytes, base64, base64-url-safe, hex)"),
        },
        HeartbeatTopicPrefix = HeartbeatTopicPrefix,
        TransactionTopicSuffix = TransactionTopicSuffix,
    };

    /// <summary>The connector's <c>topic.heartbeat.prefix</c>: Debezium's default unless <see cref="Extra"/> sets it.</summary>
    private string HeartbeatTopicPrefix => ExtraOr("topic.heartbeat.prefix", "__debezium-heartbeat");

    /// <summary>The connector's <c>topic.transaction</c>: Debezium's default unless <see cref="Extra"/> sets it.</summary>
    private string TransactionTopicSuffix => ExtraOr("topic.transaction", "transaction");

    private string ExtraOr(string property, string debeziumDefault) =>
        Extra.TryGetValue(property, out var value) && !string.IsNullOrEmpty(value) ? value : debeziumDefault;
}
