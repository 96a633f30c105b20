namespace CdcPipeline.Sinks.Redis;

public enum RedisMode
{
    /// <summary>XADD to a stream: durable, consumers read with XREAD / consumer groups at their own pace.</summary>
    Stream,

    /// <summary>
    /// PUBLISH to a channel: fire-and-forget. Redis keeps nothing — a subscriber that is offline, slow
    /// beyond its output buffer, or reconnecting misses those events for good. Use it for live
    /// notifications only, never as the only copy.
    /// </summary>
    PubSub,
}
