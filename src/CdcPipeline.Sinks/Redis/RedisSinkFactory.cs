using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Sinks.Routing;

namespace CdcPipeline.Sinks.Redis;

/// <summary><c>redis: { configuration: "localhost:6379", stream: "domain:{type}", maxLength: 100000 }</c> or <c>{ …, mode: pubsub, channel: "domain:{type}" }</c></summary>
public sealed class RedisSinkFactory : ISinkFactory
{
    public string Kind => "redis";

    public ISink Create(PipelineComponentContext context)
    {
        var options = context.Bind<RedisSinkOptions>();
        try
        {
            StackExchange.Redis.ConfigurationOptions.Parse(options.Configuration);
        }
        catch (ArgumentException e)
        {
            throw context.Error("configuration", $"not a valid StackExchange.Redis configuration string: {e.Message}");
        }

        var key = options.Mode == RedisMode.Stream ? "stream" : "channel";
        if (!EventTemplate.TryParse(options.Mode == RedisMode.Stream ? options.Stream : options.Channel, context.Name, out var target, out var error))
        {
            throw context.Error(key, error!);
        }

        if (options.Mode == RedisMode.PubSub && options.MaxLength is not null)
        {
            throw context.Error("maxLength", "applies to streams only; remove it or use mode: stream");
        }

        return new RedisSink(context.Name, options, target);
    }
}
