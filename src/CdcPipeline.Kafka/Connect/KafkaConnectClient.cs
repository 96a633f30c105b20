using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly;
using Polly.Retry;
using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Kafka.Connect;

/// <summary>
/// The few Kafka Connect REST calls operations need: <c>PUT /connectors/{name}/config</c> (create or
/// update — idempotent), <c>GET /connectors/{name}/status</c>, <c>POST /connectors/{name}/restart?includeTasks=true</c>.
/// Errors say what went wrong in the operator's terms: an unreachable Connect names the URL and what to
/// check; a 4xx/5xx carries Connect's own <c>message</c>. A 409 is Connect's "the worker group is
/// rebalancing, the request was not carried out": it is asked again, with a growing pause, a few times.
/// Credentials in the URL (<c>https://user:password@connect:8083</c>, as curl takes them) are sent as HTTP
/// basic auth, for a worker with Connect's BasicAuthSecurityRestExtension, and never shown in a message.
/// </summary>
public sealed class KafkaConnectClient
{
    private static readonly TimeSpan MaxConflictBackoff = TimeSpan.FromSeconds(5);

    private readonly HttpClient _http;
    private readonly Uri _baseUrl;
    private readonly AuthenticationHeaderValue? _authorization;
    private readonly int _conflictAttempts;
    private readonly ResiliencePipeline<(HttpStatusCode Status, string? Reason, string Text)> _conflictRetry;

    /// <param name="conflictBackoff">The first pause after a 409 (default 1 s); it doubles up to 5 s.</param>
    /// <param name="conflictAttempts">How often a request is sent while Connect answers 409 (default 10, about 40 s).</param>
    public KafkaConnectClient(HttpClient http, Uri baseUrl, TimeSpan? conflictBackoff = null, int conflictAttempts = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(conflictAttempts, 1);
        _http = http;
        _conflictAttempts = conflictAttempts;

        // Connect's answer while its worker group rebalances (on every worker start and after every connector change):
        // the request was not carried out and will succeed once the group has a leader again.
        _conflictRetry = new ResiliencePipelineBuilder<(HttpStatusCode Status, string? Reason, string Text)>()
            .AddRetry(new RetryStrategyOptions<(HttpStatusCode Status, string? Reason, string Text)>
            {
                ShouldHandle = new PredicateBuilder<(HttpStatusCode Status, string? Reason, string Text)>().HandleResult(answer => answer.Status == HttpStatusCode.Conflict),
                MaxRetryAttempts = conflictAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = conflictBackoff ?? TimeSpan.FromSeconds(1),
                MaxDelay = MaxConflictBackoff,
            })
            .Build();
        (baseUrl, var userInfo) = UrlCredentials.Split(baseUrl);
        _authorization = UrlCredentials.BasicAuthorization(userInfo);

        _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
    }

    public Task<JsonNode?> PutConfigAsync(string name, JsonObject config, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, $"connectors/{Uri.EscapeDataString(name)}/config", config.ToJsonString(), cancellationToken);

    public Task<JsonNode?> GetStatusAsync(string name, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"connectors/{Uri.EscapeDataString(name)}/status", null, cancellationToken);

    /// <summary>
    /// Restarts the connector and all its tasks; answers Connect's view of them. A worker since KIP-745 (Kafka 3.0) does
    /// that in one call and answers 202 with the states it restarts. One from before ignores <c>includeTasks</c>, restarts
    /// only the Connector object and answers 204 without a body, leaving a FAILED task FAILED: then each task is restarted
    /// by its own call (<c>POST /connectors/{name}/tasks/{id}/restart</c>), and the answer is the status after that.
    /// </summary>
    public async Task<JsonNode?> RestartAsync(string name, CancellationToken cancellationToken)
    {
        var connector = Uri.EscapeDataString(name);
        var restarting = await SendAsync(HttpMethod.Post, $"connectors/{connector}/restart?includeTasks=true&onlyFailed=false", null, cancellationToken).ConfigureAwait(false);
        if (restarting is not null)
        {
            return restarting;
        }

        if ((await GetStatusAsync(name, cancellationToken).ConfigureAwait(false))?["tasks"] is JsonArray tasks)
        {
            foreach (var task in tasks)
            {
                if (task?["id"] is JsonValue id && id.TryGetValue<int>(out var taskId))
                {
                    await SendAsync(HttpMethod.Post, $"connectors/{connector}/tasks/{taskId.ToString(CultureInfo.InvariantCulture)}/restart", null, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        return await GetStatusAsync(name, cancellationToken).ConfigureAwait(false);
    }

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, string? body, CancellationToken cancellationToken)
    {
        var sent = 0;
        var (status, reason, text) = await _conflictRetry.ExecuteAsync(
            async ct =>
            {
                sent++;
                return await SendOnceAsync(method, path, body, ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        if ((int)status is >= 200 and < 300)
        {
            try
            {
                return string.IsNullOrWhiteSpace(text) ? null : JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                var shown = text.Length > 200 ? text[..200] + "…" : text;
                throw new KafkaConnectException(
                    $"Kafka Connect at {_baseUrl} answered {(int)status} to {method} {path} with something that is not JSON ({shown}): is --connect-url Connect's REST port, "
                    + "not a proxy's or another service's?", (int)status);
            }
        }

        if (status == HttpStatusCode.Conflict && sent < _conflictAttempts)
        {
            // Attempts were left: Polly hands back the 409 instead of pausing once the command was cancelled.
            cancellationToken.ThrowIfCancellationRequested();
        }

        var hint = status switch
        {
            HttpStatusCode.NotFound when method != HttpMethod.Put => " (no such connector: run 'connector apply' first)",
            HttpStatusCode.Conflict => $" (asked {sent} times: the worker group is still rebalancing; check that every Connect worker is up (docker compose logs connect), then run the command again)",
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden when _authorization is null => " (give the credentials in --connect-url, e.g. https://user:password@connect:8083)",
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => " (the credentials in --connect-url were refused)",
            _ => "",
        };
        throw new KafkaConnectException($"Kafka Connect answered {(int)status} {reason} to {method} {path}: {ErrorMessage(text)}{hint}", (int)status);
    }

    private async Task<(HttpStatusCode Status, string? Reason, string Text)> SendOnceAsync(HttpMethod method, string path, string? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseUrl, path));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Authorization = _authorization;
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException socket)
        {
            throw new KafkaConnectException(
                $"Kafka Connect is not reachable at {_baseUrl} ({socket.SocketErrorCode}): check that the Connect worker is running "
                + "(docker compose ps connect; docker compose logs connect), that it finished starting (it takes a minute), and that the URL's host and port are right (default http://localhost:8083).",
                inner: e);
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException tls)
        {
            throw new KafkaConnectException(
                $"Kafka Connect at {_baseUrl} could not be reached over TLS ({tls.Message}): check that the worker's REST listener speaks https on that port "
                + "(its listeners setting, e.g. https://0.0.0.0:8443), and that this machine trusts its certificate (its CA in the system trust store, or SSL_CERT_FILE).",
                inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new KafkaConnectException($"Kafka Connect at {_baseUrl} could not be reached: {e.Message}", inner: e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KafkaConnectException($"Kafka Connect at {_baseUrl} did not answer within {_http.Timeout.TotalSeconds:0} s: is the worker overloaded or still rebalancing?", inner: e);
        }

        using (response)
        {
            return (response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>Connect's own <c>message</c> from its error body (<c>{"error_code":…,"message":…}</c>), else the body as it came.</summary>
    private static string ErrorMessage(string text)
    {
        try
        {
            if (JsonNode.Parse(text) is JsonObject error && error["message"] is JsonValue message && message.TryGetValue<string>(out var m))
            {
                return m;
            }
        }
        catch (JsonException)
        {
            // Not Connect's JSON error body (a proxy's HTML page, say): show it as it came.
        }

        return text;
    }
}
