using System.Net;
using System.Net.Sockets;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka;
using CdcPipeline.Kafka.Sink;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Kafka;

/// <summary>The <c>schemaRegistry:</c> settings of a Kafka source or sink reach the Schema Registry client.</summary>
public sealed class SchemaRegistrySettingsTests : IDisposable
{
    private readonly PipelineYaml _yaml = new();

    private KafkaSink CreateSink(string registrySettings, string registryUrl = "http://127.0.0.1:9", string producer = "{}") =>
        (KafkaSink)new KafkaSinkFactory().Create(SinkContext(registrySettings, registryUrl, producer));

    private PipelineComponentContext SinkContext(string registrySettings, string registryUrl, string producer = "{}") =>
        _yaml.Context($$"""
            name: t
            sinks:
              - name: domain
                kafka:
                  bootstrapServers: "127.0.0.1:9"
                  topic: "domain.{type}"
                  format: avro
                  schemaRegistryUrl: "{{registryUrl}}"
                  schemaRegistry: {{registrySettings}}
                  producer: {{producer}}
            """, "domain", "sinks:0:kafka");

    [Theory]
    [InlineData("{ basic.auth.user.info: 'cdc:hunter2' }")] // the Java clients' and Kafka Connect's spelling
    [InlineData("{ schema.registry.basic.auth.user.info: 'cdc:hunter2' }")] // the .NET client's
    [InlineData("{}", "cdc:hunter2@")] // in the URL, as the Java clients' basic.auth.credentials.source=URL reads them
    [InlineData("{ basic.auth.credentials.source: URL }", "cdc:hunter2@")]
    // Java's SASL_INHERIT: the Kafka client's own SASL credentials, given under producer: (consumer: for a source)
    [InlineData("{ basic.auth.credentials.source: SASL_INHERIT }", "", "{ security.protocol: SASL_SSL, sasl.mechanism: PLAIN, sasl.username: cdc, sasl.password: hunter2 }")]
    public async Task Basic_auth_credentials_reach_the_registry_in_either_spelling(string settings, string userInfo = "", string producer = "{}")
    {
        // A registry on the loopback that records what it is sent and answers "schema not found".
        var port = FreePort();
        using var registry = new HttpListener();
        registry.Prefixes.Add($"http://127.0.0.1:{port}/");
        registry.Start();
        var seen = Task.Run(async () =>
        {
            var context = await registry.GetContextAsync();
            var authorization = context.Request.Headers["Authorization"];
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
            await context.Response.OutputStream.WriteAsync("""{"error_code":40403,"message":"Schema 1 not found"}"""u8.ToArray());
            context.Response.Close();
            return authorization;
        });

        await using var sink = CreateSink(settings, $"http://{userInfo}127.0.0.1:{port}", producer);
        await Assert.ThrowsAsync<Confluent.SchemaRegistry.SchemaRegistryException>(() => sink.SchemaRegistry!.GetSchemaAsync(1));

        Assert.Equal("Basic " + Convert.ToBase64String("cdc:hunter2"u8.ToArray()), await seen.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Max_retries_0_makes_one_attempt_instead_of_none()
    {
        // The .NET client makes max.retries attempts: with 0 it sent no request at all and every look-up failed with a
        // NullReferenceException, which the source took for an unreachable registry and waited on forever.
        var port = FreePort();
        using var registry = new HttpListener();
        registry.Prefixes.Add($"http://127.0.0.1:{port}/");
        registry.Start();
        var requests = 0;
        _ = Task.Run(
            async () =>
            {
                // Answers every request until the listener is closed.
                while (registry.IsListening)
                {
                    var context = await registry.GetContextAsync();
                    Interlocked.Increment(ref requests);
                    context.Response.StatusCode = 404;
                    context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
                    await context.Response.OutputStream.WriteAsync("""{"error_code":40403,"message":"Schema 1 not found"}"""u8.ToArray());
                    context.Response.Close();
                }
            },
            TestContext.Current.CancellationToken);

        await using var sink = CreateSink("{ max.retries: 0 }", $"http://127.0.0.1:{port}");
        var error = await Assert.ThrowsAsync<Confluent.SchemaRegistry.SchemaRegistryException>(() => sink.SchemaRegistry!.GetSchemaAsync(1));
        Assert.Equal(40403, error.ErrorCode);
        Assert.Equal(1, Volatile.Read(ref requests));
    }

    [Theory]
    [InlineData("{ auto.register.schemas: false }", false, false)] // the Java serializer's and Kafka Connect's spelling
    [InlineData("{ auto.register.schemas: false, use.latest.version: true }", false, true)]
    [InlineData("{ avro.serializer.auto.register.schemas: false }", false, false)] // the .NET serializer's
    [InlineData("{ basic.auth.user.info: 'cdc:hunter2' }", true, false)] // Confluent's default: register
    public async Task An_avro_sink_can_look_its_schema_up_instead_of_registering_it(string settings, bool autoRegister, bool useLatest)
    {
        // Registries where CI registers the schemas and producers may only read refuse every registration (40301).
        await using var sink = CreateSink(settings);
        var serializer = sink.AvroSerializer;
        Assert.Equal(autoRegister, serializer.AutoRegisterSchemas);
        Assert.Equal(useLatest, serializer.UseLatestVersion ?? false);
    }

    [Theory]
    [InlineData("{ use.latest.version: true }", "needs auto.register.schemas: false")]
    [InlineData("{ auto.register.schemas: nope }", "must be true or false, not 'nope'")]
    public void Avro_serializer_settings_that_cannot_work_name_their_line(string settings, string why)
    {
        var error = Assert.Throws<ConfigurationException>(() => CreateSink(settings));
        Assert.Contains("pipeline.yaml:9: sinks.0.kafka.schemaRegistry", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_negative_max_retries_names_its_line()
    {
        var error = Assert.Throws<ConfigurationException>(() => CreateSink("{ max.retries: -1 }"));
        Assert.Contains("pipeline.yaml:9: sinks.0.kafka.schemaRegistry: max.retries", error.Message, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [Fact]
    public void A_setting_the_registry_client_does_not_know_names_its_key_and_is_never_ignored()
    {
        var error = Assert.Throws<ConfigurationException>(() => CreateSink("{ basic.auth.user.inf: 'cdc:hunter2' }"));
        Assert.Contains("pipeline.yaml:9: sinks.0.kafka.schemaRegistry", error.Message, StringComparison.Ordinal);
        Assert.Contains("basic.auth.user.inf", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SASL_INHERIT_without_the_kafka_clients_sasl_credentials_says_where_they_belong()
    {
        var error = Assert.Throws<ConfigurationException>(() => CreateSink("{ basic.auth.credentials.source: SASL_INHERIT }", producer: "{ sasl.username: cdc }"));
        Assert.Contains("pipeline.yaml:9: sinks.0.kafka.schemaRegistry", error.Message, StringComparison.Ordinal);
        Assert.Contains("producer: has no sasl.password", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Credentials_in_the_registry_url_never_reach_an_error_message()
    {
        // Nothing listens: the client's error names the URL it tried, and that goes into the log and the dead letter.
        await using var sink = CreateSink("{}", $"http://cdc:hunter2@127.0.0.1:{FreePort()}");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => sink.SchemaRegistry!.GetSchemaAsync(1));
        Assert.Contains("127.0.0.1", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cdc:hun#ter2")]
    [InlineData("cdc:hun/ter2")]
    [InlineData("cdc:hun?ter2")]
    public void A_registry_url_with_a_password_it_cannot_carry_unescaped_stops_start_up_at_its_line(string userInfo)
    {
        // A generated password with '#', '/' or '?' breaks the URL apart: the registry client threw UriFormatException
        // ("Invalid URI: Invalid port specified") out of start-up, with a stack trace and no word of which setting.
        var error = Assert.Throws<ConfigurationException>(() => CreateSink("{}", $"http://{userInfo}@127.0.0.1:9"));

        Assert.Contains("pipeline.yaml:8: sinks.0.kafka.schemaRegistryUrl: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("%23", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ter2", error.Message, StringComparison.Ordinal);

        // What the pipeline runs for every sink before it builds any finds it too (the registry client's own check).
        var validated = Assert.Throws<ConfigurationException>(() => new KafkaSinkFactory().Validate(SinkContext("{}", $"http://{userInfo}@127.0.0.1:9")));
        Assert.Equal(error.Message, validated.Message);
    }

    public void Dispose() => _yaml.Dispose();
}
