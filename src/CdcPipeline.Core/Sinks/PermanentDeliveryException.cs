using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// A sink's verdict that an event can never be delivered (a webhook's 4xx, a message the broker
/// rejects as too large): retrying is pointless, so it goes straight to the dead-letter destination.
/// Any other exception from a sink counts as possibly transient and is retried per the sink's policy.
/// </summary>
public sealed class PermanentDeliveryException : Exception
{
    public PermanentDeliveryException(DomainEvent domainEvent, string message, Exception? inner = null)
        : base(message, inner)
    {
        Event = domainEvent;
    }

    public DomainEvent Event { get; }
}
