using System.Globalization;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Sinks.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Sinks.Redis;

/// <summary><c>redis: { configuration: "localhost:6379", stream: "domain:{type}", maxLength: 100000 }</c> or <c>{ …, mode: pubsub, channel: "domain:{type}" }</c></summary>
public sealed class RedisSinkFactory : ISinkFactory
{
    public string Kind => "redis";

    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public ISink Create(PipelineComponentContext context)
    {
        var (options, target) = Checked(context);
        return new RedisSink(context.Name, options, target, context.Services.GetService<ILogger<RedisSink>>(), context.Services.GetService<Core.Pipeline.PipelineMetrics>());
    }

    /// <summary>What <see cref="Create"/> refuses; the options and the parsed stream or channel.</summary>
    private static (RedisSinkOptions Options, EventTemplate Target) Checked(PipelineComponentContext context)
    {
        var options = context.Bind<RedisSinkOptions>();
        StackExchange.Redis.ConfigurationOptions parsed;
        try
        {
            parsed = StackExchange.Redis.ConfigurationOptions.Parse(options.Configuration);
        }
        catch (ArgumentException e)
        {
            throw context.Error("configuration", $"not a valid StackExchange.Redis configuration string: {e.Message}");
        }

        // A REDIS_URL-style endpoint (redis://user:password@host:6379) is no URL to StackExchange.Redis: it takes the whole text for
        // a host name, never authenticates, and names that "host", password and all, in every connection error it reports.
        var endpoints = parsed.EndPoints.Select(e => e.ToString() ?? "").ToList();
        if (endpoints.FindIndex(e => e.Contains('@', StringComparison.Ordinal)) is var withCredentials and >= 0)
        {
            throw context.Error("configuration", string.Create(CultureInfo.InvariantCulture, $"endpoint {withCredentials + 1} of {endpoints.Count} holds credentials (user:password@ before its host), ")
                + "which StackExchange.Redis does not take there: it would use them as part of the host name and print them in every connection error. "
                + "Write host:port and give the credentials as options, e.g. \"redis:6379,user=default,password=${REDIS_PASSWORD}\" (ssl=true for rediss://)");
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

        return (options, target);
    }
}
