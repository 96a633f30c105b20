using CdcPipeline.Core.Configuration;

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

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
