using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CdcPipeline.Kafka.Connect;

/// <summary>
/// The few Kafka Connect REST calls operations need: <c>PUT /connectors/{name}/config</c> (create or
/// update — idempotent), <c>GET /connectors/{name}/status</c>, <c>POST /connectors/{name}/restart?includeTasks=true</c>.
/// Errors say what went wrong in the operator's terms: an unreachable Connect names the URL and what to
/// check; a 4xx/5xx carries Connect's own <c>message</c>.
/// </summary>
public sealed class KafkaConnectClient
{
    private readonly HttpClient _http;
    private readonly Uri _baseUrl;

    public KafkaConnectClient(HttpClient http, Uri baseUrl)
    {
        _http = http;
        _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
    }

    public Task<JsonNode?> PutConfigAsync(string name, JsonObject config, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, $"connectors/{Uri.EscapeDataString(name)}/config", config.ToJsonString(), cancellationToken);

    public Task<JsonNode?> GetStatusAsync(string name, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"connectors/{Uri.EscapeDataString(name)}/status", null, cancellationToken);

    public Task<JsonNode?> RestartAsync(string name, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"connectors/{Uri.EscapeDataString(name)}/restart?includeTasks=true&onlyFailed=false", null, cancellationToken);

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, string? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseUrl, path));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        request.Headers.Accept.ParseAdd("application/json");
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
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KafkaConnectException($"Kafka Connect at {_baseUrl} did not answer within {_http.Timeout.TotalSeconds:0} s: is the worker overloaded or still rebalancing?", inner: e);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return string.IsNullOrWhiteSpace(text) ? null : JsonNode.Parse(text);
            }

            var message = text;
            try
            {
                if (JsonNode.Parse(text) is JsonObject error && error["message"] is { } m)
                {
                    message = m.GetValue<string>();
                }
            }
            catch (JsonException)
            {
                // Not Connect's JSON error body (a proxy's HTML page, say): show it as it came.
            }

            var status = (int)response.StatusCode;
            var hint = response.StatusCode == HttpStatusCode.NotFound && method != HttpMethod.Put
                ? " (no such connector: run 'connector apply' first)"
                : "";
            throw new KafkaConnectException($"Kafka Connect answered {status} {response.ReasonPhrase} to {method} {path}: {message}{hint}", status);
        }
    }
}
