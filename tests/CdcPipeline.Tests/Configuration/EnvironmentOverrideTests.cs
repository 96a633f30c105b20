using CdcPipeline.Core.Configuration;
using CdcPipeline.Postgres;
using CdcPipeline.Postgres.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Configuration;

/// <summary>Sets real CDC__ variables, which every configuration loaded meanwhile in this process would see: runs alone.</summary>
[CollectionDefinition(nameof(EnvironmentOverrideTests), DisableParallelization = true)]
public sealed class EnvironmentOverrideCollection;

[Collection(nameof(EnvironmentOverrideTests))]
public sealed class EnvironmentOverrideTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-envconfig-").FullName;

    [Fact]
    public void A_bad_value_from_a_CDC_variable_names_the_variable_not_the_file_line_it_overrides()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, "name: x\nsource:\n  test: {}\nrunner:\n  bufferCapacity: 10\n");
        Environment.SetEnvironmentVariable("CDC__runner__bufferCapacity", "lots");
        try
        {
            var error = Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(path));

            // The file's line 5 holds a good value: pointing there sends the operator to the wrong place.
            Assert.DoesNotContain("pipeline.yaml", error.Message, StringComparison.Ordinal);
            Assert.Contains("environment variable CDC__runner__bufferCapacity", error.Message, StringComparison.Ordinal);
            Assert.Contains("'lots' is not a valid Int32", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CDC__runner__bufferCapacity", null);
        }
    }

    [Fact]
    public void CDC_variables_override_nested_keys_and_list_items()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: x
            source:
              postgres:
                connectionString: 'Host=127.0.0.1;Database=legacy'
                publication: cdc_pub
                slot: cdc_slot
                tables: [public.tb_a]
            sinks:
              - name: audit
                file: { path: out/a.jsonl }
            """);
        var variables = new Dictionary<string, string>
        {
            ["CDC__source__postgres__slot"] = "slot_from_env",
            ["CDC__source__postgres__tables__0"] = "public.tb_b",
            ["CDC__source__postgres__tables__1"] = "public.tb_c",
            ["CDC__sinks__0__file__path"] = "out/b.jsonl",
        };

        var (configuration, options) = WithVariables(variables, () => LoadPostgres(path));

        Assert.Equal("slot_from_env", options.Slot);
        Assert.Equal("cdc_pub", options.Publication);
        Assert.Equal(["public.tb_b", "public.tb_c"], options.Tables);
        Assert.Equal("out/b.jsonl", configuration.Root["sinks:0:file:path"]);
    }

    [Fact]
    public void CDC_variables_in_upper_case_override_the_keys_they_name()
    {
        // Environment variables are by custom upper case, and configuration keys ignore case: CDC__SOURCE__POSTGRES__SLOT is
        // source.postgres.slot, not an unknown key 'SOURCE' beside 'source'.
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: x
            source:
              postgres:
                connectionString: 'Host=127.0.0.1;Database=legacy'
                publication: cdc_pub
                slot: cdc_slot
            runner:
              bufferCapacity: 10
            sinks:
              - name: audit
                file: { path: out/a.jsonl }
            """);
        var variables = new Dictionary<string, string>
        {
            ["CDC__SOURCE__POSTGRES__SLOT"] = "slot_from_env",
            ["CDC__RUNNER__BUFFERCAPACITY"] = "7",
            ["CDC__RULES"] = "rules",
        };

        var (configuration, options) = WithVariables(variables, () => LoadPostgres(path));

        Assert.Equal("slot_from_env", options.Slot);
        Assert.Equal(7, configuration.Options.Runner.BufferCapacity);
        Assert.Equal("rules", configuration.Options.Rules);
    }

    [Fact]
    public void A_key_a_CDC_variable_sets_does_not_need_the_variable_its_file_value_names()
    {
        // The design's own example writes secret: "${BILLING_HOOK_SECRET}"; a deployment that sets the key itself
        // (CDC__sinks__0__webhook__secret from its secret store) was refused: "environment variable 'BILLING_HOOK_SECRET' is not set".
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: x
            source:
              test: {}
            sinks:
              - name: billing-hook
                webhook: { url: "https://billing.example/hooks/cdc", secret: "${CDC_TEST_NEVER_SET_HOOK_SECRET}" }
            """);

        var configuration = WithVariables(new() { ["CDC__sinks__0__webhook__secret"] = "from-env" }, () => PipelineConfiguration.Load(path));

        Assert.Equal("from-env", configuration.Root["sinks:0:webhook:secret"]);
        var unset = Assert.Throws<ConfigurationException>(() => PipelineConfiguration.Load(path));
        Assert.Contains("sinks.0.webhook.secret: environment variable 'CDC_TEST_NEVER_SET_HOOK_SECRET' is not set", unset.Message, StringComparison.Ordinal);
    }

    private static T WithVariables<T>(Dictionary<string, string> variables, Func<T> load)
    {
        foreach (var (name, value) in variables)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        try
        {
            return load();
        }
        finally
        {
            foreach (var name in variables.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    private static (PipelineConfiguration Configuration, PostgresSourceOptions Options) LoadPostgres(string path)
    {
        var configuration = PipelineConfiguration.Load(path);
        using var services = new ServiceCollection().AddCdcCore().AddCdcPostgres().BuildServiceProvider();
        var section = configuration.Root.GetSection("source:postgres");
        return (configuration, PostgresSourceFactory.ToOptions(
            new PipelineComponentContext("source", section, configuration.Options, configuration.Locations, configuration.BaseDirectory, services)));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
