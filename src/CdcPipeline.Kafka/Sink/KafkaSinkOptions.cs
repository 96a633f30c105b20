using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Kafka.Sink;

/// <summary><c>sinks[].kafka:</c> — domain topics out.</summary>
public sealed class KafkaSinkOptions
{
    [Required(ErrorMessage = "a kafka sink needs bootstrapServers (host:port[,host:port…])")]
    public string BootstrapServers { get; set; } = "";

    /// <summary>Topic name template; see <see cref="TopicTemplate"/> for the placeholders.</summary>
    [Required(ErrorMessage = "a kafka sink needs a topic (a name or a template such as 'domain.{type}')")]
    public string Topic { get; set; } = "domain.{type}";

    [RegularExpression("^(?i:json|avro)$", ErrorMessage = "must be json or avro")]
    public string Format { get; set; } = "json";

    public string? SchemaRegistryUrl { get; set; }

    /// <summary>Schema Registry client settings (<c>basic.auth.user.info</c>, <c>ssl.ca.location</c>, …), with or without the <c>schema.registry.</c> prefix; see <see cref="SchemaRegistry.SchemaRegistrySettings"/>.</summary>
    public Dictionary<string, string>? SchemaRegistry { get; set; }

    /// <summary>
    /// librdkafka producer settings, passed through untouched (TLS, SASL, linger, compression); they win over ours. <c>bootstrap.servers</c>
    /// here wins over <see cref="BootstrapServers"/> for exactly-once's pairing with the source too.
    /// </summary>
    public Dictionary<string, string>? Producer { get; set; }

    /// <summary>
    /// <c>transactional.id</c> in exactly-once mode (<c>source.kafka.exactlyOnce</c>); default
    /// <c>{pipeline}-{sink}</c>. Keep it stable across restarts of the same instance — that is what
    /// fences a zombie and aborts its open transaction.
    /// </summary>
    public string? TransactionalId { get; set; }

    /// <summary>How long a batch may take to be acknowledged by the brokers before the delivery counts as failed.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = CdcPipeline.Core.Configuration.DeadLetterOptions.DefaultDeliveryTimeout;
}
