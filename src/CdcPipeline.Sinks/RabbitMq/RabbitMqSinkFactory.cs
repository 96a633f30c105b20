using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Sinks.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Sinks.RabbitMq;

/// <summary><c>rabbitmq: { uri: "amqp://…", exchange: domain-events, exchangeType: topic, routingKey: "{type}" }</c></summary>
public sealed class RabbitMqSinkFactory : ISinkFactory
{
    public string Kind => "rabbitmq";

    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public ISink Create(PipelineComponentContext context)
    {
        var (options, routingKey) = Checked(context);
        return new RabbitMqSink(context.Name, options, routingKey, context.Services.GetService<ILogger<RabbitMqSink>>(), context.Services.GetService<Core.Pipeline.PipelineMetrics>(),
            configurationError: context.Error);
    }

    /// <summary>What <see cref="Create"/> refuses; the options and the parsed routing key.</summary>
    private static (RabbitMqSinkOptions Options, EventTemplate RoutingKey) Checked(PipelineComponentContext context)
    {
        var options = context.Bind<RabbitMqSinkOptions>();
        if (!Uri.TryCreate(options.Uri, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
        {
            // Never echo the value: it carries the password.
            throw context.Error("uri", "must be an amqp:// or amqps:// URI (amqp://user:password@host:5672/vhost)");
        }

        if (!EventTemplate.TryParse(options.RoutingKey, context.Name, out var routingKey, out var error))
        {
            throw context.Error("routingKey", error!);
        }

        return (options, routingKey);
    }
}
