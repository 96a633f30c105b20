using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Redis;

/// <summary><c>redis: { configuration, mode: stream|pubsub, stream: "domain:{type}", maxLength, channel }</c></summary>
public sealed class RedisSinkOptions
{
    /// <summary>StackExchange.Redis configuration string (<c>host:6379,password=${REDIS_PASSWORD}</c>); never logged.</summary>
    [Required(ErrorMessage = "a redis sink needs a configuration (host:port[,password=…])")]
    public string Configuration { get; set; } = "";

    public RedisMode Mode { get; set; } = RedisMode.Stream;

    /// <summary>Stream key template (stream mode): <c>{type}</c>, <c>{subject}</c>, <c>{aggregateType}</c>.</summary>
    public string Stream { get; set; } = "cdc:{type}";

    /// <summary>Trim each stream to about this many entries (XADD MAXLEN ~); unset = keep everything.</summary>
    [Range(1, long.MaxValue)]
    public long? MaxLength { get; set; }

    /// <summary>Channel template (pubsub mode).</summary>
    public string Channel { get; set; } = "cdc:{type}";
}
