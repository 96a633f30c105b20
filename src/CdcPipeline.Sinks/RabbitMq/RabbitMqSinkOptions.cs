using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.RabbitMq;

/// <summary><c>rabbitmq: { uri, exchange, exchangeType, routingKey, declareExchange, maxOutstandingConfirms, connectTimeout }</c></summary>
public sealed class RabbitMqSinkOptions
{
    /// <summary>AMQP URI with credentials (<c>amqp://user:${RABBIT_PASSWORD}@host:5672/vhost</c>); never logged.</summary>
    [Required(ErrorMessage = "a rabbitmq sink needs a uri (amqp://user:password@host:5672/vhost)")]
    public string Uri { get; set; } = "";

    [Required(ErrorMessage = "a rabbitmq sink needs an exchange")]
    public string Exchange { get; set; } = "";

    /// <summary><c>topic</c> (default), <c>direct</c>, <c>fanout</c> or <c>headers</c>.</summary>
    [RegularExpression("^(topic|direct|fanout|headers)$", ErrorMessage = "must be one of: topic, direct, fanout, headers")]
    public string ExchangeType { get; set; } = "topic";

    /// <summary>Template: <c>{type}</c>, <c>{subject}</c>, <c>{aggregateType}</c>.</summary>
    public string RoutingKey { get; set; } = "{type}";

    /// <summary>Declare the exchange (durable) at start; off when the broker's owner declares it and the user may not.</summary>
    public bool DeclareExchange { get; set; } = true;

    /// <summary>Publishes awaiting their confirm at one time (within a batch).</summary>
    [Range(1, 100_000)]
    public int MaxOutstandingConfirms { get; set; } = 1000;

    /// <summary>
    /// How long connecting may take (TCP, TLS, the AMQP handshake and the first channel) before the attempt fails and is
    /// retried: longer for a slow network, shorter to notice a broker that does not answer sooner.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00", ParseLimitsInInvariantCulture = true, ConvertValueInInvariantCulture = true,
        ErrorMessage = "must be a duration from 00:00:01 to 00:10:00, written hh:mm:ss (e.g. \"00:00:30\"); a bare number is read as days")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
