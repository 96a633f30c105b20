using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka;
using CdcPipeline.Postgres.Configuration;
using CdcPipeline.Sinks.Batch;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Configuration;

/// <summary>
/// With <c>source.kafka.debezium</c> (or <c>source.postgres.tables</c>), the table list is what is captured: a rule file for a table outside it
/// (a typo, a table never added) would load and never run, and its events would be missing without a word.
/// </summary>
public sealed class RuleTablesCapturedTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cdc-rule-tables-");

    private sealed class RulesFromDirectory : ITranslatorProvider
    {
        public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory) => Translators.Create(rulesDirectory, pipeline.Name);
    }

    private string Write(string tables, params (string File, string Table)[] rules) => WriteWith($"""
        kafka:
            bootstrapServers: "127.0.0.1:1"
            debezium:
              topicPrefix: legacy
              tables: {tables}
        """, rules);

    private string WriteWith(string source, params (string File, string Table)[] rules)
    {
        var rulesDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "rules"));
        foreach (var (file, table) in rules)
        {
            File.WriteAllText(Path.Combine(rulesDir.FullName, file), $"table: {table}\nevents:\n  - type: Touched\n");
        }

        var path = Path.Combine(_dir.FullName, "pipeline.yaml");
        File.WriteAllText(path, $"""
            name: legacy-orders
            rules: rules
            source:
              {source.Replace("\n", "\n  ", StringComparison.Ordinal)}
            sinks:
              - name: screen
                console: {"{}"}
            """);
        return path;
    }

    private static ServiceProvider Services() => new ServiceCollection()
        .AddCdcCore()
        .AddCdcKafka()
        .AddCdcPostgres()
        .AddSingleton<ITranslatorProvider, RulesFromDirectory>()
        .BuildServiceProvider();

    [Fact]
    public void A_rule_file_for_a_table_the_connector_does_not_capture_stops_start_up_naming_both()
    {
        var path = Write("[public.tb_ord_mst, public.tb_cust_mst]", ("orders.yaml", "public.tb_ord_mst"), ("customers.yaml", "public.tb_cust_mstr"));
        using var services = Services();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Contains("pipeline.yaml:8: source.kafka.debezium.tables", error.Message, StringComparison.Ordinal);
        Assert.Contains("customers.yaml", error.Message, StringComparison.Ordinal);
        Assert.Contains("public.tb_cust_mstr", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("orders.yaml", error.Message.Replace("customers.yaml", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void A_rule_file_naming_a_lower_case_listed_table_in_capitals_stops_start_up_with_the_name_to_write()
    {
        // The entry all in lower case is the table as stored: its changes say tb_ord_mst, and a rule file for TB_ORD_MST
        // would fail every one of them.
        var path = Write("[public.tb_ord_mst]", ("orders.yaml", "PUBLIC.TB_ORD_MST"));
        using var services = Services();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Contains("write 'table: public.tb_ord_mst' in the rule file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rule_files_for_listed_tables_and_bare_names_build_with_a_list_in_capitals_matching_any_case()
    {
        // Debezium matches its list case-insensitively, so PUBLIC.TB_ORD_MST may stand for public.tb_ord_mst; a bare name
        // in either place means schema public.
        var path = Write("[PUBLIC.TB_ORD_MST, tb_cust_mst]", ("orders.yaml", "public.tb_ord_mst"), ("customers.yaml", "tb_cust_mst"));
        using var services = Services();

        await using var pipeline = PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services);

        Assert.Single(pipeline.Sinks);
    }

    [Fact]
    public void The_embedded_source_with_a_table_list_refuses_a_rule_file_for_a_table_it_passes_over()
    {
        // source.postgres passes on only the changes of the tables it lists (exactly as PostgreSQL stores them).
        var path = WriteWith("""
            postgres:
                connectionString: "Host=127.0.0.1;Port=1;Database=legacy"
                publication: cdc_pub
                slot: cdc_slot
                tables: [public.tb_ord_mst]
            """, ("orders.yaml", "public.tb_ord_mst"), ("customers.yaml", "public.tb_cust_mst"));
        using var services = Services();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Contains("source.postgres.tables", error.Message, StringComparison.Ordinal);
        Assert.Contains("customers.yaml is for public.tb_cust_mst", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refused_embedded_source_is_refused_before_any_sink_is_built()
    {
        // A batch sink takes (and creates) its spool as it is built: a start the source refuses must not have done that.
        var rulesDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "rules"));
        File.WriteAllText(Path.Combine(rulesDir.FullName, "customers.yaml"), "table: public.tb_cust_mst\nevents:\n  - type: Touched\n");
        var path = Path.Combine(_dir.FullName, "pipeline.yaml");
        File.WriteAllText(path, """
            name: legacy-orders
            rules: rules
            source:
              postgres:
                connectionString: "Host=127.0.0.1;Port=1;Database=legacy"
                publication: cdc_pub
                slot: cdc_slot
                tables: [public.tb_ord_mst]
            sinks:
              - name: files
                batch: { spool: out/spool, target: { directory: out/outgoing } }
            """);
        using var services = new ServiceCollection().AddCdcCore().AddCdcPostgres().AddCdcBatch().AddSingleton<ITranslatorProvider, RulesFromDirectory>().BuildServiceProvider();

        var error = Assert.Throws<ConfigurationException>(() => PipelineBuilder.Build(PipelineConfiguration.Load(path, _ => null), services));

        Assert.Contains("customers.yaml is for public.tb_cust_mst", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "out")), "the batch sink's spool was created for a refused start");
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
