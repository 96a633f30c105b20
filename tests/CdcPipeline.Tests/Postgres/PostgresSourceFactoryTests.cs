using CdcPipeline.Core.Configuration;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Postgres;

/// <summary><c>source.postgres</c> binds strictly from YAML; defaults are the documented ones.</summary>
public sealed class PostgresSourceFactoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-source-config-").FullName;

    private PostgresSourceOptions Bind(string sourceYaml)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, "name: legacy\nsource:\n  postgres:\n" + string.Join('\n', sourceYaml.Split('\n').Select(l => "    " + l)) + "\nsinks:\n  - name: f\n    file: { path: out.jsonl }\n");
        var configuration = PipelineConfiguration.Load(path, _ => null);
        using var services = new ServiceCollection().AddCdcCore().AddCdcPostgres().BuildServiceProvider();
        var section = configuration.Root.GetSection("source:postgres");
        return PostgresSourceFactory.ToOptions(new PipelineComponentContext("source", section, configuration.Options, configuration.Locations, configuration.BaseDirectory, services));
    }

    [Fact]
    public void Defaults_stream_large_transactions_and_name_the_server_after_the_pipeline()
    {
        var options = Bind("connectionString: 'Host=127.0.0.1;Database=legacy'\npublication: cdc_pub\nslot: cdc_slot");

        Assert.True(options.Streaming);
        Assert.Equal(50_000, options.MaxStreamedTransactionChanges);
        Assert.Equal(SnapshotMode.Initial, options.Snapshot);
        Assert.Equal("legacy", options.Name);
        Assert.Equal(TimeSpan.FromSeconds(10), options.HeartbeatInterval);
    }

    [Fact]
    public void Every_documented_key_binds()
    {
        var options = Bind("""
            connectionString: 'Host=127.0.0.1;Database=legacy'
            publication: cdc_pub
            slot: cdc_slot
            tables: [public.tb_ord_mst]
            snapshot: never
            streaming: false
            maxStreamedTransactionChanges: 1000
            heartbeatInterval: '00:00:05'
            signalTable: cdc.cdc_signal
            reselectToastTables: [public.tb_ord_mst]
            stateDirectory: state
            """);

        Assert.False(options.Streaming);
        Assert.Equal(1000, options.MaxStreamedTransactionChanges);
        Assert.Equal(SnapshotMode.Never, options.Snapshot);
        Assert.Equal(["public.tb_ord_mst"], options.Tables);
        Assert.Equal(TimeSpan.FromSeconds(5), options.HeartbeatInterval);
        Assert.Equal("cdc.cdc_signal", options.SignalTable);
        Assert.Equal(Path.Combine(_dir, "state"), options.StateDirectory);
    }

    [Theory]
    [InlineData("streaming: sometimes", "pipeline.yaml:7: source.postgres.streaming: 'sometimes' is not a valid Boolean")]
    [InlineData("streamin: true", "unknown key 'streamin'")]
    [InlineData("tables: [tb_ord_mst]", "'tb_ord_mst' is not schema.table")]
    [InlineData("slots: x", "slots")]
    [InlineData("maxStreamedTransactionChanges: -1", "maxStreamedTransactionChanges")]
    // DataAnnotations' own text: "The field MaxReconnectAttempts must be between 0 and 2147483647."
    [InlineData("maxReconnectAttempts: -1", "pipeline.yaml:7: source.postgres.maxReconnectAttempts: must be 0 or more, not -1")]
    [InlineData("snapshotChunkSize: 0", "pipeline.yaml:7: source.postgres.snapshotChunkSize: must be from 1 to 10000000, not 0")]
    public void A_mistake_names_the_key(string extra, string expected)
    {
        var e = Assert.Throws<ConfigurationException>(() => Bind("connectionString: 'Host=127.0.0.1;Database=legacy'\npublication: cdc_pub\nslot: cdc_slot\n" + extra));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("pipeline.yaml:", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
