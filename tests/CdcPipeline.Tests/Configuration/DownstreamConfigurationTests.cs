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
    [InlineData("Outbox")]
    [InlineData("outbox")]
    [InlineData("Public.Outbox")]
    public async Task Outbox_routing_matches_the_table_however_outbox_table_spells_it(string spelling)
    {
        // PostgreSQL folds an unquoted name: Outbox is the table outbox, which is the name the WAL (and the relay) carries.
        var path = Write($"name: shop\nsource:\n  test: {{}}\noutbox:\n  table: {spelling}\nsinks:\n  - name: rec\n    recording: {{}}\n");
        using var services = Services();
        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);
        var source = (InMemoryChangeSource)pipeline.Source;
        source.Add(new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Create,
            Source = new SourceInfo { Schema = "public", Table = "outbox" },
            Position = new SourcePosition("slot", 1),
            After = Row.From(("id", "11111111-2222-4333-8444-555555555555"), ("aggregatetype", "Order"), ("aggregateid", "7"), ("type", "OrderPlaced"), ("payload", new RawJson("{}"))),
        });
        source.Complete();

        await pipeline.Runner.RunAsync(Ct);

        var e = Assert.Single(_recording.Delivered);
        Assert.Equal("OrderPlaced", e.Type);
        Assert.Equal("/cdcpipeline/shop/public.outbox", e.Source);
    }

    [Theory]
    [InlineData("events.outbox", "outbox")]
    [InlineData("outbox", "sales.outbox")]
    [InlineData("public.outbox", "public.outbox_v2")]
    public void An_outbox_table_that_is_not_the_polling_relays_table_is_refused_naming_both_keys(string outboxTable, string relayTable)
    {
        // The relay yields nothing but its own table: an outbox: naming another one would pass every relayed row on as a raw change.
        var path = Write($"""
            name: shop
            source:
              outboxPolling:
                connectionString: "Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d"
                table: {relayTable}
            outbox:
              table: {outboxTable}
            sinks:
              - name: rec
                recording: {"{}"}
            """);
        using var services = Services();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Equal("outbox:table", error.Key);
        Assert.True(error.Message.Contains("pipeline.yaml:7:", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains("source.outboxPolling.table", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains("pipeline.yaml:5", StringComparison.Ordinal), error.Message);
    }

    [Theory]
    [InlineData("Outbox", "public.outbox")]
    [InlineData("PUBLIC.OUTBOX", "outbox")]
    public async Task An_outbox_table_spelled_otherwise_than_the_polling_relays_table_is_accepted(string outboxTable, string relayTable)
    {
        var path = Write($"""
            name: shop
            source:
              outboxPolling:
                connectionString: "Host=127.0.0.1;Port=1;Username=u;Password=p;Database=d"
                table: {relayTable}
            outbox:
              table: {outboxTable}
            sinks:
              - name: rec
                recording: {"{}"}
            """);
        using var services = Services();
        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);
        Assert.IsType<OutboxPollingSource>(pipeline.Source);
    }

    [Theory]
    [InlineData("outbox:\n  fields: { idd: x }\n", "pipeline.yaml:", "idd")]
    [InlineData("outbox:\n  additionalPlacement: [ 'tenant:envelope' ]\n", "outbox.additionalPlacement", "header")]
    [InlineData("outbox:\n  invalidOperation: explode\n", "outbox.invalidOperation", "warn or error")]
    [InlineData("outbox:\n  table: 'public.\"Outbox\"'\n", "outbox.table", "[schema.]table")]
    [InlineData("outbox:\n  table: my-outbox\n", "outbox.table", "[schema.]table")]
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

    [Theory]
    [InlineData("batch: { target: { directory: out/a } }", "batch: { target: { directory: out/b } }", " (the default)")]
    [InlineData("batch: { spool: out/spool, target: { directory: out/a } }", "batch: { spool: ./out/x/../spool/, target: { directory: out/b } }", "")]
    [InlineData("batch: { spool: out/spool, target: { directory: out/a } }", "batch: { spool: '{dir}/out/spool', target: { directory: out/b } }", "")]
    public void Two_batch_sinks_with_one_spool_directory_are_refused_naming_both(string first, string second, string defaultNote)
    {
        var path = Write($"name: shop\nsource:\n  test: {{}}\nsinks:\n  - name: export\n    {first}\n  - name: export-eu\n    {second.Replace("{dir}", _dir, StringComparison.Ordinal)}\n");
        using var services = Services();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        // The second sink's key and line, the first sink by name and key, the resolved directory, and what to do.
        Assert.StartsWith($"{path}:8: sinks.1.batch.spool: ", error.Message, StringComparison.Ordinal);
        Assert.Equal("sinks:1:batch:spool", error.Key);
        Assert.Contains("sink 'export-eu'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"sink 'export' (sinks.0.batch.spool, {path}:6)", error.Message, StringComparison.Ordinal);
        var directory = defaultNote.Length > 0 ? Path.Combine(_dir, "out", "batch", "spool") : Path.Combine(_dir, "out", "spool");
        Assert.Contains($"{directory}{defaultNote} as its spool directory", error.Message, StringComparison.Ordinal);
        Assert.Contains("its own spool directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Batch_sinks_with_their_own_spools_may_share_the_archive()
    {
        // Batch ids within one pipeline differ by sink name, so archived files cannot collide.
        var path = Write("""
            name: shop
            source:
              test: {}
            sinks:
              - name: export
                batch: { spool: out/export/spool, target: { directory: out/a } }
              - name: export-eu
                batch: { spool: out/export-eu/spool, target: { directory: out/b } }
            """);
        using var services = Services();
        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);

        Assert.Equal(
            Assert.IsType<BatchSink>(pipeline.Sinks[0].Sink).Store.ArchiveDirectory,
            Assert.IsType<BatchSink>(pipeline.Sinks[1].Sink).Store.ArchiveDirectory);
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
