using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Configuration;

/// <summary>One test sets a real CDC__ variable, which every configuration loaded meanwhile in this process would see: runs in
/// <see cref="EnvironmentOverrideTests"/>' collection, alone.</summary>
[Collection(nameof(EnvironmentOverrideTests))]
public class PipelineConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-config-").FullName;

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static ServiceProvider Services() => new ServiceCollection()
        .AddCdcCore()
        .AddSingleton<ISourceFactory, TestSourceFactory>()
        .AddSingleton<ITranslatorProvider, NoRules>()
        .BuildServiceProvider();

    [Fact]
    public void A_valid_file_builds_a_pipeline_with_its_sinks_and_policies()
    {
        var path = Write("""
            name: legacy-orders
            source:
              test: {}
            sinks:
              - name: audit
                file: { path: out/events.jsonl }
              - name: screen
                console: {}
                types: [OrderShipped]
                onFailure: ignore
            """);
        using var services = Services();
        var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);

        Assert.Equal(["audit", "screen"], pipeline.Sinks.Select(s => s.Name));
        Assert.Equal(Path.Combine(_dir, "out", "events.jsonl"), ((JsonLinesFileSink)pipeline.Sinks[0].Sink).Path);
        Assert.Equal(FailurePolicy.Ignore, pipeline.Sinks[1].Policy.OnFailure);
        Assert.True(pipeline.Sinks[1].Policy.Accepts("OrderShipped"));
        Assert.False(pipeline.Sinks[1].Policy.Accepts("OrderPlaced"));
    }

    [Theory]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a, colour: red }\n", "pipeline.yaml:6: sinks.0.file.colour: ", "unknown key")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n", "pipeline.yaml:5: sinks.0: no kind given", "console, file")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n    console: {}\n", "pipeline.yaml:5: sinks.0: several kinds given", "exactly one of")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    onFailure: sometimes\n    file: { path: a }\n", "pipeline.yaml:6: sinks.0.onFailure", "retry, ignore, log")]
    [InlineData("name: x\nsource:\n  nope: {}\nsinks:\n  - name: a\n    file: { path: a }\n", "pipeline.yaml:3: source.nope: unknown source kind", "test")]
    [InlineData("name: x\nsourse:\n  test: {}\n", "pipeline.yaml:2: sourse: unknown key", "expected name, source")]
    [InlineData("name: 'bad name'\nsource:\n  test: {}\n", "pipeline.yaml:1: name: ", "letters, digits")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: '${NO_SUCH_VAR}' }\n", "pipeline.yaml:6: sinks.0.file.path: environment variable 'NO_SUCH_VAR' is not set", "default")]
    [InlineData("name: x\nsource: [\n", "not valid YAML", "pipeline.yaml:")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nrunner:\n  bufferCapacity: lots\n", "pipeline.yaml:8: runner.bufferCapacity: ", "'lots' is not a valid Int32")]
    // A sink's retry: it said "sinks.0: ten is not a valid value for Int32. (Parameter 'value')" at the sink's first line.
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n    retry: { maxAttempts: ten }\n", "pipeline.yaml:7: sinks.0.retry.maxAttempts: ", "'ten' is not a valid Int32")]
    // One type where a list is expected was taken as no filter at all: every event went to the sink.
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n    types: OrderShipped\n", "pipeline.yaml:7: sinks.0.types: 'OrderShipped' is one value where a list is expected", "[OrderShipped]")]
    // A TimeSpan that does not parse said only "is not a valid TimeSpan"; the form to write is hh:mm:ss.
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n    retry: { initialDelay: 200ms }\n", "pipeline.yaml:7: sinks.0.retry.initialDelay: '200ms' is not a valid TimeSpan", "hh:mm:ss")]
    // A bare number is a count of days to TimeSpan: 'drainTimeout: 60' meant seconds, was 60 days, and made SIGTERM throw.
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nrunner:\n  drainTimeout: 60\n", "pipeline.yaml:8: runner.drainTimeout: ", "00:00:30")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nrunner:\n  drainTimeout: '-00:00:05'\n", "pipeline.yaml:8: runner.drainTimeout: ", "00:00:30")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  port: 70000\n", "pipeline.yaml:8: observability.port: ", "1 to 65535")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  port: metrics\n", "pipeline.yaml:8: observability.port: ", "'metrics' is not a valid")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  prot: 9464\n", "pipeline.yaml:8: observability.prot", "unknown")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  stallTimeout: '00:05:00'\n", "observability.port: ", "required")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  stallTimeout: '00:05:00'\n", "pipeline.yaml:7: observability", "port or otlp")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  port: 9464\n  stallTimeout: 300\n", "pipeline.yaml:9: observability.stallTimeout: ", "hh:mm:ss")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  otlp:\n    endpoint: collector:4318\n", "pipeline.yaml:9: observability.otlp.endpoint: ", "absolute http(s) URI")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  otlp:\n    endpoint: ftp://collector:4318\n", "pipeline.yaml:9: observability.otlp.endpoint: ", "absolute http(s) URI")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  otlp:\n    endpoint: http://collector:4318\n    protocol: http/json\n", "pipeline.yaml:10: observability.otlp.protocol: ", "grpc or http/protobuf")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  otlp:\n    endpont: http://collector:4318\n", "pipeline.yaml:9: observability.otlp.endpont", "unknown")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nobservability:\n  otlp:\n    interval: 10\n", "pipeline.yaml:9: observability.otlp.interval: ", "hh:mm:ss")]
    // sinks written as a map: each key was taken for a sink without a name ("sinks.screen.name: every sink needs a name").
    [InlineData("name: x\nsource:\n  test: {}\nsinks: { screen: { console: {} } }\n", "pipeline.yaml:4: sinks: a map (key 'screen') where a list is expected", "'- name: screen'")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  screen:\n    console: {}\n", "pipeline.yaml:4: sinks: a map (key 'screen') where a list is expected", "[{ name: screen, console: {} }]")]
    // ... and with numeric keys ('0:', '1:'), which the binder read as the list's indexes: it passed as a list.
    [InlineData("name: x\nsource:\n  test: {}\nsinks: { 0: { name: screen, console: {} } }\n", "pipeline.yaml:4: sinks: a map (key '0') where a list is expected", "'- name: screen'")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  0:\n    name: screen\n    console: {}\n  1:\n    name: audit\n    file: { path: a }\n", "pipeline.yaml:4: sinks: a map (key '0') where a list is expected", "[{ name: screen, console: {} }]")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n    types: { 0: OrderShipped }\n", "pipeline.yaml:7: sinks.0.types: a map (key '0') where a list is expected", "[OrderShipped]")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n    types:\n      shipped: OrderShipped\n", "pipeline.yaml:7: sinks.0.types: a map (key 'shipped') where a list is expected", "[OrderShipped]")]
    // Two file sinks on one file: both appended to it, interleaving their lines.
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: out/e.jsonl }\n  - name: b\n    file: { path: out/../out/e.jsonl }\n", "pipeline.yaml:8: sinks.1.file.path: sink 'b' would use ", "already the file of sink 'a' (sinks.0.file.path, ")]
    [InlineData("name: x\nsource:\n  test: {}\nsinks: console\n", "pipeline.yaml:4: sinks: 'console' is one value where a list is expected", "[console]")]
    // A [Range] without its own message said "The field BufferCapacity must be between 1 and 1000000.": the C# name, not the key.
    [InlineData("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\nrunner:\n  bufferCapacity: 0\n", "pipeline.yaml:8: runner.bufferCapacity: must be from 1 to 1000000, not 0", "1000000")]
    public void Bad_configuration_names_file_line_key_and_reason(string yaml, string expectedStart, string expectedDetail)
    {
        var path = Write(yaml);
        using var services = Services();
        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));
        Assert.True(error.Message.Contains(expectedStart, StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(expectedDetail, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void Observability_is_off_without_its_section_and_read_with_it()
    {
        const string Base = "name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n";
        Assert.Null(PipelineConfiguration.Load(Write(Base), _ => null).Options.Observability);
        var options = PipelineConfiguration.Load(Write(Base + "observability:\n  port: 9464\n"), _ => null).Options.Observability;
        Assert.NotNull(options);
        Assert.Equal(9464, options.Port);
        Assert.Equal(TimeSpan.FromMinutes(5), options.StallTimeout);
        Assert.Null(options.Otlp);
    }

    [Fact]
    public void Otlp_alone_is_enough_and_its_keys_are_read()
    {
        const string Base = "name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: a }\n";
        var options = PipelineConfiguration.Load(
            Write(Base + "observability:\n  otlp:\n    endpoint: http://collector:4317\n    protocol: grpc\n    interval: '00:00:15'\n"), _ => null).Options.Observability;
        Assert.NotNull(options);
        Assert.Null(options.Port);
        Assert.NotNull(options.Otlp);
        Assert.Equal("http://collector:4317", options.Otlp.Endpoint);
        Assert.Equal("grpc", options.Otlp.Protocol);
        Assert.Equal(TimeSpan.FromSeconds(15), options.Otlp.Interval);

        var defaults = PipelineConfiguration.Load(Write(Base + "observability:\n  otlp: { endpoint: 'https://collector:4318' }\n"), _ => null).Options.Observability!.Otlp!;
        Assert.Null(defaults.Protocol);
        Assert.Null(defaults.Interval);

        // Everything from the OTEL_EXPORTER_OTLP_* variables: the section alone turns the push on.
        var fromEnvironment = PipelineConfiguration.Load(Write(Base + "observability:\n  otlp: {}\n"), _ => null).Options.Observability!;
        Assert.NotNull(fromEnvironment.Otlp);
        Assert.Null(fromEnvironment.Otlp.Endpoint);
    }

    [Fact]
    public void Variables_expand_from_the_environment_and_CDC_variables_override_keys()
    {
        var path = Write("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: '${OUT_DIR:-fallback}/e.jsonl' }\n");
        var withVar = PipelineConfiguration.Load(path, v => v == "OUT_DIR" ? "/tmp/o" : null);
        Assert.Equal("/tmp/o/e.jsonl", withVar.Root["sinks:0:file:path"]);
        var withDefault = PipelineConfiguration.Load(path, _ => null);
        Assert.Equal("fallback/e.jsonl", withDefault.Root["sinks:0:file:path"]);

        Environment.SetEnvironmentVariable("CDC__name", "from-env");
        try
        {
            Assert.Equal("from-env", PipelineConfiguration.Load(path).Options.Name);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CDC__name", null);
        }
    }

    [Fact]
    public void A_variable_set_but_empty_is_named_as_empty_and_a_doubled_dollar_is_a_literal()
    {
        var path = Write("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: '${OUT_DIR}/e.jsonl' }\n");
        var error = Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(path, v => v == "OUT_DIR" ? "" : null));
        Assert.Contains("pipeline.yaml:6: sinks.0.file.path: environment variable 'OUT_DIR' is set but empty", error.Message, StringComparison.Ordinal);

        // A password or a template may hold a literal ${: written $${, as docker compose takes it.
        var literal = Write("name: x\nsource:\n  test: {}\nsinks:\n  - name: a\n    file: { path: 'out/$${OUT_DIR}-${OUT_DIR:-d}.jsonl' }\n");
        Assert.Equal("out/${OUT_DIR}-d.jsonl", PipelineConfiguration.Load(literal, _ => null).Root["sinks:0:file:path"]);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class TestSourceFactory : ISourceFactory
    {
        public string Kind => "test";

        public IChangeSource Create(PipelineComponentContext context) => new InMemoryChangeSource();
    }

    private sealed class NoRules : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => new StatusTranslator();
    }
}
