namespace CdcPipeline.Sinks.Webhook;

/// <summary>The CloudEvents HTTP binding's content modes.</summary>
public enum WebhookMode
{
    /// <summary><c>Content-Type: application/cloudevents+json</c>, the whole event as the body.</summary>
    Structured,

    /// <summary>Attributes as <c>ce-*</c> headers, the event's data as the body.</summary>
    Binary,
}
