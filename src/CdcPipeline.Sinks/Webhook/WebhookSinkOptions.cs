using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Webhook;

/// <summary><c>webhook: { url, secret, timeout, headers, mode }</c></summary>
public sealed class WebhookSinkOptions
{
    [Required(ErrorMessage = "a webhook sink needs a url (http:// or https://)")]
    [Url(ErrorMessage = "must be an absolute http:// or https:// URL")]
    public string Url { get; set; } = "";

    /// <summary>HMAC-SHA256 key for the signature header; put it in an environment variable (<c>${HOOK_SECRET}</c>). No signature when unset.</summary>
    public string? Secret { get; set; }

    /// <summary>Per request; a time-out counts as a transient failure (retried).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00", ErrorMessage = "must be between 1 ms and 1 hour, e.g. 00:00:10")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Extra request headers (an API key, say); their values are never logged.</summary>
    public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary><c>structured</c> (default) or <c>binary</c>.</summary>
    public WebhookMode Mode { get; set; } = WebhookMode.Structured;
}
