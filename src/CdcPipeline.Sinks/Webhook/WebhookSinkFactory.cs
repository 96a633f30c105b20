using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Sinks.Webhook;

/// <summary><c>webhook: { url: https://…, secret: "${HOOK_SECRET}", timeout: 00:00:10, headers: {…}, mode: structured|binary }</c></summary>
public sealed class WebhookSinkFactory : ISinkFactory
{
    /// <summary>The <see cref="IHttpClientFactory"/> client name (configure handlers, proxies, certificates on it).</summary>
    public const string HttpClientName = "cdc-webhook";

    public string Kind => "webhook";

    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public ISink Create(PipelineComponentContext context)
    {
        var options = Checked(context);
        var http = context.Services.GetService<IHttpClientFactory>()?.CreateClient(HttpClientName) ?? new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        return new WebhookSink(context.Name, http, options, context.Services.GetService<TimeProvider>());
    }

    /// <summary>What <see cref="Create"/> refuses; the options.</summary>
    private static WebhookSinkOptions Checked(PipelineComponentContext context)
    {
        var options = context.Bind<WebhookSinkOptions>();
        if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw context.Error("url", "must be an absolute http:// or https:// URL");
        }

        return options;
    }
}
