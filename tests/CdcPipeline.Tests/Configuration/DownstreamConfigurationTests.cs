using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Postgres.Outbox;
using CdcPipeline.Sinks.Batch;
using CdcPipeline.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Configuration;

/// <summary>The outbox, polling relay and batch sink as configured in the pipeline's YAML.</summary>
public sealed class DownstreamConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-downstream-config-").FullName;
    private readonly RecordingSink _recording = new("rec");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Outbox_routing_combines_with_the_configured_translator()
    {
        var path = Write("""
            name: shop
            source:
              test: {}
            outbox:
              table: public.outbox
              additionalPlacement: [ "tenant:header" ]
            sinks:
              - name: rec
                recording: {}
            """);
        using var services = Services();
        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);
        var source = (InMemoryChangeSource)pipeline.Source;
        source.Add(new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Create,
            Source = new SourceInfo { Schema = "public", Table = "outbox" },
            Position = new SourcePosition("slot", 1),
            After = Row.From(("id", "11111111-2222-4333-8444-555555555555"), ("aggregatetype", "Order"), ("aggregateid", "7"), ("type", "OrderPlaced"), ("payload", new RawJson("{\"n\":1}")), ("tenant", "acme")),
        });
        source.Add(InMemoryChangeSource.Change(2, "7", "S"));
        source.Complete();

        await pipeline.Runner.RunAsync(Ct);

        Assert.Collection(
            _recording.Delivered,
            e =>
            {
                Assert.Equal("11111111-2222-4333-8444-555555555555", e.Id);
                Assert.Equal("OrderPlaced", e.Type);
                Assert.Equal("acme", e.Extensions!["tenant"]);
            },
            e => Assert.Equal("StatusS", e.Type)); // the other translator still sees every other table
    }

    [Theory]
    [InlineData("outbox:\n  fields: { idd: x }\n", "pipeline.yaml:", "idd")]
    [InlineData("outbox:\n  additionalPlacement: [ 'tenant:envelope' ]\n", "outbox.additionalPlacement", "header")]
    [InlineData("outbox:\n  invalidOperation: explode\n", "outbox.invalidOperation", "warn or error")]
    public void Bad_outbox_configuration_names_the_key(string outboxYaml, string expectedKey, string expectedDetail)
    {
        var path = Write("name: shop\nsource:\n  test: {}\n" + outboxYaml + "sinks:\n  - name: rec\n    recording: {}\n");
        using var services = Services();
        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));
        Assert.True(error.Message.Contains(expectedKey, StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(expectedDetail, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public async Task A_batch_sink_and_an_outbox_polling_source_are_built_from_their_sections()
    {
        var path = Write("""
            name: shop
            source:
              outboxPolling:
                connectionString: "Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d"
                table: sales.outbox
                interval: 00:00:02
                batchSize: 100
            sinks:
              - name: export
                batch:
                  interval: 00:15:00
                  spool: out/spool
                  archive: out/archive
                  target: { directory: out/outgoing }
            """);
        using var services = Services();
        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);

        var relay = Assert.IsType<OutboxPollingSource>(pipeline.Source);
        Assert.Equal("outbox-polling:sales.outbox", relay.Stream);
        var store = Assert.IsType<BatchSink>(pipeline.Sinks[0].Sink).Store;
        Assert.Equal(TimeSpan.FromMinutes(15), store.Interval);
        Assert.Equal(Path.Combine(_dir, "out", "spool"), store.SpoolDirectory);
        Assert.Equal(Path.Combine(_dir, "out", "archive"), store.ArchiveDirectory);
        Assert.Equal("directory " + Path.Combine(_dir, "out", "outgoing"), store.Target.Description);
    }

    [Theory]
    [InlineData("    batch: { interval: '01:00:00' }\n", "sinks.0.batch.target", "needs a target")]
    [InlineData("    batch: { interval: '00:07:00', target: { directory: x } }\n", "sinks.0.batch.interval", "divide a day")]
    public void Bad_batch_configuration_names_the_key(string sinkYaml, string expectedKey, string expectedDetail)
    {
        var path = Write("name: shop\nsource:\n  test: {}\nsinks:\n  - name: export\n" + sinkYaml);
        using var services = Services();
        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));
        Assert.True(error.Message.Contains(expectedKey, StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(expectedDetail, StringComparison.Ordinal), error.Message);
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
    }

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private ServiceProvider Services() => new ServiceCollection()
        .AddCdcCore()
        .AddCdcBatch()
        .AddCdcOutboxPolling()
        .AddSingleton<ISourceFactory, TestSourceFactory>()
        .AddSingleton<ISinkFactory>(new RecordingSinkFactory(_recording))
        .AddSingleton<ITranslatorProvider, StatusRules>()
        .BuildServiceProvider();

    private sealed class TestSourceFactory : ISourceFactory
    {
        public string Kind => "test";

        public IChangeSource Create(PipelineComponentContext context) => new InMemoryChangeSource();
    }

    private sealed class RecordingSinkFactory(RecordingSink sink) : ISinkFactory
    {
        public string Kind => "recording";

        public ISink Create(PipelineComponentContext context) => sink;
    }

    private sealed class StatusRules : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => new StatusTranslator();
    }
}
