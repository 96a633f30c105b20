using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Kafka.Connect;
using CdcPipeline.Kafka.Source;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>connector render|apply|status|restart</c>: Debezium's connector configuration built from the
/// pipeline configuration (<c>source.kafka.debezium</c>: one table list, one place), and Kafka Connect's
/// REST API to create/update, inspect and restart it.
/// </summary>
internal static class ConnectorCommand
{
    public static Command Create()
    {
        var command = new Command("connector", "Debezium connector: render its config from the pipeline config; apply, status, restart via Kafka Connect's REST API.");
        command.Subcommands.Add(Render());
        command.Subcommands.Add(Remote("apply", "Create or update the connector (PUT /connectors/{name}/config).", (c, name, config, ct) => c.PutConfigAsync(name, config!, ct), needsConfig: true));
        command.Subcommands.Add(Remote("status", "Show the connector's and its tasks' state.", (c, name, _, ct) => c.GetStatusAsync(name, ct), needsConfig: false));
        command.Subcommands.Add(Remote("restart", "Restart the connector and its tasks.", (c, name, _, ct) => c.RestartAsync(name, ct), needsConfig: false));
        return command;
    }

    private static Option<FileInfo> ConfigOption(bool required) => new("--config") { Description = "the pipeline YAML (source.kafka.debezium describes the connector)", Required = required };

    /// <summary>The key of the <see cref="ConfigurationException"/> for a --format that is neither avro nor json: a usage error.</summary>
    private const string FormatKey = "--format";

    private static Option<string> FormatOption() => new("--format") { Description = "avro | json (default: source.kafka.format)" };

    private static Command Render()
    {
        var config = ConfigOption(required: true);
        var format = FormatOption();
        var command = new Command("render", "Print the connector configuration JSON (the body of PUT /connectors/{name}/config; a literal secret shows as [hidden]).") { config, format };
        command.SetAction(async (parse, _) =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            try
            {
                var (_, json) = Build(parse.GetValue(config)!, parse.GetValue(format));

                // The output goes to terminals, CI logs and files in the repository (connector-config/*.json): a literal secret
                // (a password, or ${VAR} that the pipeline config expanded to one) is not printed. apply sends it as it is.
                var shown = (JsonObject)ConnectorSecrets.Redact(json)!;
                await output.WriteLineAsync(shown.ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
                var hidden = json.Where(p => !JsonNode.DeepEquals(p.Value, shown[p.Key])).Select(p => p.Key).ToList();
                if (hidden.Count > 0)
                {
                    await error.WriteLineAsync($"connector render: {string.Join(", ", hidden)}: a literal secret, printed as {ConnectorSecrets.Hidden} ('connector apply' sends the value itself). "
                        + "Write it as a reference Connect resolves, ${env:VAR} or ${file:PATH:KEY}, so that neither this output nor Connect's config topic carries it.").ConfigureAwait(false);
                }

                return 0;
            }
            catch (ConfigurationException e) when (e.Key == FormatKey)
            {
                return await ExpectedFailure.UsageAsync(parse, $"connector render: {e.Message}").ConfigureAwait(false);
            }
            catch (ConfigurationException e)
            {
                await error.WriteLineAsync($"connector render: {e.Message}").ConfigureAwait(false);
                return 2;
            }
        });
        return command;
    }

    private static Command Remote(string name, string description, Func<KafkaConnectClient, string, JsonObject?, CancellationToken, Task<JsonNode?>> call, bool needsConfig)
    {
        var config = ConfigOption(required: needsConfig);
        var format = FormatOption();
        var url = new Option<string>("--connect-url") { Description = "Kafka Connect's REST URL; credentials in it (https://user:password@host:8083) are sent as HTTP basic auth", DefaultValueFactory = _ => "http://localhost:8083" };
        var connector = new Option<string>("--name") { Description = "connector name (default: source.kafka.debezium.connectorName, else the pipeline name)" };
        var command = new Command(name, description) { config, format, url, connector };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            try
            {
                string? connectorName = parse.GetValue(connector);
                JsonObject? body = null;
                if (parse.GetValue(config) is { } file)
                {
                    (var derived, body) = Build(file, parse.GetValue(format));
                    connectorName ??= derived;
                }

                if (connectorName is null)
                {
                    return await ExpectedFailure.UsageAsync(parse, $"connector {name}: give --name or --config").ConfigureAwait(false);
                }

                if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
                {
                    return await ExpectedFailure.UsageAsync(parse, $"connector {name}: --connect-url '{UrlCredentials.Hide(parse.GetValue(url) ?? "")}' is not an http(s) URL, e.g. http://localhost:8083 "
                        + "(credentials go before the host, https://user:password@connect:8083, with '#', '/', '?' and '@' in the password written as %23, %2F, %3F and %40)").ConfigureAwait(false);
                }

                // Connect holds a request up to 90 s (its REST request timeout) while the connector validates its config, which for
                // Debezium means connecting to the database: a client giving up sooner reports a failure that may still succeed.
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(100) };
                var result = await call(new KafkaConnectClient(http, baseUrl), connectorName, body, cancellationToken).ConfigureAwait(false);
                // apply's answer is the config as Connect stored it: a literal password would come back with it.
                await output.WriteLineAsync(ConnectorSecrets.Redact(result)?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? $"{name}: ok").ConfigureAwait(false);
                if (name == "status" && ConnectorStatus.Failures(result) is { Count: > 0 } failures)
                {
                    // Scripts and health checks read the exit code: a FAILED connector or task is not "ok".
                    foreach (var failure in failures)
                    {
                        await error.WriteLineAsync($"connector {connectorName}: {failure}").ConfigureAwait(false);
                    }

                    await error.WriteLineAsync($"Fix the cause (docker compose logs connect shows the whole trace), then: cdcpipeline connector restart --name {connectorName}, with the same --connect-url").ConfigureAwait(false);
                    return 1;
                }

                return 0;
            }
            catch (ConfigurationException e) when (e.Key == FormatKey)
            {
                return await ExpectedFailure.UsageAsync(parse, $"connector {name}: {e.Message}").ConfigureAwait(false);
            }
            catch (ConfigurationException e)
            {
                await error.WriteLineAsync($"connector {name}: {e.Message}").ConfigureAwait(false);
                return 2;
            }
            catch (KafkaConnectException e)
            {
                await error.WriteLineAsync($"connector {name}: {e.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }

    /// <summary>The connector name and configuration from a pipeline file.</summary>
    internal static (string Name, JsonObject Config) Build(FileInfo file, string? format)
    {
        var configuration = PipelineConfiguration.Load(file.FullName);
        var section = configuration.Root.GetSection("source:kafka");
        if (!section.Exists())
        {
            throw new ConfigurationException("source:kafka", "connector commands need a kafka source with a debezium: section", configuration.Locations);
        }

        var source = ConfigBinding.Bind<KafkaSourceOptions>(section, configuration.Locations);
        if (source.Debezium is null)
        {
            throw new ConfigurationException("source:kafka:debezium", "describe the connector here (topicPrefix, tables, database, slot, publication)", configuration.Locations);
        }

        ConfigBinding.Validate(source.Debezium, "source:kafka:debezium", configuration.Locations);
        var chosen = format ?? source.Format;
        if (chosen is not ("avro" or "json"))
        {
            // the option is a usage error (see ExpectedFailure.UsageAsync); the file's value is named with its line
            throw new ConfigurationException(format is null ? "source:kafka:format" : FormatKey, $"'{chosen}': use avro or json", configuration.Locations);
        }

        return (source.Debezium.ConnectorNameOr(configuration.Options.Name), ConnectorRenderer.Render(source.Debezium, chosen));
    }
}
